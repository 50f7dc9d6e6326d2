"""Timestamps of both regimes -> exact UTC instants, with one documented DST policy.

``t_1h`` is the **end** of the counting hour, in Paris local time. The portal writes it in two
regimes, and a re-saved file may add a third:

* ISO 8601 **with an offset** (live exports, API): ``2023-02-01T23:00:00+01:00`` is exact; it is
  converted to UTC as is.
* **naive** wall clock (historical archive): ``2023-02-05 01:00:00`` means Europe/Paris local time.
  ``dd/mm/yyyy HH:MM[:SS]`` is read the same way (day first, as French spreadsheets write it).
* **spreadsheet serial** numbers (days since 1899-12-30, fraction = time of day): read as a naive
  Paris wall clock when the value falls on a whole hour, otherwise rejected (``bad_time``).

DST policy for naive wall-clock times (nothing is ever shifted by an hour):

* **Spring forward** (last Sunday of March, local 02:00 does not exist): a row stamped with the
  non-existent hour is *dropped and counted* (``dst_nonexistent_empty``) when its flow and
  occupancy are both empty — the archive writes such an empty placeholder every year — and
  *quarantined* (``dst_nonexistent``) when it carries a value, since its instant is unknowable.
* **Fall back** (last Sunday of October, local 02:00 happens twice): when the ambiguous hour
  appears once for an arc it is the **standard-time** (``+01:00``) instant. This was verified on
  the real files: arc 4264 in 2022 has the same flow at archive ``2022-10-30 02:00:00`` and at
  export ``2022-10-30T02:00:00+01:00`` (01:00 UTC), and the exports miss ``02:00+02:00`` (00:00
  UTC) exactly as the archive publishes a single ``02:00``. When it appears twice for an arc
  while its neighbouring hours (local 01:00 and 03:00) appear once, the first occurrence in
  reading order is the summer-time (``+02:00``) instant and the second the standard-time one.
  When whole blocks are repeated (neighbours repeated as often as the ambiguous hour), every
  occurrence is standard time and the duplicate policy decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import pandas as pd

from infotrafic._time import (
    AMBIGUOUS,
    NONEXISTENT,
    PARIS,
    NonexistentPolicy,
    to_utc,
    wall_clock_kinds,
)
from infotrafic._types import TimeLike
from infotrafic.etl._factorize import factorize

__all__ = ["PARIS", "TimeParse", "TimeStatus", "parse_times", "paris_to_utc"]

#: How the portal's naive file times are read (a data rule, see the module docstring): the
#: single fall-back 02:00 is standard time (``ambiguous="standard"``, the default of
#: :func:`paris_to_utc`), the spring-forward 02:00 has no instant.
FILE_NONEXISTENT: NonexistentPolicy = "NaT"

_ISO_OFFSET = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|UTC|[+-]\d{2}(:?\d{2})?)$"
)
_ISO_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_DAYFIRST = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?)?$")
_SERIAL = re.compile(r"^\d{1,6}(\.\d+)?$")
_SPREADSHEET_EPOCH = np.datetime64("1899-12-30T00:00:00", "ns")
# Serial numbers accepted as dates: 1970-01-01 .. 2099-12-31.
_SERIAL_MIN, _SERIAL_MAX = 25569.0, 73415.0


class TimeStatus:
    """Integer status codes of :func:`parse_times` (one per row)."""

    OK = 0
    MISSING = 1
    BAD = 2
    NOT_ON_HOUR = 3
    NONEXISTENT = 4
    #: A naive time in the repeated fall-back hour, provisionally resolved to standard time.
    AMBIGUOUS = 5


#: Reason names used in quarantine frames, by status.
STATUS_REASON = {
    TimeStatus.MISSING: "missing_time",
    TimeStatus.BAD: "bad_time",
    TimeStatus.NOT_ON_HOUR: "time_not_on_hour",
    TimeStatus.NONEXISTENT: "dst_nonexistent",
}

#: Time regime names, by code (the ``regime`` array of :class:`TimeParse`).
REGIMES = ("none", "offset", "naive", "serial", "datetime")


@dataclass(frozen=True)
class TimeParse:
    """Result of :func:`parse_times`: one UTC instant, status and regime code per input row.

    Attributes
    ----------
    utc : numpy.ndarray
        ``datetime64[ns]`` UTC instants (NaT where the status is not OK or AMBIGUOUS).
    status : numpy.ndarray
        ``int8`` :class:`TimeStatus` codes.
    regime : numpy.ndarray
        ``int8`` index into ``REGIMES`` (``offset``, ``naive``, ``serial``, ``datetime``).
    """

    utc: np.ndarray
    status: np.ndarray
    regime: np.ndarray


def _localize_naive(naive: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Localize naive Paris wall-clock times by the files' rule: (UTC ns values, status).

    Ambiguous wall-clock times get the standard-time instant (``FILE_AMBIGUOUS``) and the
    AMBIGUOUS status, resolved later by :func:`~infotrafic.etl._dst.resolve_ambiguous`;
    non-existent ones get ``NaT`` (``FILE_NONEXISTENT``) and the NONEXISTENT status. The
    localisation is the time core's (:func:`infotrafic._time.wall_clock_kinds`).
    """
    values, kind = wall_clock_kinds(naive)
    status = np.zeros(len(kind), dtype="int8")
    status[kind == AMBIGUOUS] = TimeStatus.AMBIGUOUS
    status[kind == NONEXISTENT] = TimeStatus.NONEXISTENT
    return values, status


def _parse_unique_strings(texts: np.ndarray) -> TimeParse:
    """Parse distinct timestamp values, trying the two producers' exact layouts first.

    The archive's ``YYYY-MM-DD HH:MM:SS`` and the exports' ``YYYY-MM-DDTHH:MM:SS+HH:MM`` are
    parsed by vectorised numpy code; anything else (other layouts, serials, garbage) goes through
    the regex classifier of :func:`_classify_strings`.
    """
    n = len(texts)
    utc = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    status = np.full(n, TimeStatus.BAD, dtype="int8")
    regime = np.zeros(n, dtype="int8")
    if pd.api.types.infer_dtype(texts, skipna=False) == "string":
        is_str = np.ones(n, dtype=bool)
    else:
        is_str = np.fromiter((isinstance(v, str) for v in texts), dtype=bool, count=n)
    todo = np.ones(n, dtype=bool)
    if is_str.any():
        str_pos = np.flatnonzero(is_str)
        arr = np.asarray(texts[is_str], dtype=str)
        lengths = np.strings.str_len(arr)
        naive_pos, wall_ns = _parse_fixed_naive(arr, lengths)
        if len(naive_pos):
            idx = str_pos[naive_pos]
            values, st = _localize_naive(pd.DatetimeIndex(wall_ns))
            values[st == TimeStatus.NONEXISTENT] = np.datetime64("NaT")
            utc[idx], status[idx], regime[idx] = values, np.where(st == 0, 0, st), 2
            todo[idx] = False
        offset_pos, values = _parse_fixed_offset(arr, lengths)
        if len(offset_pos):
            idx = str_pos[offset_pos]
            utc[idx], status[idx], regime[idx] = values, TimeStatus.OK, 1
            todo[idx] = False
    if todo.any():
        idx = np.flatnonzero(todo)
        slow = _classify_strings(texts[idx])
        utc[idx], status[idx], regime[idx] = slow.utc, slow.status, slow.regime
    _flag_off_hour(utc, status)
    return TimeParse(utc=utc, status=status, regime=regime)


_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _iso_seconds(codes: np.ndarray) -> np.ndarray:
    """Compute ``YYYY-MM-DD?HH:MM:SS`` wall-clock times from code points; NaT where invalid.

    Pure integer arithmetic on the characters (the civil-date algorithm of H. Hinnant), so a
    million distinct timestamps cost milliseconds.
    """
    d = codes[:, _DIGITS].astype("int64") - ord("0")
    ok = ((d >= 0) & (d <= 9)).all(axis=1)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    hour, minute, second = (
        d[:, 8] * 10 + d[:, 9],
        d[:, 10] * 10 + d[:, 11],
        d[:, 12] * 10 + d[:, 13],
    )
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok &= (month >= 1) & (month <= 12)
    dim = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= (day >= 1) & (day <= dim) & (hour <= 23) & (minute <= 59) & (second <= 59)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
    out: np.ndarray = np.asarray(seconds * 1_000_000_000, dtype="int64").astype("datetime64[ns]")
    out[~ok] = np.datetime64("NaT")
    return out


def _fixed_layout(
    arr: np.ndarray, lengths: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``width``-long strings shaped ``YYYY-MM-DD?HH:MM:SS...`` and their codes."""
    pos = np.flatnonzero(lengths == width)
    if not len(pos):
        return pos, np.empty((0, width), dtype=np.uint32)
    sub = np.ascontiguousarray(arr[pos].astype(f"U{width}"))
    codes = sub.view(np.uint32).reshape(-1, width)
    shape = (
        (codes[:, 4] == ord("-"))
        & (codes[:, 7] == ord("-"))
        & ((codes[:, 10] == ord(" ")) | (codes[:, 10] == ord("T")))
        & (codes[:, 13] == ord(":"))
        & (codes[:, 16] == ord(":"))
    )
    return pos[shape], codes[shape]


def _parse_fixed_naive(arr: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse the archive layout ``YYYY-MM-DD HH:MM:SS``: (positions parsed, wall-clock values)."""
    pos, codes = _fixed_layout(arr, lengths, 19)
    if not len(pos):
        return pos, np.empty(0, dtype="datetime64[ns]")
    wall = _iso_seconds(codes)
    ok = ~np.isnat(wall)
    return pos[ok], wall[ok]


def _parse_fixed_offset(arr: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse the export layout ``YYYY-MM-DDTHH:MM:SS+HH:MM``: (positions parsed, UTC values).

    The wall-clock part and the offset are parsed separately and vectorised, which is much
    faster than a per-value ``%z``.
    """
    pos, codes = _fixed_layout(arr, lengths, 25)
    if not len(pos):
        return pos, np.empty(0, dtype="datetime64[ns]")
    sign = codes[:, 19]
    digits = codes[:, [20, 21, 23, 24]].astype("int64") - ord("0")
    shape = (
        ((sign == ord("+")) | (sign == ord("-")))
        & (codes[:, 22] == ord(":"))
        & ((digits >= 0) & (digits <= 9)).all(axis=1)
    )
    pos, digits, sign = pos[shape], digits[shape], sign[shape]
    minutes = (digits[:, 0] * 10 + digits[:, 1]) * 60 + digits[:, 2] * 10 + digits[:, 3]
    minutes = np.where(sign == ord("-"), -minutes, minutes)
    wall = _iso_seconds(codes[shape])
    ok = ~np.isnat(wall)
    utc = wall[ok] - (minutes[ok] * 60).astype("timedelta64[s]")
    return pos[ok], utc.astype("datetime64[ns]")


def _classify_strings(texts: np.ndarray) -> TimeParse:
    """Parse timestamp strings of any supported layout (regex classification)."""
    n = len(texts)
    utc = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    status = np.full(n, TimeStatus.BAD, dtype="int8")
    regime = np.zeros(n, dtype="int8")
    stripped = pd.Series(texts, dtype=object).astype(str).str.strip()
    empty = stripped.eq("") | stripped.str.lower().isin(["nan", "nat", "none", "null"])
    status[empty.to_numpy()] = TimeStatus.MISSING

    is_offset = stripped.str.match(_ISO_OFFSET).to_numpy() & ~empty.to_numpy()
    if is_offset.any():
        sub = stripped[is_offset].str.replace(r"\s*UTC$", "Z", regex=True)
        parsed = pd.to_datetime(sub, utc=True, format="ISO8601", errors="coerce")
        values = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        idx = np.flatnonzero(is_offset)
        ok = ~np.isnat(values)
        utc[idx[ok]] = values[ok]
        status[idx[ok]] = TimeStatus.OK
        regime[idx] = 1

    naive_parts: list[tuple[np.ndarray, np.ndarray, int]] = []
    is_naive = stripped.str.match(_ISO_NAIVE).to_numpy() & ~is_offset & ~empty.to_numpy()
    if is_naive.any():
        parsed = pd.to_datetime(stripped[is_naive], format="ISO8601", errors="coerce")
        naive_parts.append((np.flatnonzero(is_naive), parsed.to_numpy("datetime64[ns]"), 2))
    is_dayfirst = stripped.str.match(_DAYFIRST).to_numpy()
    if is_dayfirst.any():
        parsed = pd.to_datetime(
            stripped[is_dayfirst], dayfirst=True, format="mixed", errors="coerce"
        )
        naive_parts.append((np.flatnonzero(is_dayfirst), parsed.to_numpy("datetime64[ns]"), 2))
    is_serial = stripped.str.match(_SERIAL).to_numpy()
    if is_serial.any():
        days = stripped[is_serial].astype(float).to_numpy()
        sound = (days >= _SERIAL_MIN) & (days <= _SERIAL_MAX)
        seconds = np.where(sound, np.round(days * 86400.0), 0).astype("int64")
        wall = _SPREADSHEET_EPOCH + seconds.astype("timedelta64[s]").astype("timedelta64[ns]")
        wall[~sound] = np.datetime64("NaT")
        naive_parts.append((np.flatnonzero(is_serial), wall, 3))

    for idx, wall, code in naive_parts:
        regime[idx] = code
        ok = ~np.isnat(wall)
        if not ok.any():
            continue
        values, st = _localize_naive(pd.DatetimeIndex(wall[ok]))
        target = idx[ok]
        utc[target] = values
        status[target] = np.where(st == 0, TimeStatus.OK, st)
        utc[target[st == TimeStatus.NONEXISTENT]] = np.datetime64("NaT")

    _flag_off_hour(utc, status)
    return TimeParse(utc=utc, status=status, regime=regime)


def _flag_off_hour(utc: np.ndarray, status: np.ndarray) -> None:
    valid = ~np.isnat(utc)
    ns = utc.astype("int64")
    off = valid & (ns % 3_600_000_000_000 != 0)
    status[off] = TimeStatus.NOT_ON_HOUR
    utc[off] = np.datetime64("NaT")


def parse_times(values: pd.Series) -> TimeParse:
    """Parse a column of ``t_1h`` values in any regime, row by row, into UTC.

    Each distinct value is parsed once, then mapped back to the rows, so a file with millions of
    rows but a few thousand distinct hours is cheap. Strings may mix regimes (offset, naive,
    serial) row by row. A datetime column is taken as UTC when tz-aware and as a naive Paris wall
    clock otherwise.

    Parameters
    ----------
    values : pandas.Series
        Strings, numbers (spreadsheet serials) or datetimes.

    Returns
    -------
    TimeParse
        UTC instants, :class:`TimeStatus` codes and regime codes, aligned with ``values``.

    Examples
    --------
    >>> import pandas as pd
    >>> p = parse_times(pd.Series(["2023-02-01T23:00:00+01:00", "2023-02-01 23:00:00",
    ...                            "44958.916666666664", "2023-03-26 02:00:00", "x"]))
    >>> [str(t)[:16] for t in p.utc[:3]]
    ['2023-02-01T22:00', '2023-02-01T22:00', '2023-02-01T21:00']
    >>> p.status.tolist()
    [0, 0, 0, 4, 2]
    """
    n = len(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").copy()
        status = np.where(np.isnat(utc), TimeStatus.MISSING, TimeStatus.OK).astype("int8")
        _flag_off_hour(utc, status)
        return TimeParse(utc, status, np.full(n, 4, dtype="int8"))
    if pd.api.types.is_datetime64_dtype(values.dtype):
        wall = values.to_numpy("datetime64[ns]")
        utc = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        status = np.full(n, TimeStatus.MISSING, dtype="int8")
        ok = ~np.isnat(wall)
        if ok.any():
            vals, st = _localize_naive(pd.DatetimeIndex(wall[ok]))
            st = np.where(st == 0, TimeStatus.OK, st).astype("int8")
            vals[st == TimeStatus.NONEXISTENT] = np.datetime64("NaT")
            utc[ok], status[ok] = vals, st
        _flag_off_hour(utc, status)
        return TimeParse(utc, status, np.full(n, 4, dtype="int8"))
    codes, uniques = factorize(values)
    parsed = _parse_unique_strings(np.asarray(uniques, dtype=object))
    # a last slot for the missing values (code -1)
    utc = np.append(parsed.utc, np.datetime64("NaT", "ns"))[codes]
    status = np.append(parsed.status, np.int8(TimeStatus.MISSING))[codes]
    regime = np.append(parsed.regime, np.int8(0))[codes]
    return TimeParse(utc, status, regime)


AmbiguousPolicy = Literal["standard", "summer", "NaT"]


@overload
def paris_to_utc(values: TimeLike, *, ambiguous: AmbiguousPolicy = ...) -> pd.Timestamp: ...
@overload
def paris_to_utc(values: pd.Series, *, ambiguous: AmbiguousPolicy = ...) -> pd.Series: ...
@overload
def paris_to_utc(
    values: pd.DatetimeIndex | list[TimeLike], *, ambiguous: AmbiguousPolicy = ...
) -> pd.DatetimeIndex: ...


def paris_to_utc(
    values: TimeLike | pd.Series | pd.DatetimeIndex | list[TimeLike],
    *,
    ambiguous: AmbiguousPolicy = "standard",
) -> pd.Timestamp | pd.Series | pd.DatetimeIndex:
    """Convert naive Europe/Paris wall-clock end-of-hour times to UTC, with the files' DST policy.

    The portal files' rule, expressed through :func:`infotrafic._time.to_utc` with named
    policies: a non-existent local time (the spring-forward hour) becomes ``NaT``
    (``nonexistent="NaT"``: its instant is unknowable and it is never shifted); an ambiguous local
    time (the repeated fall-back hour) is read as standard time by default
    (``ambiguous="standard"``), as the historical archive means it (see the module docstring).
    Values that already carry a time zone are converted as they are. Times given by a user go
    through :func:`infotrafic.backtest.parse_time` instead, which refuses both hours.

    Parameters
    ----------
    values : str, datetime, Timestamp, list, DatetimeIndex or Series
        Naive wall-clock times (strings are parsed by pandas).
    ambiguous : {"standard", "summer", "NaT"}, default "standard"
        Which instant an ambiguous wall-clock time denotes.

    Returns
    -------
    pandas.Timestamp, pandas.Series or pandas.DatetimeIndex
        UTC times, same shape as ``values``.

    Examples
    --------
    >>> paris_to_utc("2023-02-05 01:00:00")
    Timestamp('2023-02-05 00:00:00+0000', tz='UTC')
    >>> paris_to_utc("2022-10-30 02:00")  # the archive's single fall-back 02:00
    Timestamp('2022-10-30 01:00:00+0000', tz='UTC')
    >>> paris_to_utc("2023-03-26 02:00")  # does not exist in Paris
    NaT
    """
    return to_utc(values, ambiguous=ambiguous, nonexistent=FILE_NONEXISTENT, name="t_1h")
