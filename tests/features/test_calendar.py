from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from infotrafic.exceptions import ConfigurationError
from infotrafic.features import (
    CALENDAR_FIELDS,
    Calendar,
    calendar_frame,
    is_public_holiday,
    is_school_holiday,
    school_holidays,
)


def _paris_end(local: str) -> pd.DatetimeIndex:
    """UTC end-of-hour times for Paris wall-clock end-of-hour strings."""
    return pd.DatetimeIndex([pd.Timestamp(local, tz="Europe/Paris").tz_convert("UTC")])


def test_calendar_uses_the_start_of_the_hour_in_paris_time() -> None:
    # the producer's row "2023-02-06 00:00" (Paris) covers Sunday 23:00-00:00
    cal = calendar_frame(_paris_end("2023-02-06 00:00"))
    assert cal["hour"].iloc[0] == 23
    assert cal["weekday"].iloc[0] == 6
    assert cal["hour_of_week"].iloc[0] == 6 * 24 + 23
    # summer time: 09:00 UTC end = 11:00 Paris end -> hour 10
    cal = calendar_frame(pd.DatetimeIndex([pd.Timestamp("2023-07-03 09:00Z")]))
    assert cal["hour"].iloc[0] == 10 and cal["weekday"].iloc[0] == 0


def test_dst_days_have_consecutive_local_hours() -> None:
    times = pd.date_range("2023-03-25 23:00", "2023-03-26 05:00", freq="h", tz="UTC")
    hours = calendar_frame(times)["hour"].tolist()
    assert hours == [23.0, 0.0, 1.0, 3.0, 4.0, 5.0, 6.0]  # 02:00 local does not exist


def test_cyclic_encodings_are_on_the_unit_circle() -> None:
    times = pd.date_range("2023-01-01", periods=400, freq="h", tz="UTC")
    cal = calendar_frame(times)
    for base in ("hour", "hour_of_week", "day_of_year"):
        np.testing.assert_allclose(cal[f"{base}_sin"] ** 2 + cal[f"{base}_cos"] ** 2, 1.0)
    assert list(cal.columns) == list(CALENDAR_FIELDS)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2023-07-14", True),
        ("2023-05-18", True),  # Ascension
        ("2023-05-29", True),  # Whit Monday
        ("2022-12-25", True),
        ("2023-07-13", False),
        ("2023-12-26", False),  # Saint Stephen: Alsace-Moselle only
    ],
)
def test_public_holidays(day: str, expected: bool) -> None:
    assert is_public_holiday(day) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # known zone C dates (Paris): Toussaint 2022 from Sat 22 Oct to Sun 6 Nov
        ("2022-10-21", False),
        ("2022-10-22", True),
        ("2022-11-06", True),
        ("2022-11-07", False),
        ("2023-02-20", True),  # winter 2023: 18 Feb - 5 Mar
        ("2023-03-06", False),
        ("2023-07-10", True),  # summer 2023 from 8 Jul
        ("2023-09-04", False),  # back to school
        ("2019-12-25", True),
        ("2010-02-22", True),  # winter 2010 zone C: 20 Feb - 7 Mar
        ("2027-02-10", True),
    ],
)
def test_school_holidays_zone_c(day: str, expected: bool) -> None:
    assert is_school_holiday(day) is expected


def test_school_table_covers_2010_2027_and_is_sorted() -> None:
    table = school_holidays()
    assert table["start"].is_monotonic_increasing
    assert (table["end"] >= table["start"]).all()
    assert table["start"].min().year <= 2010 and table["end"].max().year == 2027
    with pytest.raises(ConfigurationError, match="2010-2027"):
        is_school_holiday(dt.date(2030, 1, 1))
    far = calendar_frame(pd.DatetimeIndex([pd.Timestamp("2031-01-05 10:00Z")]))
    assert np.isnan(far["school_holiday"].iloc[0])


@pytest.mark.parametrize(
    ("day", "bridge"),
    [
        ("2023-05-19", True),  # Friday after Ascension Thursday
        ("2024-05-10", True),
        ("2025-05-02", True),  # Friday after May Day Thursday
        ("2026-07-13", True),  # Monday before Tuesday 14 July
        ("2022-11-10", False),  # Thursday before Friday 11 Nov: Friday is no bridge
        ("2023-05-17", False),
    ],
)
def test_bridge_days(day: str, bridge: bool) -> None:
    noon = pd.Timestamp(f"{day} 12:00", tz="Europe/Paris").tz_convert("UTC")
    cal = calendar_frame(pd.DatetimeIndex([noon]))
    assert bool(cal["bridge_day"].iloc[0]) is bridge
    if bridge:
        assert cal["day_off"].iloc[0] == 1.0


def test_calendar_builder_rejects_unknown_fields() -> None:
    with pytest.raises(ConfigurationError):
        Calendar(("hour", "moon_phase"))
