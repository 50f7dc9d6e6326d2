"""Times, ODSQL filters and time slices."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infotrafic.exceptions import ConfigurationError
from infotrafic.opendata._query import make_slices, odsql_where, to_utc
from infotrafic.testing import compile_where


def test_naive_times_are_paris_wall_clock() -> None:
    assert to_utc("2023-07-01") == pd.Timestamp("2023-06-30 22:00", tz="UTC")
    assert to_utc("2023-01-01 10:00") == pd.Timestamp("2023-01-01 09:00", tz="UTC")
    assert to_utc("2023-01-01T10:00Z") == pd.Timestamp("2023-01-01 10:00", tz="UTC")
    # spring forward: 02:30 does not exist in Paris; the one rule for user times (issue #16)
    # refuses it and names the valid instants around it
    with pytest.raises(ConfigurationError, match=r"does not exist.*2023-03-26T00:00Z.*T01:00Z"):
        to_utc("2023-03-26 02:30")
    with pytest.raises(ConfigurationError):
        to_utc("not a date")


def test_where_is_understood_by_the_server_parser() -> None:
    where = odsql_where([4264, 5672], to_utc("2023-01-01"), to_utc("2023-02-01"))
    assert where == (
        "t_1h >= date'2022-12-31T23:00:00Z' AND t_1h < date'2023-01-31T23:00:00Z' "
        'AND iu_ac IN ("4264", "5672")'
    )
    frame = pd.DataFrame(
        {
            "iu_ac": ["4264", "5672", "191", "4264"],
            "t_1h": pd.to_datetime(
                ["2022-12-31 23:00", "2023-01-31 22:00", "2023-01-05 00:00", "2023-01-31 23:00"],
                utc=True,
            ),
        }
    )
    mask = compile_where(where, {"iu_ac": "text", "t_1h": "datetime"})(frame)
    assert mask.tolist() == [True, True, False, False]
    assert odsql_where([1], None, None) == 'iu_ac = "1"'
    assert odsql_where(None, None, None) is None


def test_monthly_slices_follow_paris_months() -> None:
    slices = make_slices([1], to_utc("2023-01-15"), to_utc("2023-04-01"))
    assert [s.label for s in slices] == ["2023-01-15 00:00", "2023-02-01 00:00", "2023-03-01 00:00"]
    assert slices[-1].end == pd.Timestamp("2023-03-31 22:00", tz="UTC")  # summer time
    assert len({s.key for s in slices}) == 3
    with pytest.raises(ConfigurationError):
        make_slices([1], to_utc("2023-02-01"), to_utc("2023-01-01"))


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=pd.Timestamp("2015-01-01"), max_value=pd.Timestamp("2030-01-01")),
    hours=st.integers(min_value=1, max_value=24 * 800),
    freq=st.sampled_from(["MS", "7D", "D", "14D"]),
)
def test_slices_cover_the_range_exactly(start: pd.Timestamp, hours: int, freq: str) -> None:
    begin = pd.Timestamp(start).floor("h").tz_localize("UTC")
    end = begin + pd.Timedelta(hours=hours)
    slices = make_slices([1, 2], begin, end, freq)
    assert slices[0].start == begin and slices[-1].end == end
    assert all(a.end == b.start for a, b in zip(slices[:-1], slices[1:], strict=True))
    assert all(s.start < s.end for s in slices)
