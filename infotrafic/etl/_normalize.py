"""Raw rows (raw field names, any spelling of values) -> canonical panel rows + quarantine.

Every reader produces *raw chunks*: frames whose columns are raw field names (``iu_ac``,
``t_1h``, ``q``, ...) holding the values as found in the file, plus the 1-based line (or record)
number of every row. :func:`normalize_chunk` turns one into canonical rows, rejected rows
(quarantine) and arc metadata, without a Python loop over rows: distinct ids, timestamps and state
labels are parsed once and mapped back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from infotrafic._fields import META_FIELDS, column_of, state_code
from infotrafic._schema import is_text
from infotrafic.etl._dedupe import last_positions
from infotrafic.etl._factorize import factorize
from infotrafic.etl._time import REGIMES, STATUS_REASON, TimeStatus, parse_times

__all__ = ["META_FIELDS", "Chunk", "empty_quarantine", "normalize_chunk", "typed_quarantine"]

QUARANTINE_COLUMNS = ("file", "line", "field", "reason", "raw")
#: The largest occupancy there can be: the loop occupied the whole hour (percent).
MAX_OCCUPANCY = 100.0
_NO_FRAME = pd.DataFrame()  # placeholder; never mutated


_EMPTY_QUARANTINE = pd.DataFrame(
    {
        "file": pd.Series(dtype=object),
        "line": pd.Series(dtype="int64"),
        "field": pd.Series(dtype=object),
        "reason": pd.Series(dtype=object),
        "raw": pd.Series(dtype=object),
    }
)


def empty_quarantine() -> pd.DataFrame:
    """Return an empty quarantine frame (columns file, line, field, reason, raw)."""
    return _EMPTY_QUARANTINE.copy()


def typed_quarantine(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with exactly the quarantine columns: ``line`` Int64, the others strings.

    The shape the store keeps (absent columns become missing values).
    """
    frame = quarantine.copy()
    for col in QUARANTINE_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame = frame[list(QUARANTINE_COLUMNS)]
    frame["line"] = pd.to_numeric(frame["line"], errors="coerce").astype("Int64")
    for col in ("file", "field", "reason", "raw"):
        frame[col] = frame[col].map(lambda v: None if v is None or v is pd.NA else str(v))
    return frame.astype(dict.fromkeys(("file", "field", "reason", "raw"), "string"))


@dataclass
class Chunk:
    """Canonical rows, rejects and counts of one raw chunk (internal, mutable accumulator)."""

    panel: pd.DataFrame
    quarantine: pd.DataFrame
    meta: pd.DataFrame
    rows_read: int = 0
    dst_nonexistent_empty: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    time_regimes: Counter[str] = field(default_factory=Counter)
    unknown_codes: Counter[str] = field(default_factory=Counter)


def _is_blank(values: pd.Series) -> np.ndarray:
    """Return True where a raw value is missing (NaN/None) or an empty string."""
    missing = values.isna().to_numpy(copy=True)
    if is_text(values):
        text = values.astype(str).str.strip()
        missing |= text.eq("").to_numpy()
    return missing


def _parse_ids(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse arc ids: (int64 values, ok mask, blank mask); distinct values are parsed once."""
    if pd.api.types.is_integer_dtype(values.dtype) and not isinstance(
        values.dtype, pd.api.extensions.ExtensionDtype
    ):
        arr = values.to_numpy(dtype="int64")
        return arr, arr >= 0, np.zeros(len(arr), dtype=bool)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip()
    nums = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    good = np.isfinite(nums) & (nums >= 0) & (np.mod(nums, 1) == 0) & (nums < 2**62)
    blank_u = np.append(text.eq("").to_numpy(), True)  # last slot: the NA sentinel
    ids_u = np.append(np.where(good, nums, 0).astype("int64"), 0)
    good_u = np.append(good, False)
    return ids_u[codes], good_u[codes], blank_u[codes]


def _parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse a numeric column: (float64 values, bad mask) — bad = present but not a number."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(values), bool)
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        cats = pd.Series(values.cat.categories.to_numpy(dtype=object), dtype=object)
        nums_u, bad_u = _parse_numbers(cats) if len(cats) else (np.empty(0), np.empty(0, bool))
        nums_u = np.append(nums_u, np.nan)
        bad_u = np.append(bad_u, False)
        return nums_u[codes], bad_u[codes]
    blank = _is_blank(values)
    nums = pd.to_numeric(values.where(~blank), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan, copy=True
    )
    bad = np.isnan(nums) & ~blank
    if bad.any():
        # Decimal commas from a French spreadsheet re-save: accept "1,5" as 1.5.
        retry = values[bad].astype(str).str.strip().str.replace(",", ".", regex=False)
        fixed = pd.to_numeric(retry, errors="coerce").to_numpy(dtype="float64")
        idx = np.flatnonzero(bad)
        nums[idx] = fixed
        bad[idx[~np.isnan(fixed)]] = False
    bad |= np.isinf(nums)
    return nums, bad


def _parse_codes(
    values: pd.Series, keep: np.ndarray | None, fld: str, name: str, unknown: Counter[str]
) -> pd.arrays.IntegerArray:
    """Map a state column to its codes on the rows kept (all when ``keep`` is None).

    Each distinct label is mapped once (a categorical's categories as they are); labels that
    are not states count as unknown codes (of the kept rows) and become missing.
    """
    codes, uniques = _small_integers(values) or factorize(values)
    if keep is not None:
        codes = codes[keep]
    labels = np.asarray(uniques, dtype=object)
    mapped = np.full(len(labels) + 1, -1, dtype="int64")
    for i, value in enumerate(labels):
        text = str(value).strip()
        if text == "":
            continue
        code = state_code(fld, text)
        if code is None:
            mapped[i] = -2
        else:
            mapped[i] = code
    per_row = mapped[codes]  # codes == -1 -> last slot (-1, missing)
    n_unknown = int((per_row == -2).sum())
    if n_unknown:
        unknown[name] += n_unknown
    mask = per_row < 0
    return pd.arrays.IntegerArray(np.where(mask, 0, per_row).astype("int8"), mask)


def _small_integers(values: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes and distinct values of numbers that are whole and few (state codes), else None.

    What :func:`pandas.factorize` gives for such a column (up to unused values in the range),
    without hashing every row: the code of a value is its offset from the smallest.
    """
    if values.dtype.kind not in "if" or not len(values):
        return None
    nums = values.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(nums)
    if not present.any():
        return None
    low, high = (
        np.min(nums, where=present, initial=np.inf),
        np.max(nums, where=present, initial=-np.inf),
    )
    if not (np.isfinite(low) and np.isfinite(high) and high - low < 256):
        return None
    offsets = np.where(present, nums - low, -1.0)
    codes = offsets.astype("int64")
    if not np.array_equal(codes, offsets):  # a number that is not whole
        return None
    return codes, np.arange(low, high + 1)


def normalize_chunk(raw: pd.DataFrame, lines: np.ndarray, file: str) -> Chunk:
    """Turn a raw chunk into canonical rows, quarantined rows and arc metadata.

    Parameters
    ----------
    raw : pandas.DataFrame
        Columns named after raw fields (``iu_ac``, ``t_1h``, ``q``, ``k``, ``etat_trafic``,
        ``etat_barre`` and metadata fields); values as found in the file.
    lines : numpy.ndarray
        1-based line (or record) number of every row, for the quarantine.
    file : str
        The file name reported in the quarantine.

    Returns
    -------
    Chunk
        Canonical rows (plus a private ``_amb`` flag for naive fall-back hours), the quarantine,
        the raw arc metadata (one row per arc) and the counts.
    """
    n = len(raw)
    if not raw.index.equals(pd.RangeIndex(n)):
        raw = raw.reset_index(drop=True)
    chunk = Chunk(panel=_NO_FRAME, quarantine=_NO_FRAME, meta=_NO_FRAME)
    chunk.rows_read = n
    # the first reason of each rejected row, as an index into ``causes`` (0: not rejected)
    cause = np.zeros(n, dtype="int8")
    causes: list[tuple[str, str]] = [("", "")]

    def reject(mask: np.ndarray, why: str, fld: str) -> None:
        todo = mask & (cause == 0)
        if todo.any():
            causes.append((why, fld))
            cause[todo] = len(causes) - 1

    arc_ids, arc_ok, arc_blank = _parse_ids(raw["iu_ac"])
    reject(arc_blank, "missing_arc_id", "iu_ac")
    reject(~arc_ok, "bad_arc_id", "iu_ac")

    times = parse_times(raw["t_1h"])
    for status, why in STATUS_REASON.items():
        if status != TimeStatus.NONEXISTENT:
            reject(times.status == status, why, "t_1h")
    for code in np.unique(times.regime):
        if code:
            chunk.time_regimes[REGIMES[code]] += int((times.regime == code).sum())

    values: dict[str, np.ndarray] = {}
    for fld in ("q", "k"):
        name = column_of(fld)
        if fld in raw.columns:
            nums, bad = _parse_numbers(raw[fld])
            reject(bad, f"bad_{name}", fld)
            reject(nums < 0, f"negative_{name}", fld)
            if name == "occupancy":  # a share of the hour, in percent
                reject(nums > MAX_OCCUPANCY, "occupancy_above_100", fld)
        else:
            nums = np.full(n, np.nan)
        values[name] = nums

    nonexistent = times.status == TimeStatus.NONEXISTENT
    empty = np.isnan(values["flow"]) & np.isnan(values["occupancy"])
    reject(nonexistent & ~empty, "dst_nonexistent", "t_1h")
    bad_rows = cause > 0
    dropped = nonexistent & empty & ~bad_rows
    chunk.dst_nonexistent_empty = int(dropped.sum())

    if len(causes) > 1:
        idx = np.flatnonzero(bad_rows)
        reason = np.array([why for why, _ in causes], dtype=object)[cause[idx]]
        where = np.array([fld for _, fld in causes], dtype=object)[cause[idx]]
        raw_text = [
            "" if pd.isna(v) else str(v)
            for v in (raw[f].iloc[i] for f, i in zip(where, idx, strict=True))
        ]
        chunk.quarantine = pd.DataFrame(
            {
                "file": np.full(len(idx), file, dtype=object),
                "line": np.asarray(lines, dtype="int64")[idx],
                "field": where,
                "reason": reason,
                "raw": np.asarray(raw_text, dtype=object),
            }
        )
        chunk.reasons.update(Counter(reason.tolist()))

    keep = ~bad_rows & ~dropped
    every = bool(keep.all())
    n_kept = n if every else int(keep.sum())
    states: dict[str, object] = {}
    for fld in ("etat_trafic", "etat_barre"):
        name = column_of(fld)
        if fld in raw.columns:
            states[name] = _parse_codes(
                raw[fld], None if every else keep, fld, name, chunk.unknown_codes
            )
        else:
            states[name] = pd.array([pd.NA] * n_kept, dtype="Int8")
    chunk.panel = pd.DataFrame(
        {
            "arc_id": arc_ids if every else arc_ids[keep],
            "time": pd.DatetimeIndex(times.utc if every else times.utc[keep]).tz_localize("UTC"),
            "flow": values["flow"] if every else values["flow"][keep],
            "occupancy": values["occupancy"] if every else values["occupancy"][keep],
            **states,
            "_amb": times.status[keep] == TimeStatus.AMBIGUOUS,
        },
        copy=False,  # fresh arrays: no copy, and no consolidation of the float columns
    )

    chunk.meta = _arc_meta(raw, arc_ids, arc_ok & ~arc_blank)
    return chunk


def _arc_meta(raw: pd.DataFrame, arc_ids: np.ndarray, ok: np.ndarray) -> pd.DataFrame:
    """One row per arc: the last non-empty value of each metadata field in reading order.

    Metadata is nearly constant per arc, so the last row of each arc is taken and the (rare)
    empty cells are filled from the last non-empty value of that column.
    """
    if not ok.any():
        return pd.DataFrame()
    cols = [c for c in META_FIELDS if c in raw.columns]
    pos = np.flatnonzero(ok)
    arcs, last = last_positions(arc_ids[pos], pos)
    out: dict[str, np.ndarray] = {"arc_id": arcs.astype("int64")}
    for col in cols:
        series = raw[col]  # only the cells looked at become objects (columns can be long)
        values = _cells(series, last)
        holes = pd.isna(values)
        if holes.any():
            present = pos[~series.isna().to_numpy()[pos]]
            if len(present):
                have_arcs, have_last = last_positions(arc_ids[present], present)
                where = np.searchsorted(have_arcs, arcs[holes])
                where = np.minimum(where, len(have_arcs) - 1)
                found = have_arcs[where] == arcs[holes]
                fill = values[holes]
                fill[found] = _cells(series, have_last[where[found]])
                values[holes] = fill
        out[col] = values
    return pd.DataFrame(out)


def _cells(series: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Return the values of ``series`` at positions ``rows``: a new object array (NaN: missing)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()[rows]  # -1 (missing) takes the appended NaN
        cells = np.append(series.cat.categories.to_numpy(dtype=object), np.nan)
        return np.asarray(cells[codes])
    return series.iloc[rows].to_numpy(dtype=object, copy=True)
