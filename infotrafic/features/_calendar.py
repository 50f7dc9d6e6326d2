"""Calendar features in Paris local time: hour, weekday, seasons, holidays, bridges.

The panel's ``time`` is the **end** of the counting hour in UTC. Calendar features describe the
hour the traffic happened in, so they are computed from its **start** (``time - 1 h``) converted
to Europe/Paris wall-clock time: the row ``2023-02-01 08:00 UTC`` (09:00 Paris, end of hour)
covers 08:00-09:00 local and gets ``hour == 8``. Calendar values of a target hour are known in
advance, so they never leak.

French public holidays come from the ``holidays`` package. Paris school holidays (zone C) come
from the ``holidays`` package's French school calendar (category ``school``, subdivision
``Zone C``) from 2018 on, and from the table shipped in
``infotrafic/features/data/school_holidays_zone_c.csv`` (source named in the file) for the years
before; both are known for 2010-2027 only. A *bridge day* is a working day squeezed between two
days off of which at least one is a public holiday (e.g. the Friday after Ascension Thursday).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import ClassVar, Self

import holidays
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic.exceptions import ConfigurationError
from infotrafic.features._grid import F64, HistoryView
from infotrafic.features._registry import Column, NamedColumns, register_builder

__all__ = [
    "CALENDAR_FIELDS",
    "Calendar",
    "calendar_frame",
    "day_types",
    "is_public_holiday",
    "is_school_holiday",
    "school_holidays",
]

PARIS = "Europe/Paris"

#: Every field :class:`Calendar` can make.
CALENDAR_FIELDS: tuple[str, ...] = (
    "hour",
    "weekday",
    "month",
    "day_of_year",
    "hour_of_week",
    "hour_sin",
    "hour_cos",
    "hour_of_week_sin",
    "hour_of_week_cos",
    "day_of_year_sin",
    "day_of_year_cos",
    "public_holiday",
    "school_holiday",
    "bridge_day",
    "day_off",
)

_SCHOOL_FILE = "school_holidays_zone_c.csv"
_SCHOOL_RANGE = (2010, 2027)

# First year whose Paris school holidays come from the ``holidays`` package. Its zone C calendar
# starts with the 2017-2018 school year (All Saints' 2017), so 2018 is its first complete
# calendar year; the years before come from the shipped table. The package extrapolates its rules
# past the last calendar it cites (2027-2028), so the last year served stays 2027.
_SCHOOL_PACKAGE_FROM = 2018


def _runs(days: pd.Series) -> pd.DataFrame:
    """Group a date-indexed series of holiday names into ``start``/``end``/``name`` periods."""
    days = days.sort_index()
    dates = pd.Series(days.index, dtype="datetime64[ns]")
    names = pd.Series(days.to_numpy(dtype=object))
    new = (dates.diff() != pd.Timedelta(days=1)) | (names != names.shift())
    run = new.cumsum()
    periods = pd.DataFrame(
        {
            "start": dates.groupby(run).first(),
            "end": dates.groupby(run).last(),
            "name": names.groupby(run).first(),
        }
    )
    return periods.reset_index(drop=True)


def _expand(periods: pd.DataFrame) -> pd.Series:
    """Expand ``start``/``end``/``name`` periods to one row per day: the holiday name by date."""
    parts = [
        pd.Series(name, index=pd.date_range(start, end, freq="D"), dtype=object)
        for start, end, name in periods[["start", "end", "name"]].itertuples(index=False)
    ]
    days = pd.concat(parts) if parts else pd.Series(dtype=object)
    return days.set_axis(pd.DatetimeIndex(days.index).as_unit("ns"))


@lru_cache(maxsize=1)
def _table_school_holidays() -> pd.DataFrame:
    """Read the shipped table of Paris (zone C) school holiday periods, 2010-2027, as is."""
    path = resources.files("infotrafic.features").joinpath("data", _SCHOOL_FILE)
    with path.open("r", encoding="utf-8") as fh:
        table = pd.read_csv(fh, comment="#", parse_dates=["start", "end"])
    return table


@lru_cache(maxsize=8)
def _package_school_holidays(first_year: int, last_year: int) -> pd.DataFrame:
    """Return the ``holidays`` package's Paris (zone C) school holiday periods within the years."""
    calendar = holidays.country_holidays(
        "FR",
        subdiv="Zone C",
        years=range(first_year, last_year + 1),
        categories=holidays.SCHOOL,
        language="fr",
    )
    days = pd.Series(
        list(calendar.values()), index=pd.DatetimeIndex(list(calendar.keys())), dtype=object
    )
    return _runs(days)


@lru_cache(maxsize=1)
def school_holidays() -> pd.DataFrame:
    """Return the Paris (zone C) school holiday periods, 2010-2027.

    Days from 2018 on come from the ``holidays`` package's French school calendar
    (``categories="school"``, ``subdiv="Zone C"``), which starts with the 2017-2018 school year;
    the days before 2018, from the shipped table ``school_holidays_zone_c.csv``. A period spanning
    the cut-over (Christmas 2017) is one row. A period lists the calendar days without school for
    pupils, the weekends framing it included: from the day after the last class to the day before
    classes resume. (The table starts a summer holiday on the official "fin des cours" date even
    when that weekday is the last day of classes; the features documentation lists every day on
    which the two sources disagree.)

    Returns
    -------
    pandas.DataFrame
        Columns ``start``, ``end`` (inclusive calendar dates without school, ``datetime64[ns]``)
        and ``name`` (French, e.g. ``"Vacances d'été"``), sorted by ``start``.

    Examples
    --------
    >>> table = school_holidays()
    >>> table.iloc[0]["name"]
    'Vacances de Noël'
    >>> row = table[table["start"] == "2023-05-18"].iloc[0]  # from the package
    >>> row["name"], str(row["end"].date())
    ("Pont de l'Ascension", '2023-05-21')
    """
    cut = pd.Timestamp(_SCHOOL_PACKAGE_FROM, 1, 1)
    table = _expand(_table_school_holidays())
    package = _expand(_package_school_holidays(_SCHOOL_PACKAGE_FROM, _SCHOOL_RANGE[1]))
    return _runs(pd.concat([table[table.index < cut], package[package.index >= cut]]))


def _school_days(dates: pd.DatetimeIndex) -> F64:
    table = school_holidays()
    d = dates.normalize().tz_localize(None).as_unit("ns").asi8
    starts = table["start"].to_numpy("datetime64[ns]").astype(np.int64)
    ends = table["end"].to_numpy("datetime64[ns]").astype(np.int64)
    pos = np.searchsorted(starts, d, side="right") - 1
    inside = (pos >= 0) & (d <= ends[np.maximum(pos, 0)])
    out = inside.astype(np.float64)
    years = dates.year
    out[(years < _SCHOOL_RANGE[0]) | (years > _SCHOOL_RANGE[1])] = np.nan
    return out


def is_school_holiday(day: dt.date | str) -> bool:
    """Whether ``day`` falls in a Paris (zone C) school holiday.

    Parameters
    ----------
    day : datetime.date or str
        A calendar date in Paris (2010-2027).

    Returns
    -------
    bool

    Raises
    ------
    ConfigurationError
        Outside the years covered by the shipped table.

    Examples
    --------
    >>> is_school_holiday("2023-02-20"), is_school_holiday("2023-03-06")
    (True, False)
    """
    ts = pd.DatetimeIndex([pd.Timestamp(day)])
    value = _school_days(ts)[0]
    if np.isnan(value):
        raise ConfigurationError(
            f"school holidays are known for {_SCHOOL_RANGE[0]}-{_SCHOOL_RANGE[1]} only, got {day}"
        )
    return bool(value)


@lru_cache(maxsize=64)
def _french_holidays(years: tuple[int, ...]) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("FR", years=list(years)).keys())


def is_public_holiday(day: dt.date | str) -> bool:
    """Whether ``day`` is a French public holiday (metropolitan France).

    Parameters
    ----------
    day : datetime.date or str
        A calendar date.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_public_holiday("2023-07-14"), is_public_holiday("2023-07-13")
    (True, False)
    """
    date = pd.Timestamp(day).date()
    return date in _french_holidays((date.year,))


def _day_flags(days: pd.DatetimeIndex) -> tuple[F64, F64, F64]:
    """Public holiday, bridge day and day-off flags for naive local midnight dates."""
    if len(days) == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    first, last = days.min() - pd.Timedelta(days=1), days.max() + pd.Timedelta(days=1)
    span = pd.date_range(first, last, freq="D")
    hol_set = _french_holidays(tuple(range(first.year, last.year + 1)))
    hol = np.fromiter((d.date() in hol_set for d in span), dtype=bool, count=len(span))
    weekend = span.day_of_week.to_numpy() >= 5
    off = hol | weekend
    bridge = np.zeros(len(span), dtype=bool)
    prev_off, next_off = off[:-2], off[2:]
    either_hol = hol[:-2] | hol[2:]
    bridge[1:-1] = ~off[1:-1] & prev_off & next_off & either_hol
    pos = ((days - first) // pd.Timedelta(days=1)).to_numpy()
    return (
        hol[pos].astype(np.float64),
        bridge[pos].astype(np.float64),
        (off | bridge)[pos].astype(np.float64),
    )


def _hour_starts(times: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Paris wall-clock start of each end-of-hour UTC time, and its naive local midnight date."""
    start = (pd.DatetimeIndex(times) - pd.Timedelta(hours=1)).tz_convert(PARIS)
    return start, pd.DatetimeIndex(start.tz_localize(None).normalize())


def calendar_frame(times: pd.DatetimeIndex) -> pd.DataFrame:
    """Every calendar field for hourly UTC end-of-hour ``times``.

    Parameters
    ----------
    times : pandas.DatetimeIndex
        tz-aware end-of-hour times.

    Returns
    -------
    pandas.DataFrame
        One float64 column per name of :data:`CALENDAR_FIELDS`, indexed like ``times``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DatetimeIndex([pd.Timestamp("2023-07-14 09:00Z")])
    >>> calendar_frame(t)[["hour", "weekday", "public_holiday"]].iloc[0].tolist()
    [10.0, 4.0, 1.0]
    """
    start, days = _hour_starts(times)
    hour = start.hour.to_numpy().astype(np.float64)
    weekday = start.day_of_week.to_numpy().astype(np.float64)
    doy = start.day_of_year.to_numpy().astype(np.float64)
    how = weekday * 24 + hour
    hol, bridge, off = _day_flags(days)
    two_pi = 2 * np.pi
    cols: dict[str, F64] = {
        "hour": hour,
        "weekday": weekday,
        "month": start.month.to_numpy().astype(np.float64),
        "day_of_year": doy,
        "hour_of_week": how,
        "hour_sin": np.sin(two_pi * hour / 24),
        "hour_cos": np.cos(two_pi * hour / 24),
        "hour_of_week_sin": np.sin(two_pi * how / 168),
        "hour_of_week_cos": np.cos(two_pi * how / 168),
        "day_of_year_sin": np.sin(two_pi * doy / 365.25),
        "day_of_year_cos": np.cos(two_pi * doy / 365.25),
        "public_holiday": hol,
        "school_holiday": _school_days(days),
        "bridge_day": bridge,
        "day_off": off,
    }
    return pd.DataFrame(cols, index=times)


def day_types(times: pd.DatetimeIndex) -> NDArray[np.int8]:
    """Day type of hourly UTC end-of-hour ``times``, from the Paris date of each hour's start.

    ``0``: working day (bridge days included), ``1``: Saturday, ``2``: Sunday or French public
    holiday (a public holiday on a Saturday is type 2).

    Parameters
    ----------
    times : pandas.DatetimeIndex
        tz-aware end-of-hour times.

    Returns
    -------
    numpy.ndarray
        One int8 code per time.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DatetimeIndex(["2023-07-13 09:00Z", "2023-07-14 09:00Z", "2023-07-15 09:00Z"])
    >>> day_types(t).tolist()  # Thursday, Bastille Day (Friday), Saturday
    [0, 2, 1]
    """
    start, days = _hour_starts(times)
    weekday = start.day_of_week.to_numpy()
    hol, _, _ = _day_flags(days)
    out = np.where(weekday == 5, 1, 0).astype(np.int8)
    out[(weekday == 6) | (hol > 0)] = 2
    return out


@register_builder
@dataclass(frozen=True)
class Calendar(NamedColumns):
    """Calendar features of the target hour (Paris local time of the hour's start).

    Parameters
    ----------
    fields : tuple of str
        Names among :data:`CALENDAR_FIELDS`; columns keep these names.

    Examples
    --------
    >>> Calendar(fields=("hour", "weekday")).names(lead=1)
    ['hour', 'weekday']
    """

    kind: ClassVar[str] = "calendar"
    fields: tuple[str, ...] = (
        "hour",
        "weekday",
        "hour_of_week",
        "day_of_year_sin",
        "day_of_year_cos",
        "public_holiday",
        "school_holiday",
        "bridge_day",
        "day_off",
    )

    def __post_init__(self) -> None:
        bad = [f for f in self.fields if f not in CALENDAR_FIELDS]
        if bad:
            raise ConfigurationError(f"unknown calendar field(s) {bad}; use {CALENDAR_FIELDS}")

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return one unitless column per field, named after it (independent of the lead)."""
        return tuple(Column(f) for f in self.fields)

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return the default fields, and every field."""
        return (cls(), cls(CALENDAR_FIELDS))

    def required_columns(self) -> tuple[str, ...]:
        """Calendar features read no panel column."""
        return ()

    def lookback(self, lead: int) -> int | None:
        """Calendar values depend on the target hour only: 0."""
        return 0

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield ``(column, (1, n_hours) array)`` pairs."""
        frame = calendar_frame(view.times)
        for column in self.columns(view.lead):
            yield column, frame[column.name].to_numpy(dtype=np.float64)[None, :]
