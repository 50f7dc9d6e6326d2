"""JSON answers of the portal -> raw chunks.

Accepted shapes (detected from the content, gzip or not):

* Explore API v2.1 ``/records``: the whole ``{"total_count", "results": [...]}`` envelope or the
  bare ``results`` list of flat records (ids as strings, ``null`` values);
* v2.1 ``/exports/json`` (a list of flat records) and ``/exports/jsonl`` (one record per line);
* v1 ``/api/records/1.0/search``: ``{"nhits", "parameters", "records": [{"fields": {...}}]}``,
  null fields omitted; also a bare list of such ``records``;
* v2.0 ``{"records": [{"record": {"fields": {...}}}]}``.

The "line" of a rejected record is its 1-based position in the record list (its line number for
JSONL).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._fields import describe_columns, map_columns
from infotrafic.exceptions import FileFormatError

__all__ = ["json_to_raw"]


def _records_of(doc: Any, name: str) -> tuple[list[Any], str]:
    if isinstance(doc, dict):
        if isinstance(doc.get("results"), list):
            return doc["results"], "json:v2.1-records"
        if isinstance(doc.get("records"), list):
            return doc["records"], "json:v1-search"
        keys = ", ".join(repr(k) for k in list(doc)[:12])
        raise FileFormatError(
            "JSON object without a 'results' (Explore API v2.1) or 'records' (API v1) list; "
            f"keys found: {keys}",
            file=name,
        )
    if isinstance(doc, list):
        return doc, "json:list"
    raise FileFormatError(
        f"JSON document is a {type(doc).__name__}, expected an object or a list of records",
        file=name,
    )


def _flatten(record: Any) -> Any:
    if isinstance(record, dict):
        if isinstance(record.get("record"), dict):
            record = record["record"]
        if isinstance(record.get("fields"), dict):
            return record["fields"]
    return record


def _stringify(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


def _plain(values: pd.Series) -> pd.Series:
    """Nested values as compact JSON text (only text columns can hold them)."""
    return values.map(_stringify) if values.dtype == object else values


def json_to_raw(
    text: str, name: str, *, lines: bool = False, require_time: bool = True
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Parse a JSON or JSONL document into a raw frame (raw field names) and record numbers.

    Parameters
    ----------
    text : str
        The decoded document.
    name : str
        The file name, for error messages.
    lines : bool, default False
        JSON Lines (one record per line).
    require_time : bool, default True
        Require the time and flow-or-occupancy fields.

    Returns
    -------
    tuple
        The raw frame, the 1-based record (or line) numbers, and the regime name.

    Raises
    ------
    FileFormatError
        When the document is not JSON or has no record with the required fields.

    Examples
    --------
    >>> raw, n, regime = json_to_raw('{"results": [{"iu_ac": "1", "t_1h": '
    ...     '"2024-01-01T01:00:00+01:00", "q": null}]}', "x.json")
    >>> regime, raw.columns.tolist(), n.tolist()
    ('json:v2.1-records', ['iu_ac', 't_1h', 'q'], [1])
    """
    numbers: list[int] = []
    records: list[Any] = []
    if lines:
        regime = "jsonl"
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise FileFormatError(
                    f"invalid JSON on this line ({exc})", file=name, line=i
                ) from exc
            numbers.append(i)
    else:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise FileFormatError(f"invalid JSON ({exc})", file=name) from exc
        records, regime = _records_of(doc, name)
        numbers = list(range(1, len(records) + 1))
    flat = [_flatten(r) for r in records]
    if flat and not all(isinstance(r, dict) for r in flat):
        bad = next(i for i, r in enumerate(flat) if not isinstance(r, dict))
        raise FileFormatError(
            f"record {bad + 1} is a {type(flat[bad]).__name__}, expected a JSON object",
            file=name,
            line=numbers[bad],
        )
    frame = pd.DataFrame.from_records(flat) if flat else pd.DataFrame()
    positions = map_columns(list(frame.columns))
    required = ("iu_ac", "t_1h") if require_time else ("iu_ac",)
    missing = [f for f in required if f not in positions]
    if require_time and not missing and "q" not in positions and "k" not in positions:
        missing = ["q"]
    if missing and flat:
        raise FileFormatError(
            f"records lack field(s) {missing}; fields found: {describe_columns(frame.columns)}",
            file=name,
            field=missing[0],
        )
    positions.pop("_geo_lon", None)
    out = pd.DataFrame({field: _plain(frame.iloc[:, pos]) for field, pos in positions.items()})
    if not flat:
        out = pd.DataFrame({f: pd.Series(dtype=object) for f in ("iu_ac", "t_1h", "q", "k")})
    for col in ("q", "k"):
        if col in out.columns and out[col].dtype == object:
            out[col] = out[col].where(out[col].notna(), np.nan)
    return out, np.asarray(numbers, dtype="int64"), regime
