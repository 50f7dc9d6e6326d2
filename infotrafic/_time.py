"""One door for time: Paris wall clock to UTC with named daylight-saving policies.

Every time that enters infotrafic becomes a UTC instant here: the options of ``backtest``,
``train``, ``forecast`` and ``fetch``, the bounds of :meth:`ParquetStore.read
<infotrafic.etl.ParquetStore.read>`, the ETL's naive file timestamps and the portal slices'
day boundaries. Values with an offset (or a time zone) are exact and simply converted; naive
values are **Europe/Paris wall-clock** time, and twice a year a wall-clock time is not one
instant:

* **spring forward** (last Sunday of March since 1996): local 02:00-02:59 **does not exist**;
* **fall back** (last Sunday of October since 1996): local 02:00-02:59 happens **twice**, first
  in summer time (CEST, ``+02:00``) then in standard time (CET, ``+01:00``).

:func:`to_utc` settles those hours by a **named policy**:

=================================== =========================================================
policy                              a naive wall-clock time that ...
=================================== =========================================================
``ambiguous="raise"``               happens twice is an error naming both instants
``ambiguous="summer"``              happens twice is its first instant (CEST, the earlier)
``ambiguous="standard"``            happens twice is its second instant (CET, the later)
``ambiguous="NaT"``                 happens twice becomes ``NaT``
``nonexistent="raise"``             does not exist is an error naming the nearest valid hours
``nonexistent="shift_forward"``     does not exist moves forward to the first valid instant
``nonexistent="NaT"``               does not exist becomes ``NaT``
=================================== =========================================================

**The rule for times a user gives** (:func:`parse_user_time`, used by every command, the
backtest options, the fetch range and the store's read bounds): naive means Paris wall clock, a
date means midnight in Paris, aware values are converted, and an ambiguous or non-existent wall
clock is **refused** (``ambiguous="raise"``, ``nonexistent="raise"``) with a
:class:`~infotrafic.exceptions.ConfigurationError` that names the candidate instants and how to
write an offset. So ``"2023-10-29 02:00"`` is refused the same way everywhere.

**The rule for the portal's files** is a data rule, not a user rule: the archive writes one
naive ``02:00`` on fall-back days, which is standard time, and its non-existent spring ``02:00``
rows are placeholders; :mod:`infotrafic.etl` reads them with ``ambiguous="standard"`` and
``nonexistent="NaT"`` (then drops or quarantines them, see the data guide).

:func:`wall_clock_kinds` is the localisation under all of it: vectorised under the EU rule
(checked year by year against the standard library's tz database, which, unlike pytz, also
knows the rule after 2037), the tz database itself for other years.

:func:`hour_span` and :func:`arc_hours` give each arc's hours from its first to its last
``time``: the hourly grid the panel converters and :func:`~infotrafic.to_hourly_grid` share.

pandas and numpy are imported on first use, so ``import infotrafic`` stays cheap.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, cast, overload
from zoneinfo import ZoneInfo

from infotrafic.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from infotrafic._types import TimeLike

__all__ = [
    "PARIS",
    "PARIS_TZ",
    "AmbiguousPolicy",
    "NonexistentPolicy",
    "arc_hours",
    "hour_span",
    "parse_user_time",
    "to_utc",
    "wall_clock_kinds",
]

#: The producer's (and the users') local time zone.
PARIS = "Europe/Paris"
#: The same zone from the standard library's tz database: unlike pytz (pandas' default for a
#: zone name), it knows the daylight-saving rule after 2037.
PARIS_TZ = ZoneInfo(PARIS)

#: What an ambiguous (repeated fall-back) wall-clock time becomes; see the module docstring.
AmbiguousPolicy = Literal["raise", "summer", "standard", "NaT"]
#: What a non-existent (spring-forward) wall-clock time becomes; see the module docstring.
NonexistentPolicy = Literal["raise", "shift_forward", "NaT"]

_AMBIGUOUS = ("raise", "summer", "standard", "NaT")
_NONEXISTENT = ("raise", "shift_forward", "NaT")


@overload
def to_utc(
    value: pd.Series,
    *,
    ambiguous: AmbiguousPolicy = ...,
    nonexistent: NonexistentPolicy = ...,
    name: str = ...,
) -> pd.Series: ...
@overload
def to_utc(
    value: pd.DatetimeIndex | list[TimeLike],
    *,
    ambiguous: AmbiguousPolicy = ...,
    nonexistent: NonexistentPolicy = ...,
    name: str = ...,
) -> pd.DatetimeIndex: ...
@overload
def to_utc(
    value: TimeLike,
    *,
    ambiguous: AmbiguousPolicy = ...,
    nonexistent: NonexistentPolicy = ...,
    name: str = ...,
) -> pd.Timestamp: ...


def to_utc(
    value: TimeLike | pd.Series | pd.DatetimeIndex | list[TimeLike],
    *,
    ambiguous: AmbiguousPolicy = "raise",
    nonexistent: NonexistentPolicy = "raise",
    name: str = "time",
) -> pd.Timestamp | pd.Series | pd.DatetimeIndex:
    """Turn times into UTC; naive values are Paris wall clock, settled by the named policies.

    Parameters
    ----------
    value : str, datetime, date, pandas.Timestamp, list, DatetimeIndex or Series
        The time(s). Strings are parsed by pandas; a date means midnight. Aware values are
        converted as they are; missing values stay ``NaT``.
    ambiguous : {"raise", "summer", "standard", "NaT"}, default "raise"
        What a wall-clock time that happens twice (fall back) denotes (module docstring table).
    nonexistent : {"raise", "shift_forward", "NaT"}, default "raise"
        What a wall-clock time that does not exist (spring forward) becomes.
    name : str, default "time"
        How to call the value in error messages.

    Returns
    -------
    pandas.Timestamp, pandas.DatetimeIndex or pandas.Series
        tz-aware UTC times, same shape as ``value`` (a Series keeps its index and name).

    Raises
    ------
    ConfigurationError
        When a value cannot be read as a time, is outside pandas' range, or falls in a
        daylight-saving hour whose policy is ``"raise"`` (the message names the candidates).

    Examples
    --------
    >>> to_utc("2023-10-29 02:00", ambiguous="summer")
    Timestamp('2023-10-29 00:00:00+0000', tz='UTC')
    >>> to_utc("2023-10-29 02:00", ambiguous="standard")
    Timestamp('2023-10-29 01:00:00+0000', tz='UTC')
    >>> to_utc("2023-03-26 02:00", nonexistent="shift_forward")
    Timestamp('2023-03-26 01:00:00+0000', tz='UTC')
    >>> to_utc(["2023-03-26 02:00", "2023-03-26 03:00"], nonexistent="NaT").tolist()
    [NaT, Timestamp('2023-03-26 01:00:00+0000', tz='UTC')]
    """
    import pandas as pd

    if ambiguous not in _AMBIGUOUS:
        raise ConfigurationError(f"ambiguous must be one of {list(_AMBIGUOUS)}, got {ambiguous!r}")
    if nonexistent not in _NONEXISTENT:
        raise ConfigurationError(
            f"nonexistent must be one of {list(_NONEXISTENT)}, got {nonexistent!r}"
        )
    if isinstance(value, pd.Series):
        index = _to_index(value, name)
        out = _localize(index, ambiguous, nonexistent, name, None)
        return pd.Series(out, index=value.index, name=value.name)
    if isinstance(value, pd.DatetimeIndex | list):
        return _localize(_to_index(value, name), ambiguous, nonexistent, name, None)
    stamp = _to_timestamp(value, name)
    if pd.isna(stamp):
        return stamp
    return pd.Timestamp(
        _localize(pd.DatetimeIndex([stamp]), ambiguous, nonexistent, name, value)[0]
    )


def parse_user_time(value: TimeLike, *, name: str = "time", on_hour: bool = True) -> pd.Timestamp:
    """Read a time given by a user: **the** rule of every entry point.

    Naive values (and plain dates, meaning midnight) are Paris wall-clock time; aware values are
    converted. A wall-clock time that does not exist (spring forward) or happens twice (fall
    back) is refused, never guessed: give an offset to say which instant you mean.

    Parameters
    ----------
    value : str, datetime, date or pandas.Timestamp
        ``"2023-06-01"``, ``"2023-06-01 10:00"``, ``"2023-10-29T02:00+01:00"``...
    name : str, default "time"
        How to call the value in error messages (an option such as ``"--start"``).
    on_hour : bool, default True
        Also require a whole hour (hourly targets, forecast origins). Range bounds take any
        instant (``False``).

    Returns
    -------
    pandas.Timestamp
        A tz-aware UTC timestamp.

    Raises
    ------
    ConfigurationError
        When the value is missing, cannot be parsed, is out of range, does not exist or is
        ambiguous in Paris (the message names the candidate instants), or is not on the hour.

    Examples
    --------
    >>> parse_user_time("2023-06-01")
    Timestamp('2023-05-31 22:00:00+0000', tz='UTC')
    >>> parse_user_time("2023-10-29T02:00+01:00")
    Timestamp('2023-10-29 01:00:00+0000', tz='UTC')
    >>> parse_user_time("2023-10-29 02:00")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ConfigurationError: time: '2023-10-29 02:00' does not exist or is \
ambiguous in Paris local time (daylight saving change): 2023-10-29 02:00 happens twice, it is \
either 2023-10-29T00:00Z (CEST) or 2023-10-29T01:00Z (CET); give an offset, e.g. \
'2023-10-29T02:00+01:00'
    """
    import pandas as pd

    out = to_utc(value, ambiguous="raise", nonexistent="raise", name=name)
    if pd.isna(out):
        raise ConfigurationError(f"{name}: a date or time is required, got {value!r}")
    if on_hour and out.floor("h") != out:
        raise ConfigurationError(f"{name}: {value!r} must fall on the hour")
    return out


def _to_timestamp(value: object, name: str) -> pd.Timestamp:
    """Parse one value (a date means midnight) into a nanosecond Timestamp, or NaT."""
    import pandas as pd

    try:
        if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            stamp = pd.Timestamp(value.year, value.month, value.day)
        else:
            stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{name}: cannot read {value!r} as a date or time (use e.g. '2023-06-01' or "
            "'2023-06-01T10:00+02:00')"
        ) from exc
    if pd.isna(stamp):
        return stamp
    try:
        return stamp.as_unit("ns")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        raise ConfigurationError(
            f"{name}: {value!r} is outside the supported range (years 1678 to 2261)"
        ) from exc


def _to_index(values: object, name: str) -> pd.DatetimeIndex:
    """Parse many values into a DatetimeIndex (naive or aware, as given)."""
    import pandas as pd

    if isinstance(values, pd.DatetimeIndex):
        return values.as_unit("ns")
    try:
        return pd.DatetimeIndex(pd.to_datetime(values)).as_unit("ns")  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(
            f"{name}: cannot read the values as dates or times ({first}); use ISO 8601 such as "
            "'2023-06-01 10:00'"
        ) from exc


#: Kinds of naive wall-clock times returned by :func:`wall_clock_kinds`.
ONE_INSTANT, AMBIGUOUS, NONEXISTENT = 0, 1, 2

_HOUR_NS = 3_600_000_000_000


def _last_sunday_utc_ns(year: int, month: int) -> int:
    last = _dt.date(year, month, 31)
    sunday = last - _dt.timedelta(days=(last.weekday() + 1) % 7)
    moment = _dt.datetime(sunday.year, sunday.month, sunday.day, 1, tzinfo=_dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000


@lru_cache(maxsize=512)
def _eu_bounds(year: int) -> tuple[int, int] | None:
    """Summer-time bounds of ``year`` in UTC ns under the EU rule, if the tz database agrees.

    The EU rule (since 1996: CEST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
    last Sunday of October) is checked against the tz database for the year; ``None`` means
    "not this rule" and the caller falls back to the tz database itself.
    """
    if year < 1996 or year > 2200:
        return None
    start = _last_sunday_utc_ns(year, 3)
    end = _last_sunday_utc_ns(year, 10)

    def offset_h(ns: int) -> float | None:
        off = _dt.datetime.fromtimestamp(ns / 1e9, PARIS_TZ).utcoffset()
        return None if off is None else off.total_seconds() / 3600

    jan = int(_dt.datetime(year, 1, 1, tzinfo=_dt.UTC).timestamp()) * 1_000_000_000
    dec = int(_dt.datetime(year, 12, 31, 23, tzinfo=_dt.UTC).timestamp()) * 1_000_000_000
    checks = [(jan, 1), (start - 1_000_000_000, 1), (start, 2), (end - 1_000_000_000, 2)]
    checks += [(end, 1), (dec, 1), ((start + end) // 2, 2)]
    if all(offset_h(ns) == h for ns, h in checks):
        return start, end
    return None


def _kinds_fast(naive: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray] | None:
    """Vectorised :func:`wall_clock_kinds` under the (verified) EU rule; ``None`` if it fails."""
    import numpy as np

    years = np.asarray(naive.year)
    uniq = np.unique(years)
    bounds = [_eu_bounds(int(y)) for y in uniq]
    if any(b is None for b in bounds):
        return None
    starts = np.array([b[0] for b in bounds if b is not None], dtype="int64")
    ends = np.array([b[1] for b in bounds if b is not None], dtype="int64")
    where = np.searchsorted(uniq, years)
    start, end = starts[where], ends[where]
    wall = naive.as_unit("ns").asi8  # pandas 3 infers coarser units from strings
    u_std, u_dst = wall - _HOUR_NS, wall - 2 * _HOUR_NS
    dst_ok = (u_dst >= start) & (u_dst < end)
    std_ok = ~((u_std >= start) & (u_std < end))
    kind = np.zeros(len(wall), dtype="int8")
    kind[dst_ok & std_ok] = AMBIGUOUS
    kind[~dst_ok & ~std_ok] = NONEXISTENT
    values = np.where(std_ok, u_std, u_dst).astype("datetime64[ns]")
    values[kind == NONEXISTENT] = np.datetime64("NaT")
    return values, kind


def wall_clock_kinds(naive: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Localize naive Paris wall-clock times: (UTC values, kind of each time).

    The values are naive ``datetime64[ns]`` UTC instants, the **standard-time** one where the
    wall clock happens twice and ``NaT`` where it does not exist; the kinds are
    :data:`ONE_INSTANT`, :data:`AMBIGUOUS` or :data:`NONEXISTENT` (``int8``). Years under the
    EU rule (checked against the tz database) take a vectorised path; others go through the tz
    database itself.

    Parameters
    ----------
    naive : pandas.DatetimeIndex
        Naive wall-clock times without ``NaT``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(values, kinds)``, aligned with ``naive``.

    Examples
    --------
    >>> import pandas as pd
    >>> values, kinds = wall_clock_kinds(pd.DatetimeIndex(["2023-10-29 02:00", "2023-03-26 02:00"]))
    >>> [str(v) for v in values], kinds.tolist()
    (['2023-10-29T01:00:00.000000000', 'NaT'], [1, 2])
    """
    import numpy as np

    fast = _kinds_fast(naive) if len(naive) else None
    if fast is not None:
        return fast
    std = naive.tz_localize(PARIS_TZ, ambiguous=np.zeros(len(naive), bool), nonexistent="NaT")
    dst = naive.tz_localize(PARIS_TZ, ambiguous=np.ones(len(naive), bool), nonexistent="NaT")
    kind = np.zeros(len(naive), dtype="int8")
    gap = np.asarray(std.isna(), dtype=bool)
    kind[np.asarray(std != dst, dtype=bool) & ~gap] = AMBIGUOUS
    kind[gap] = NONEXISTENT
    values = std.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return values, kind


def _localize(
    index: pd.DatetimeIndex,
    ambiguous: AmbiguousPolicy,
    nonexistent: NonexistentPolicy,
    name: str,
    given: object,
) -> pd.DatetimeIndex:
    """Localize naive Paris wall-clock times by the policies and convert to UTC."""
    import numpy as np
    import pandas as pd

    if index.tz is not None:
        return index.tz_convert("UTC")
    present = np.asarray(index.notna(), dtype=bool)
    values = np.full(len(index), np.datetime64("NaT"), dtype="datetime64[ns]")
    kind = np.zeros(len(index), dtype="int8")
    if present.any():
        values[present], kind[present] = wall_clock_kinds(index[present])
    for code, policy, when in ((NONEXISTENT, nonexistent, "gap"), (AMBIGUOUS, ambiguous, "twice")):
        rows = np.flatnonzero(kind == code)
        if not len(rows) or policy == "NaT":
            continue  # NaT already where the wall clock does not exist; set below when twice
        walls = index[rows]
        if policy == "raise":
            message = _gap_message if when == "gap" else _ambiguous_message
            raise ConfigurationError(message(walls[0], name, given))
        if policy == "summer":  # the earlier instant; few rows, through the tz database
            local = walls.tz_localize(PARIS_TZ, ambiguous=np.ones(len(rows), bool))
            values[rows] = local.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
        elif policy == "shift_forward":
            local = walls.tz_localize(PARIS_TZ, nonexistent="shift_forward")
            values[rows] = local.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    if ambiguous == "NaT":
        values[kind == AMBIGUOUS] = np.datetime64("NaT")
    return pd.DatetimeIndex(values).tz_localize("UTC")


def _lead(wall: pd.Timestamp, name: str, given: object) -> str:
    shown = given if given is not None else str(wall)
    return (
        f"{name}: {shown!r} does not exist or is ambiguous in Paris local time "
        "(daylight saving change): "
    )


def _ambiguous_message(wall: pd.Timestamp, name: str, given: object) -> str:
    first = wall.tz_localize(PARIS_TZ, ambiguous=True)
    second = wall.tz_localize(PARIS_TZ, ambiguous=False)
    fmt = "%Y-%m-%dT%H:%MZ"
    offset = second.strftime("%z")
    return (
        _lead(wall, name, given) + f"{wall:%Y-%m-%d %H:%M} happens twice, it is either "
        f"{first.tz_convert('UTC'):{fmt}} ({first.tzname()}) or "
        f"{second.tz_convert('UTC'):{fmt}} ({second.tzname()}); give an offset, e.g. "
        f"'{wall:%Y-%m-%dT%H:%M}{offset[:3]}:{offset[3:]}'"
    )


def _gap_message(wall: pd.Timestamp, name: str, given: object) -> str:
    before = wall.tz_localize(PARIS_TZ, nonexistent="shift_backward").floor("h")
    after = wall.tz_localize(PARIS_TZ, nonexistent="shift_forward")
    fmt = "%Y-%m-%dT%H:%MZ"
    return (
        _lead(wall, name, given) + f"{wall:%Y-%m-%d %H:%M} does not exist (the clocks go "
        f"forward); the nearest valid hours are {before:%Y-%m-%d %H:%M} {before.tzname()} "
        f"({before.tz_convert('UTC'):{fmt}}) and {after:%Y-%m-%d %H:%M} {after.tzname()} "
        f"({after.tz_convert('UTC'):{fmt}})"
    )


def hour_span(times: pd.Series | pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, NDArray[np.int64]]:
    """Return every hour from the first to the last of sorted times, and each time's position.

    Parameters
    ----------
    times : pandas.Series or pandas.DatetimeIndex
        One arc's times, sorted, on the hour (naive or aware; the result keeps the zone).

    Returns
    -------
    tuple of (pandas.DatetimeIndex, numpy.ndarray)
        The hourly index and, for each input time, its ``int64`` position in it.

    Examples
    --------
    >>> import pandas as pd
    >>> hours, pos = hour_span(pd.to_datetime(["2024-01-01 01:00", "2024-01-01 04:00"], utc=True))
    >>> len(hours), pos.tolist()
    (4, [0, 3])
    """
    import numpy as np
    import pandas as pd

    index = pd.DatetimeIndex(times)
    hours = pd.date_range(index[0], index[-1], freq="h")
    pos = np.asarray((index - index[0]) // pd.Timedelta(hours=1), dtype="int64")
    return hours, pos


def arc_hours(
    panel: pd.DataFrame, *, arcs: Iterable[int] | None = None
) -> Iterator[tuple[int, pd.DataFrame, pd.DatetimeIndex, NDArray[np.int64]]]:
    """Yield each arc's rows and its hours from first to last ``time`` (ascending arc ids).

    Parameters
    ----------
    panel : pandas.DataFrame
        Rows with ``arc_id`` and ``time``, sorted by time within each arc.
    arcs : iterable of int, optional
        Only these arcs.

    Yields
    ------
    tuple
        ``(arc_id, rows, hours, positions)``: the arc's rows, its hourly index (see
        :func:`hour_span`) and each row's position in it.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"arc_id": [2, 1, 1], "time": pd.to_datetime(
    ...     ["2024-01-01 01:00", "2024-01-01 01:00", "2024-01-01 03:00"], utc=True)})
    >>> [(arc, len(hours)) for arc, _, hours, _ in arc_hours(p)]
    [(1, 3), (2, 1)]
    """
    wanted = None if arcs is None else {int(a) for a in arcs}
    for arc, rows in panel.groupby("arc_id", sort=True):
        arc_id = int(cast("int", arc))
        if (wanted is not None and arc_id not in wanted) or rows.empty:
            continue
        hours, pos = hour_span(rows["time"])
        yield arc_id, rows, hours, pos
