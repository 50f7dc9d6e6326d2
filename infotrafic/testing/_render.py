"""Render a canonical panel (plus arcs table) in the portal's shapes: records and exports."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from infotrafic._schema import CLOSURE_STATES, TRAFFIC_STATES, validate_panel

__all__ = ["FIELDS", "build_table", "iter_csv", "iter_json", "iter_jsonl", "parquet_bytes", "rows"]

#: Fields of ``comptages-routiers-permanents`` in the portal's order, with their ODSQL types.
FIELDS: dict[str, str] = {
    "iu_ac": "text",
    "libelle": "text",
    "t_1h": "datetime",
    "q": "double",
    "k": "double",
    "etat_trafic": "text",
    "iu_nd_amont": "text",
    "libelle_nd_amont": "text",
    "iu_nd_aval": "text",
    "libelle_nd_aval": "text",
    "etat_barre": "text",
    "date_debut": "date",
    "date_fin": "date",
    "geo_point_2d": "geo_point_2d",
    "geo_shape": "geo_shape",
}

#: Labels of the fields (as the portal's metadata gives them).
LABELS: dict[str, str] = {
    "iu_ac": "Identifiant arc",
    "libelle": "Libelle",
    "t_1h": "Date et heure de comptage",
    "q": "Débit horaire",
    "k": "Taux d'occupation",
    "etat_trafic": "Etat trafic",
    "iu_nd_amont": "Identifiant noeud amont",
    "libelle_nd_amont": "Libelle noeud amont",
    "iu_nd_aval": "Identifiant noeud aval",
    "libelle_nd_aval": "Libelle noeud aval",
    "etat_barre": "Etat arc",
    "date_debut": "Date debut dispo data",
    "date_fin": "Date fin dispo data",
    "geo_point_2d": "geo_point_2d",
    "geo_shape": "geo_shape",
}

_ARC_MAP = {
    "name": "libelle",
    "upstream_node_id": "iu_nd_amont",
    "upstream_node_name": "libelle_nd_amont",
    "downstream_node_id": "iu_nd_aval",
    "downstream_node_name": "libelle_nd_aval",
    "valid_from": "date_debut",
    "valid_to": "date_fin",
}


def _text_id(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    out = numeric.map(lambda v: None if pd.isna(v) else str(int(v)))
    return out.where(numeric.notna(), values.where(values.notna(), None).astype(object))


def _geometry(value: Any) -> dict[str, Any] | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict):
        if value.get("type") == "Feature":
            value = value.get("geometry")
        return value if isinstance(value, dict) else None
    return None


def build_table(panel: pd.DataFrame, arcs: pd.DataFrame | None) -> pd.DataFrame:
    """Join panel and arcs into the server's table: one row per record, raw field names.

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel (validated here).
    arcs : pandas.DataFrame, optional
        Arcs table (:data:`infotrafic.ARC_COLUMNS`); missing attributes stay null.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`FIELDS` (``t_1h`` tz-aware UTC, ``geo_shape`` a geometry dict, ids text),
        sorted by ``(t_1h, iu_ac)``.
    """
    p = validate_panel(panel)
    table = pd.DataFrame(
        {
            "arc_id": p["arc_id"].to_numpy(),
            "t_1h": p["time"],
            "q": p["flow"].to_numpy(),
            "k": p["occupancy"].to_numpy(),
            "etat_trafic": p["traffic_state"].map(TRAFFIC_STATES, na_action="ignore"),
            "etat_barre": p["closure_state"].map(CLOSURE_STATES, na_action="ignore"),
        }
    )
    attrs = pd.DataFrame({"arc_id": pd.Series(dtype="int64")})
    if arcs is not None and len(arcs):
        attrs = arcs.drop_duplicates("arc_id", keep="last").copy()
        attrs["arc_id"] = attrs["arc_id"].astype("int64")
    table = table.merge(attrs, on="arc_id", how="left")
    table["iu_ac"] = table["arc_id"].astype(str)
    for src, dst in _ARC_MAP.items():
        col = table[src] if src in table else pd.Series(None, index=table.index, dtype=object)
        if dst.startswith("iu_"):
            col = _text_id(col)
        elif dst.startswith("date_"):
            col = col.map(
                lambda v: None if v is None or pd.isna(v) else str(pd.Timestamp(v).date())
            )
        table[dst] = col.astype(object).where(col.notna(), None)
    lat = table["lat"] if "lat" in table else pd.Series(np.nan, index=table.index)
    lon = table["lon"] if "lon" in table else pd.Series(np.nan, index=table.index)
    table["_lat"] = pd.to_numeric(lat, errors="coerce")
    table["_lon"] = pd.to_numeric(lon, errors="coerce")
    geometry = table["geometry"] if "geometry" in table else pd.Series(None, index=table.index)
    table["geo_shape"] = geometry.map(_geometry)
    table = table.sort_values(["t_1h", "arc_id"], kind="stable").reset_index(drop=True)
    return table[["arc_id", *[f for f in FIELDS if f != "geo_point_2d"], "_lat", "_lon"]]


def _iso(times: pd.Series, tz: str) -> pd.Series:
    text: pd.Series = times.dt.tz_convert(tz).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    out: pd.Series = text.str[:-2] + ":" + text.str[-2:]
    return out


def _clean(values: pd.Series) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values]


def rows(table: pd.DataFrame, select: Sequence[str], tz: str) -> list[dict[str, Any]]:
    """Render table rows as v2.1 flat records (string ids, nulls, ``{"lon", "lat"}``, Features).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`build_table`.
    select : sequence of str
        Fields to include, in order.
    tz : str
        Time zone of ``t_1h`` (its offset is written).

    Returns
    -------
    list of dict
        JSON-ready records.
    """
    columns: dict[str, list[Any]] = {}
    for name in select:
        if name == "t_1h":
            columns[name] = _iso(table["t_1h"], tz).tolist()
        elif name == "geo_point_2d":
            columns[name] = [
                None if np.isnan(la) or np.isnan(lo) else {"lon": float(lo), "lat": float(la)}
                for la, lo in zip(table["_lat"], table["_lon"], strict=True)
            ]
        elif name == "geo_shape":
            columns[name] = [
                None if g is None else {"type": "Feature", "geometry": g, "properties": {}}
                for g in table["geo_shape"]
            ]
        else:
            columns[name] = _clean(table[name])
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


def iter_jsonl(
    table: pd.DataFrame, select: Sequence[str], tz: str, chunk: int = 20_000
) -> Iterator[bytes]:
    """Stream a JSON-lines export (one flat record per line)."""
    for i in range(0, len(table), chunk):
        part = rows(table.iloc[i : i + chunk], select, tz)
        yield "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part).encode()


def iter_json(
    table: pd.DataFrame, select: Sequence[str], tz: str, chunk: int = 20_000
) -> Iterator[bytes]:
    """Stream a JSON export (one array of flat records)."""
    yield b"["
    for i in range(0, len(table), chunk):
        part = rows(table.iloc[i : i + chunk], select, tz)
        text = ", ".join(json.dumps(r, ensure_ascii=False) for r in part)
        yield ((", " if i else "") + text).encode()
    yield b"]"


def _csv_frame(table: pd.DataFrame, select: Sequence[str], tz: str) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    for name in select:
        if name == "t_1h":
            out[name] = _iso(table["t_1h"], tz)
        elif name == "geo_point_2d":
            text = table["_lat"].map(repr) + ", " + table["_lon"].map(repr)
            out[name] = text.where(table["_lat"].notna() & table["_lon"].notna(), None)
        elif name == "geo_shape":
            out[name] = table["geo_shape"].map(lambda g: None if g is None else json.dumps(g))
        else:
            out[name] = table[name]
    return out


def iter_csv(
    table: pd.DataFrame,
    select: Sequence[str],
    tz: str,
    *,
    delimiter: str = ";",
    with_bom: bool = True,
    use_labels: bool = False,
    chunk: int = 50_000,
) -> Iterator[bytes]:
    """Stream a CSV export as the portal writes it (``;``, BOM, raw names unless labels asked).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`build_table`.
    select : sequence of str
        Fields, in order.
    tz : str
        Time zone of ``t_1h``.
    delimiter : str, default ";"
        Field separator.
    with_bom : bool, default True
        Start with a UTF-8 byte-order mark.
    use_labels : bool, default False
        Header with the fields' labels instead of their names.
    chunk : int, default 50000
        Rows rendered at a time.

    Yields
    ------
    bytes
        Pieces of the file.
    """
    header = [LABELS.get(s, s) if use_labels else s for s in select]
    head = delimiter.join(header) + "\r\n"
    yield (("\ufeff" if with_bom else "") + head).encode()
    for i in range(0, len(table), chunk):
        frame = _csv_frame(table.iloc[i : i + chunk], select, tz)
        yield frame.to_csv(sep=delimiter, header=False, index=False, lineterminator="\r\n").encode()


def parquet_bytes(table: pd.DataFrame, select: Sequence[str], tz: str) -> bytes:
    """Render a parquet export (``t_1h`` as a timestamp in ``tz``, geo fields as JSON text)."""
    frame = _csv_frame(table, [s for s in select if s != "t_1h"], tz)
    if "t_1h" in select:
        frame.insert(list(select).index("t_1h"), "t_1h", table["t_1h"].dt.tz_convert(tz))
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()
