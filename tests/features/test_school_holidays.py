"""Paris school holidays: the ``holidays`` package from 2018, the shipped table before.

The two sources are compared day by day on every day both cover; each disagreement is listed
(with its source) in docs/features_and_forecasters.rst, so a new one fails here.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from infotrafic._schema import is_text
from infotrafic.features import calendar_frame, is_school_holiday, school_holidays
from infotrafic.features._calendar import (
    _expand,
    _package_school_holidays,
    _table_school_holidays,
)

# The package's zone C calendar starts with the 2017-2018 school year (classes resumed on Monday
# 4 September 2017); the table ends on 31 December 2027.
OVERLAP = (pd.Timestamp("2017-09-04"), pd.Timestamp("2027-12-31"))


def _days(first: str, last: str) -> set[dt.date]:
    return {d.date() for d in pd.date_range(first, last, freq="D")}


#: Days the shipped table counts as school holidays and the package does not.
TABLE_ONLY: set[dt.date] = (
    _days("2021-04-26", "2021-05-02")  # spring 2021: table keeps the pre-COVID dates
    | _days("2021-05-17", "2021-05-17")  # Ascension 2021: the day classes resumed
    | _days("2021-07-06", "2021-07-06")  # summer 2021: the last day of classes
    | _days("2022-07-07", "2022-07-07")  # summer 2022: the last day of classes
)

#: Days the package counts as school holidays and the shipped table does not.
PACKAGE_ONLY: set[dt.date] = (
    _days("2021-04-10", "2021-04-16")  # spring 2021: all zones 10-25 April (COVID-19)
    | _days("2021-09-01", "2021-09-01")  # pupils went back on Thursday 2 September 2021
    | _days("2023-05-18", "2023-05-21")  # Ascension bridges missing from the table
    | _days("2024-05-09", "2024-05-12")
    | _days("2025-05-29", "2025-06-01")
    | _days("2026-05-14", "2026-05-17")
    | _days("2027-05-09", "2027-05-09")  # the table ends Ascension 2027 on the Saturday
    | _days("2027-09-01", "2027-09-01")  # pupils go back on Thursday 2 September 2027
)


def _source_days(periods: pd.DataFrame) -> set[dt.date]:
    days = _expand(periods).index
    inside = (days >= OVERLAP[0]) & (days <= OVERLAP[1])
    return {d.date() for d in days[inside]}


def test_package_and_table_disagree_exactly_on_the_documented_days() -> None:
    table = _source_days(_table_school_holidays())
    package = _source_days(_package_school_holidays(2017, 2027))
    assert len(table & package) > 1000  # the comparison compares something
    assert table - package == TABLE_ONLY
    assert package - table == PACKAGE_ONLY


def test_package_zone_c_calendar_starts_with_the_2017_2018_school_year() -> None:
    periods = _package_school_holidays(2016, 2018)
    assert periods["start"].min() == pd.Timestamp("2017-10-21")  # All Saints' 2017


def test_school_holidays_use_the_package_from_2018_and_the_table_before() -> None:
    table = school_holidays()
    days = _expand(table)
    reference = _expand(_table_school_holidays())
    before = reference.index < pd.Timestamp("2018-01-01")
    pd.testing.assert_series_equal(days[days.index < "2018-01-01"], reference[before])
    package = _expand(_package_school_holidays(2018, 2027))
    pd.testing.assert_series_equal(days[days.index >= "2018-01-01"], package)
    # Christmas 2017 spans the cut-over but stays one period
    christmas = table[table["start"] == "2017-12-23"].iloc[0]
    assert christmas["end"] == pd.Timestamp("2018-01-07")
    assert christmas["name"] == "Vacances de Noël"


def test_school_holidays_keep_their_columns_dtypes_and_order() -> None:
    table = school_holidays()
    assert list(table.columns) == ["start", "end", "name"]
    assert table["start"].dtype == np.dtype("datetime64[ns]")
    assert table["end"].dtype == np.dtype("datetime64[ns]")
    assert is_text(table["name"])  # object on pandas 2, str on pandas 3
    assert table["start"].is_monotonic_increasing
    assert (table["start"].iloc[1:].to_numpy() > table["end"].iloc[:-1].to_numpy()).all()
    assert table["start"].min() == pd.Timestamp("2009-12-19")
    assert table["end"].max() == pd.Timestamp("2027-12-31")
    assert set(table["name"]) == {
        "Vacances de Noël",
        "Vacances d'hiver",
        "Vacances de printemps",
        "Pont de l'Ascension",
        "Vacances d'été",
        "Vacances de la Toussaint",
    }


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2017-07-10", True),  # table: summer 2017
        ("2021-04-12", True),  # package: spring 2021 moved to 10-25 April
        ("2021-04-26", False),
        ("2021-05-17", False),  # classes resumed after the Ascension bridge
        ("2022-07-07", False),  # last day of classes before summer 2022
        ("2022-07-08", True),
        ("2023-05-19", True),  # Ascension bridge 2023
        ("2023-05-22", False),
    ],
)
def test_is_school_holiday_follows_the_chosen_source(day: str, expected: bool) -> None:
    assert is_school_holiday(day) is expected


def test_calendar_feature_uses_the_package_periods() -> None:
    # 2023-05-19 09:00 UTC ends 10:00-11:00 Paris on the Friday of the Ascension bridge
    cal = calendar_frame(pd.DatetimeIndex([pd.Timestamp("2023-05-19 09:00Z")]))
    assert cal["school_holiday"].iloc[0] == 1.0
    assert cal["bridge_day"].iloc[0] == 1.0
