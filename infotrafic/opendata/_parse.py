"""Turn what the API returns (export files, record lists) into canonical panels.

An export file is read by the ETL's reader of its format, found in the format registry
(:func:`infotrafic._formats.format_named`): the same CSV, JSON, JSON Lines and Parquet readers as
:func:`infotrafic.etl.read_file`, giving frames of raw fields (``iu_ac``, ``t_1h``, ``q``, ...).
This module does not import ``etl`` (data flows ``opendata -> etl``): the registry imports the
readers on first use, by their dotted path. What differs from the ETL is only the conversion of
the values, :func:`api_frame_to_panel`: the portal writes ISO times with an offset and known
labels, so anything else is quarantined with the client's reasons, or refused in strict mode
(a damaged body is downloaded again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from infotrafic._fields import FIELD_LABELS, state_code
from infotrafic._formats import format_named
from infotrafic._schema import empty_panel, validate_panel
from infotrafic.opendata._strict import check_csv_body, check_no_nul, check_values, opener_of

__all__ = [
    "EXPORT_FORMATS",
    "FIELD_LABELS",
    "ParsedSlice",
    "api_frame_to_panel",
    "canonical",
    "parse_export",
]

#: Export formats the client can read back.
EXPORT_FORMATS = ("csv", "json", "jsonl", "parquet")

_NEEDED = ("iu_ac", "t_1h")
_LABELS = {label: name for name, label in FIELD_LABELS.items()}


def _raw_text(rows: pd.DataFrame) -> Any:
    """Join each row's values by ``;``, missing values as empty strings (quarantine ``raw``)."""
    text = rows.astype(object).where(rows.notna(), "").astype(str)
    return text.agg(";".join, axis=1).to_numpy()


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a panel; an empty frame gives :func:`infotrafic.empty_panel` (typed columns)."""
    return empty_panel() if frame.empty else validate_panel(frame)


@dataclass(frozen=True)
class ParsedSlice:
    """What a slice file held: its canonical panel and the rows that could not be used.

    It quacks like :class:`infotrafic.etl.ReadResult` (``panel``, ``arcs``, ``quarantine``), so a
    store ingests it with its quarantine.
    """

    panel: pd.DataFrame
    rows: int
    quarantine: pd.DataFrame
    duplicates: int
    arcs: pd.DataFrame | None = None
    ordered: bool = False  # records came in non-decreasing t_1h order


def _by_unique(values: pd.Series, convert: Callable[[Any], Any], dtype: str) -> pd.Series:
    """Apply ``convert`` to each distinct value only (ids, labels and offsets repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = pd.Series([convert(u) for u in uniques] + [None], dtype=dtype).array
    return pd.Series(mapped[np.where(codes < 0, len(uniques), codes)], index=values.index)


def _state(field: str) -> Callable[[Any], int | None]:
    def convert(value: Any) -> int | None:
        return state_code(field, value)

    return convert


def _integer(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number.is_integer() else None


def _fixed_width_times(text: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """Parse ``YYYY-MM-DDTHH:MM:SS+HH:MM`` (or ``...Z``) strings to UTC ``datetime64[ns]``.

    The API renders every ``t_1h`` this way; numpy does it ~100x faster than
    ``pandas.to_datetime`` with mixed offsets. Returns ``None`` when the shape differs.
    """
    try:
        fixed = text.astype("U25")
    except (TypeError, ValueError):
        return None
    if not len(fixed):
        return None
    lengths = np.char.str_len(fixed)
    width = int(lengths[0])
    if width not in (20, 25) or not (lengths == width).all():
        return None
    chars = fixed.view("U1").reshape(len(fixed), 25)
    if not (chars[:, 10] == "T").all():
        return None
    try:
        naive = np.ascontiguousarray(chars[:, :19]).view("U19").ravel().astype("datetime64[s]")
    except ValueError:
        return None
    if width == 20:
        if not (chars[:, 19] == "Z").all():
            return None
        return naive.astype("datetime64[ns]")
    if not (np.isin(chars[:, 19], ["+", "-"]).all() and (chars[:, 22] == ":").all()):
        return None
    digits = np.ascontiguousarray(chars[:, [20, 21, 23, 24]]).view(np.uint32).astype(np.int64) - 48
    if ((digits < 0) | (digits > 9)).any():
        return None
    minutes = (digits[:, 0] * 10 + digits[:, 1]) * 60 + digits[:, 2] * 10 + digits[:, 3]
    minutes = np.where(chars[:, 19] == "-", -minutes, minutes)
    utc: np.ndarray[Any, Any] = (naive - minutes.astype("timedelta64[m]")).astype("datetime64[ns]")
    return utc


def _parse_times(values: pd.Series) -> tuple[pd.Series, bool]:
    """Parse ISO times with offsets to UTC; also tell whether the shape was already checked.

    The fast path (the API's fixed-width rendering) checks every character; aware datetimes need
    no check.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        converted: pd.Series = values.dt.tz_convert("UTC")
        return converted, True
    fast = _fixed_width_times(values.to_numpy(dtype=object))
    if fast is not None:
        return pd.Series(pd.DatetimeIndex(fast).tz_localize("UTC"), index=values.index), True
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601"), False


def api_frame_to_panel(
    frame: pd.DataFrame, *, source: str = "api", strict: bool = False
) -> ParsedSlice:
    """Convert a frame of raw API fields (``iu_ac``, ``t_1h``, ``q``, ``k``, ...) to a panel.

    Rows without a usable ``iu_ac`` or ``t_1h`` (or with a negative flow) are quarantined with
    their line number and reason; repeated ``(arc, hour)`` rows keep the last one.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw API fields; ``t_1h`` as ISO text with an offset or aware datetimes.
    source : str, default "api"
        Name used in the quarantine's ``file`` column.
    strict : bool, default False
        Raise :class:`ValueError` on a value that does not convert (an id that is not an
        integer, a time that is not ISO 8601 with an offset, text in ``q`` or ``k``, an unknown
        state) instead of quarantining the row or keeping a missing value: what the portal
        writes always converts, so such a value means a damaged body.

    Returns
    -------
    ParsedSlice
        The canonical panel, the raw row count, the quarantine and the duplicate count.

    Examples
    --------
    >>> raw = pd.DataFrame({"iu_ac": ["4264", "x"], "t_1h": ["2023-02-01T23:00:00+01:00"] * 2,
    ...                     "q": [764.0, None], "etat_trafic": ["Fluide", None]})
    >>> parsed = api_frame_to_panel(raw)
    >>> parsed.panel[["arc_id", "flow", "traffic_state"]].to_dict("records")
    [{'arc_id': 4264, 'flow': 764.0, 'traffic_state': 1}]
    >>> parsed.quarantine["reason"].tolist()
    ['iu_ac is not an integer']
    """
    if "iu_ac" not in frame.columns and FIELD_LABELS["iu_ac"] in frame.columns:
        frame = frame.rename(columns=_LABELS)
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: the answer has no field(s) {missing} (got {list(frame)})")
    n = len(frame)
    ids = frame["iu_ac"]
    if is_numeric_dtype(ids):
        arc = ids.astype("float64")
    else:
        arc = _by_unique(ids, _integer, "Float64").astype("float64")
    time, shaped = _parse_times(frame["t_1h"])
    flow = (
        pd.to_numeric(frame["q"], errors="coerce") if "q" in frame else pd.Series(np.nan, range(n))
    )
    occ = (
        pd.to_numeric(frame["k"], errors="coerce") if "k" in frame else pd.Series(np.nan, range(n))
    )
    states = {
        field: _by_unique(frame[field].reset_index(drop=True), _state(field), "Int8")
        for field in ("etat_trafic", "etat_barre")
        if field in frame
    }
    if strict:
        parsed = {"iu_ac": arc, **({} if shaped else {"t_1h": time}), **states}
        parsed.update({f: s for f, s in (("q", flow), ("k", occ)) if f in frame})
        check_values(frame, {f: v.reset_index(drop=True) for f, v in parsed.items()}, source)
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    reasons[(flow < 0) | (occ < 0)] = "negative q or k"
    reasons[time.isna() | (time.dt.floor("h") != time)] = "t_1h is not a time on the hour"
    reasons[arc.isna() | (arc % 1 != 0)] = "iu_ac is not an integer"
    bad = reasons.notna().to_numpy()
    quarantine = pd.DataFrame(
        {
            "file": source,
            "line": np.flatnonzero(bad) + 1,
            "field": reasons[bad].str.split(" ").str[0].to_numpy(),
            "reason": reasons[bad].to_numpy(),
            "raw": _raw_text(frame[bad]) if bad.any() else [],
        }
    )
    good = ~bad
    panel = pd.DataFrame(
        {
            "arc_id": arc[good].astype("int64").to_numpy(),
            "time": time[good].reset_index(drop=True),
            "flow": flow[good].astype("float64").to_numpy(),
            "occupancy": occ[good].astype("float64").to_numpy(),
        }
    )
    for col, field in (("traffic_state", "etat_trafic"), ("closure_state", "etat_barre")):
        if field in states:
            panel[col] = states[field][good].reset_index(drop=True)
    ordered = bool(time[good].is_monotonic_increasing)
    before = len(panel)
    panel = panel.drop_duplicates(["arc_id", "time"], keep="last")
    return ParsedSlice(canonical(panel), n, quarantine, before - len(panel), ordered=ordered)


def parse_export(path: Path, fmt: str, *, strict: bool = False) -> ParsedSlice:
    """Read an export file of the API (as the client asked for it) into a panel.

    Parameters
    ----------
    path : pathlib.Path
        The downloaded file.
    fmt : {"csv", "json", "jsonl", "parquet"}
        Its format.
    strict : bool, default False
        Refuse what the portal never writes: NUL bytes, a CSV record without the header's number
        of fields, broken quoting, values that do not convert (see :func:`api_frame_to_panel`).
        :meth:`~infotrafic.opendata.OpenDataClient.fetch` reads every slice this way.

    Returns
    -------
    ParsedSlice
        Panel, raw row count, quarantine, duplicates.

    Raises
    ------
    ValueError
        The file does not parse (cut or broken body): the caller retries the slice.
    """
    opener = opener_of(path)
    if strict and fmt in ("json", "jsonl"):
        check_no_nul(opener, path.name)
    if fmt == "csv":
        with opener() as fh:
            header = fh.readline().lstrip(b"\xef\xbb\xbf")
        if not header.strip():
            raise ValueError(f"{path.name}: empty CSV body (not even a header)")
        if strict:
            # the portal's default is ";"; accept a "," export (delimiter=, asked by someone else)
            check_csv_body(opener, path.name, "," if b";" not in header and b"," in header else ";")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}")
    frame = _read_raw(path, fmt)
    if frame.empty and not len(frame.columns):
        frame = pd.DataFrame(columns=list(_NEEDED))
    return api_frame_to_panel(frame, source=path.name, strict=strict)


def _read_raw(path: Path, fmt: str) -> pd.DataFrame:
    """Return the raw fields of an export, read by the ETL's reader of ``fmt``."""
    frames = []
    for member in format_named(fmt).read(str(path), path.name, require_time=False):
        if fmt == "json" and member.regime != "json:list":
            raise ValueError(f"{path.name}: expected a JSON array of records")
        for frame, _, skipped in member.chunks():
            if skipped:
                raise ValueError(
                    f"{path.name}: line {skipped[0]} has more fields than the header: the body "
                    "is broken"
                )
            frames.append(frame)
    if not frames:
        return pd.DataFrame()
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    raw = raw.reset_index(drop=True)
    # text columns come as categoricals from the CSV reader: plain values for the checks
    for col in raw.columns:
        if isinstance(raw[col].dtype, pd.CategoricalDtype):
            raw[col] = raw[col].astype(object)
    return raw
