"""The arcs table (one row per arc, :data:`~infotrafic.ARC_COLUMNS`) from any file's metadata.

Metadata drifts between export vintages; every spelling seen is accepted:

* ``geo_point_2d``: ``"lat, lon"``, ``[lat, lon]`` (v1 JSON), ``{"lon": .., "lat": ..}`` (v2.1
  JSON), or a latitude alone followed by an unnamed longitude column (a re-saved CSV that split
  ``"lat, lon"`` in two).
* ``geo_shape``: a GeoJSON ``Feature`` or a bare geometry, as an object or a JSON string; stored
  as the bare geometry's compact JSON string.
* ``date_debut`` / ``date_fin``: ``2005-01-01``, ``20/01/1997``, ISO with a time and offset (the
  local date as written is kept), or a spreadsheet serial (days since 1899-12-30).

When several rows describe the same arc, the last non-empty value of each field in reading order
wins (later vintages override earlier ones).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas._libs.tslibs.nattype import NaTType

from infotrafic._schema import ARC_COLUMNS

__all__ = ["build_arcs", "empty_arcs", "merge_arcs", "parse_date", "parse_geo_point"]

ARC_DTYPES: dict[str, str] = {
    "arc_id": "int64",
    "name": "object",
    "upstream_node_id": "Int64",
    "upstream_node_name": "object",
    "downstream_node_id": "Int64",
    "downstream_node_name": "object",
    "lat": "float64",
    "lon": "float64",
    "geometry": "object",
    "valid_from": "datetime64[ns]",
    "valid_to": "datetime64[ns]",
}

_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"^\s*\[?\s*({_NUM})\s*[,;]\s*({_NUM})\s*\]?\s*$")
_SERIAL_EPOCH = pd.Timestamp("1899-12-30")


def empty_arcs() -> pd.DataFrame:
    """Return an empty arcs table with the columns of :data:`~infotrafic.ARC_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        Zero rows.

    Examples
    --------
    >>> empty_arcs().columns.tolist()[:3]
    ['arc_id', 'name', 'upstream_node_id']
    """
    return pd.DataFrame({c: pd.Series(dtype=ARC_DTYPES[c]) for c in ARC_COLUMNS})


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in ("", "nan", "None", "null")


def parse_geo_point(value: object, lon: object = None) -> tuple[float, float]:
    """Return ``(lat, lon)`` from any spelling of ``geo_point_2d`` (NaN when unreadable).

    Parameters
    ----------
    value : object
        ``"lat, lon"``, ``[lat, lon]``, ``{"lon": .., "lat": ..}`` (object or JSON string), or a
        latitude alone.
    lon : object, optional
        The longitude, when a re-save split the point into two columns.

    Returns
    -------
    tuple of float
        Latitude and longitude in degrees.

    Examples
    --------
    >>> parse_geo_point("48.87, 2.30"), parse_geo_point([48.87, 2.30])
    ((48.87, 2.3), (48.87, 2.3))
    >>> parse_geo_point({"lon": 2.30, "lat": 48.87}), parse_geo_point(48.87, 2.30)
    ((48.87, 2.3), (48.87, 2.3))
    """
    nan = (math.nan, math.nan)
    if _missing(value):
        return nan
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                return nan
        else:
            match = _PAIR.match(text)
            if match:
                return float(match.group(1)), float(match.group(2))
            try:
                value = float(text)
            except ValueError:
                return nan
    if isinstance(value, dict):
        try:
            return float(value["lat"]), float(value["lon"])
        except (KeyError, TypeError, ValueError):
            return nan
    if isinstance(value, (list, tuple)) and len(value) == 2:
        try:
            return float(value[0]), float(value[1])
        except (TypeError, ValueError):
            return nan
    if isinstance(value, (int, float, np.floating, np.integer)) and not _missing(lon):
        try:
            return float(value), float(str(lon))
        except ValueError:
            return nan
    return nan


def _geometry(value: object) -> object:
    if _missing(value):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict):
        if value.get("type") == "Feature":
            value = value.get("geometry")
        if isinstance(value, dict) and "type" in value:
            return json.dumps(value, separators=(",", ":"))
    return None


def parse_date(value: object) -> pd.Timestamp | NaTType:
    """Return the date of a ``date_debut``/``date_fin`` value in any spelling (NaT if unreadable).

    Parameters
    ----------
    value : object
        ``"2005-01-01"``, ``"20/01/1997"``, ``"2005-01-01T02:00:00+01:00"`` or a spreadsheet
        serial such as ``37708.0``.

    Returns
    -------
    pandas.Timestamp or NaT
        A naive date at midnight, or NaT.

    Examples
    --------
    >>> [str(parse_date(v).date()) for v in ["2005-01-01", "20/01/1997", 37708.0]]
    ['2005-01-01', '1997-01-20', '2003-03-28']
    """
    if _missing(value):
        return pd.NaT
    text = str(value).strip()
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}", text):
            return pd.Timestamp(text[:10])
        if re.match(r"^\d{1,2}/\d{1,2}/\d{4}", text):
            day, month, year = text.split(" ")[0].split("/")
            return pd.Timestamp(int(year), int(month), int(day))
        days = float(text)
    except ValueError:
        return pd.NaT
    if 1 <= days < 2_958_466:
        return _SERIAL_EPOCH + pd.Timedelta(days=math.floor(days))
    return pd.NaT


def _node(value: object) -> object:
    if _missing(value):
        return pd.NA
    try:
        number = float(str(value).strip())
    except ValueError:
        return pd.NA
    return int(number) if number == int(number) else pd.NA


def _text(value: object) -> object:
    return None if _missing(value) else str(value).strip()


def build_arcs(meta: pd.DataFrame) -> pd.DataFrame:
    """Build the arcs table from raw metadata rows (``arc_id`` plus raw metadata fields).

    Parameters
    ----------
    meta : pandas.DataFrame
        Column ``arc_id`` (int) and any of ``libelle``, ``iu_nd_amont``, ``libelle_nd_amont``,
        ``iu_nd_aval``, ``libelle_nd_aval``, ``geo_point_2d``, ``geo_shape``, ``date_debut``,
        ``date_fin``; rows in reading order.

    Returns
    -------
    pandas.DataFrame
        One row per arc, columns :data:`~infotrafic.ARC_COLUMNS`, sorted by ``arc_id``.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"arc_id": [4264], "libelle": ["AV_Champs_Elysees"],
    ...                   "geo_point_2d": ["48.87, 2.30"], "date_debut": ["2005-01-01"]})
    >>> row = build_arcs(m).iloc[0]
    >>> row["arc_id"], row["name"], row["lat"], str(row["valid_from"].date())
    (np.int64(4264), 'AV_Champs_Elysees', np.float64(48.87), '2005-01-01')
    """
    if meta.empty:
        return empty_arcs()
    ids = meta["arc_id"].to_numpy(dtype="int64")
    if len(ids) > 1 and not pd.Index(ids).is_unique:
        last = meta.groupby("arc_id", sort=True).last()
        ids = last.index.to_numpy(dtype="int64")
        columns = {c: last[c].to_numpy(dtype=object) for c in last.columns}
    else:
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        columns = {c: meta[c].to_numpy(dtype=object)[order] for c in meta.columns if c != "arc_id"}
    empty = np.full(len(ids), None, dtype=object)

    def col(name: str) -> list[object]:
        return list(columns.get(name, empty))

    points = [
        parse_geo_point(v, lo) for v, lo in zip(col("geo_point_2d"), col("_geo_lon"), strict=True)
    ]

    def dates(name: str) -> np.ndarray:
        stamps = [parse_date(v) for v in col(name)]
        return np.array(
            [np.datetime64("NaT") if s is pd.NaT else s.to_datetime64() for s in stamps],
            dtype="datetime64[ns]",
        )

    def nodes(name: str) -> pd.arrays.IntegerArray:
        found = [_node(v) for v in col(name)]
        mask = np.array([v is pd.NA for v in found], dtype=bool)
        values = np.array([0 if v is pd.NA else v for v in found], dtype="int64")
        return pd.arrays.IntegerArray(values, mask)

    def texts(name: str) -> np.ndarray:
        return np.array([_text(v) for v in col(name)], dtype=object)

    return pd.DataFrame(
        {
            "arc_id": ids,
            "name": texts("libelle"),
            "upstream_node_id": nodes("iu_nd_amont"),
            "upstream_node_name": texts("libelle_nd_amont"),
            "downstream_node_id": nodes("iu_nd_aval"),
            "downstream_node_name": texts("libelle_nd_aval"),
            "lat": np.array([p[0] for p in points], dtype="float64"),
            "lon": np.array([p[1] for p in points], dtype="float64"),
            "geometry": np.array([_geometry(v) for v in col("geo_shape")], dtype=object),
            "valid_from": dates("date_debut"),
            "valid_to": dates("date_fin"),
        }
    )


def merge_arcs(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Merge arcs tables: for each arc the last non-missing value of each column wins.

    Parameters
    ----------
    tables : sequence of pandas.DataFrame
        Arcs tables in reading order.

    Returns
    -------
    pandas.DataFrame
        One row per arc, sorted by ``arc_id``.

    Examples
    --------
    >>> import pandas as pd
    >>> a = empty_arcs()
    >>> merge_arcs([a, a]).empty
    True
    """
    frames = [t for t in tables if not t.empty]
    if not frames:
        return empty_arcs()
    if len(frames) == 1:
        return frames[0].sort_values("arc_id").reset_index(drop=True)
    merged = pd.concat(frames, ignore_index=True).groupby("arc_id", sort=True).last()
    merged = merged.reset_index()
    return merged[list(ARC_COLUMNS)].astype(ARC_DTYPES).reset_index(drop=True)
