"""Render a canonical panel (plus arcs table) in the portal's shapes: records and exports.

This module is the test server's **independent oracle** of the portal: it writes the field names,
labels, types and state labels below literally, and renders every format its own way, importing
nothing of the client's or the ETL's parsing (:mod:`infotrafic._fields`, the format registry,
``opendata``). That second copy of the vocabulary is intended: a bug shared by the reader and the
renderer would otherwise pass every test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from infotrafic._schema import empty_panel, validate_panel

__all__ = [
    "FIELDS",
    "LABELS",
    "Served",
    "build_table",
    "canonical",
    "iter_csv",
    "iter_json",
    "iter_jsonl",
    "parquet_bytes",
    "rows",
]

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

#: Labels of the fields (as the portal's metadata and labelled exports give them).
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

#: How the portal writes the state codes (``etat_trafic``, ``etat_barre``).
TRAFFIC_LABELS: dict[int, str] = {
    0: "Inconnu",
    1: "Fluide",
    2: "Pré-saturé",
    3: "Saturé",
    4: "Bloqué",
}
CLOSURE_LABELS: dict[int, str] = {0: "Inconnu", 1: "Ouvert", 2: "Barré", 3: "Invalide"}


def canonical(panel: pd.DataFrame) -> pd.DataFrame:
    """Validate a panel; an empty frame gives a typed empty panel."""
    return empty_panel() if panel.empty else validate_panel(panel)


def _text_id(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return str(value)


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _date(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        return str(pd.Timestamp(value).date())
    except (TypeError, ValueError):
        return str(value)


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


@dataclass(frozen=True)
class Served:
    """What the server serves: a narrow table of records and the attributes of their arcs.

    ``table`` has ``arc_id``, ``_arc`` (row of ``attrs``), ``iu_ac``, ``t_1h`` (UTC), ``q``,
    ``k``, ``etat_trafic``, ``etat_barre``, sorted by ``(t_1h, arc_id)``; ``attrs`` has one row
    per arc with the other fields, already rendered for JSON and CSV.
    """

    table: pd.DataFrame
    attrs: pd.DataFrame


def build_table(panel: pd.DataFrame, arcs: pd.DataFrame | None) -> Served:
    """Join panel and arcs into what the server serves (see :class:`Served`).

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel (validated here).
    arcs : pandas.DataFrame, optional
        Arcs table (:data:`infotrafic.ARC_COLUMNS`); missing attributes stay null.

    Returns
    -------
    Served
        The record table and the per-arc attributes.
    """
    p = canonical(panel)
    ids = np.unique(p["arc_id"].to_numpy())
    by_arc: dict[int, dict[Any, Any]] = {}
    if arcs is not None and len(arcs):
        for row in arcs.drop_duplicates("arc_id", keep="last").to_dict("records"):
            by_arc[int(row["arc_id"])] = row
    records = []
    for arc in ids:
        row = by_arc.get(int(arc), {})
        lat, lon = _number(row.get("lat")), _number(row.get("lon"))
        has_point = not (np.isnan(lat) or np.isnan(lon))
        shape = _geometry(row.get("geometry"))
        records.append(
            {
                "libelle": _text(row.get("name")),
                "iu_nd_amont": _text_id(row.get("upstream_node_id")),
                "libelle_nd_amont": _text(row.get("upstream_node_name")),
                "iu_nd_aval": _text_id(row.get("downstream_node_id")),
                "libelle_nd_aval": _text(row.get("downstream_node_name")),
                "date_debut": _date(row.get("valid_from")),
                "date_fin": _date(row.get("valid_to")),
                "geo_point_2d": {"lon": float(lon), "lat": float(lat)} if has_point else None,
                "geo_shape": (
                    None
                    if shape is None
                    else {"type": "Feature", "geometry": shape, "properties": {}}
                ),
                "_geo_point_csv": f"{float(lat)!r}, {float(lon)!r}" if has_point else None,
                "_geo_shape_csv": None if shape is None else json.dumps(shape),
            }
        )
    attrs = pd.DataFrame.from_records(records, index=ids) if records else pd.DataFrame()
    table = pd.DataFrame(
        {
            "arc_id": p["arc_id"].to_numpy(),
            "_arc": np.searchsorted(ids, p["arc_id"].to_numpy()),
            "iu_ac": p["arc_id"].astype(str).to_numpy(),
            "t_1h": p["time"],
            "q": p["flow"].to_numpy(),
            "k": p["occupancy"].to_numpy(),
            "etat_trafic": p["traffic_state"].map(TRAFFIC_LABELS, na_action="ignore"),
            "etat_barre": p["closure_state"].map(CLOSURE_LABELS, na_action="ignore"),
        }
    )
    table = table.sort_values(["t_1h", "arc_id"], kind="stable").reset_index(drop=True)
    return Served(table, attrs.reset_index(drop=True))


def _iso(times: pd.Series, tz: str) -> np.ndarray[Any, Any]:
    """Render UTC times as ISO 8601 with the offset of ``tz`` (``2023-02-01T23:00:00+01:00``)."""
    utc = times.dt.tz_localize(None).to_numpy("datetime64[s]")
    if tz == "UTC":
        local = utc
    else:
        local = times.dt.tz_convert(tz).dt.tz_localize(None).to_numpy("datetime64[s]")
    minutes = ((local - utc).astype("timedelta64[m]")).astype(np.int64)
    unique, inverse = np.unique(minutes, return_inverse=True)
    suffix = np.array(
        [f"{'-' if m < 0 else '+'}{abs(int(m)) // 60:02d}:{abs(int(m)) % 60:02d}" for m in unique],
        dtype="U6",
    )
    text: np.ndarray[Any, Any] = np.char.add(
        np.datetime_as_string(local, unit="s"), suffix[inverse.ravel()]
    )
    return text


def _nulls(values: pd.Series) -> list[Any]:
    return [None if v is None or v is pd.NA or v != v else v for v in values.tolist()]


def rows(
    served: Served, table: pd.DataFrame, select: Sequence[str], tz: str
) -> list[dict[str, Any]]:
    """Render table rows as v2.1 flat records (string ids, nulls, ``{"lon", "lat"}``, Features).

    Parameters
    ----------
    served : Served
        What the server serves (for the arcs' attributes).
    table : pandas.DataFrame
        Rows of ``served.table``.
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
    arc_rows = table["_arc"].to_numpy()
    for name in select:
        if name == "t_1h":
            columns[name] = _iso(table["t_1h"], tz).tolist()
        elif name in table.columns:
            columns[name] = _nulls(table[name])
        elif len(served.attrs):
            columns[name] = served.attrs[name].to_numpy()[arc_rows].tolist()
        else:
            columns[name] = [None] * len(table)
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


def iter_jsonl(
    served: Served, table: pd.DataFrame, select: Sequence[str], tz: str, chunk: int = 20_000
) -> Iterator[bytes]:
    """Stream a JSON-lines export (one flat record per line)."""
    for i in range(0, len(table), chunk):
        part = rows(served, table.iloc[i : i + chunk], select, tz)
        yield "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part).encode()


def iter_json(
    served: Served, table: pd.DataFrame, select: Sequence[str], tz: str, chunk: int = 20_000
) -> Iterator[bytes]:
    """Stream a JSON export (one array of flat records)."""
    yield b"["
    for i in range(0, len(table), chunk):
        part = rows(served, table.iloc[i : i + chunk], select, tz)
        text = ", ".join(json.dumps(r, ensure_ascii=False) for r in part)
        yield ((", " if i else "") + text).encode()
    yield b"]"


def _csv_frame(served: Served, table: pd.DataFrame, select: Sequence[str], tz: str) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    arc_rows = table["_arc"].to_numpy()
    for name in select:
        if name == "t_1h":
            out[name] = _iso(table["t_1h"], tz)
        elif name in table.columns:
            out[name] = table[name]
        elif len(served.attrs):
            source = {"geo_point_2d": "_geo_point_csv", "geo_shape": "_geo_shape_csv"}.get(
                name, name
            )
            out[name] = served.attrs[source].to_numpy()[arc_rows]
        else:
            out[name] = None
    return out


def iter_csv(
    served: Served,
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
    served : Served
        What the server serves.
    table : pandas.DataFrame
        Rows of ``served.table``.
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
        frame = _csv_frame(served, table.iloc[i : i + chunk], select, tz)
        yield frame.to_csv(sep=delimiter, header=False, index=False, lineterminator="\r\n").encode()


def parquet_bytes(served: Served, table: pd.DataFrame, select: Sequence[str], tz: str) -> bytes:
    """Render a parquet export (``t_1h`` as a timestamp in ``tz``, geo fields as JSON text)."""
    frame = _csv_frame(served, table, [s for s in select if s != "t_1h"], tz)
    if "t_1h" in select:
        frame.insert(list(select).index("t_1h"), "t_1h", table["t_1h"].dt.tz_convert(tz))
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()
