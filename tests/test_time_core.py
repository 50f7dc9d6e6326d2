"""The time core: named DST policies, the one rule for user times, and every entry point agreeing.

The property test feeds the same local times (naive on both 2023 change days and ordinary days,
aware, dates) to ``backtest.parse_time``, ``BacktestConfig.create``, the portal client's query
(read back from a real loopback server's request log), ``ParquetStore.read`` bounds and the
``infotrafic fetch`` command, and checks they give the same instant or all refuse.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infotrafic import to_hourly_grid
from infotrafic._time import arc_hours, hour_span, parse_user_time, to_utc, wall_clock_kinds
from infotrafic.backtest import BacktestConfig, parse_time
from infotrafic.cli import main
from infotrafic.etl import ParquetStore, paris_to_utc
from infotrafic.exceptions import ConfigurationError
from infotrafic.opendata import OpenDataClient
from infotrafic.opendata._query import make_slices
from infotrafic.opendata._query import to_utc as query_time
from infotrafic.testing import OpenDataServer

SPRING, AUTUMN = "2023-03-26 02:00", "2023-10-29 02:00"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# ---------------------------------------------------------------------- policies, unit tests
@pytest.mark.parametrize(
    ("wall", "summer", "standard"),
    [
        (AUTUMN, "2023-10-29 00:00", "2023-10-29 01:00"),
        ("1995-09-24 02:00", "1995-09-24 00:00", "1995-09-24 01:00"),  # September before 1996
        ("2100-10-31 02:00", "2100-10-31 00:00", "2100-10-31 01:00"),  # past pytz's 2037
    ],
)
def test_ambiguous_policies(wall: str, summer: str, standard: str) -> None:
    assert to_utc(wall, ambiguous="summer") == utc(summer)
    assert to_utc(wall, ambiguous="standard") == utc(standard)
    assert to_utc(wall, ambiguous="NaT") is pd.NaT
    with pytest.raises(ConfigurationError) as err:
        to_utc(wall)
    message = str(err.value)
    assert f"{utc(summer):%Y-%m-%dT%H:%MZ} (CEST)" in message
    assert f"{utc(standard):%Y-%m-%dT%H:%MZ} (CET)" in message
    assert f"'{pd.Timestamp(wall):%Y-%m-%dT%H:%M}+01:00'" in message  # how to write it


@pytest.mark.parametrize(
    ("wall", "before", "after"),
    [
        (SPRING, "2023-03-26 00:00", "2023-03-26 01:00"),
        ("2023-03-26 02:30", "2023-03-26 00:00", "2023-03-26 01:00"),
        ("1995-03-26 02:00", "1995-03-26 00:00", "1995-03-26 01:00"),
        ("2100-03-28 02:00", "2100-03-28 00:00", "2100-03-28 01:00"),
    ],
)
def test_nonexistent_policies(wall: str, before: str, after: str) -> None:
    assert to_utc(wall, nonexistent="shift_forward") == utc(after)
    assert to_utc(wall, nonexistent="NaT") is pd.NaT
    with pytest.raises(ConfigurationError, match="does not exist") as err:
        to_utc(wall, name="--start")
    message = str(err.value)
    assert message.startswith("--start: ")
    assert f"({utc(before):%Y-%m-%dT%H:%MZ})" in message  # the hour before the gap
    assert f"({utc(after):%Y-%m-%dT%H:%MZ})" in message  # the first hour after it


def test_ordinary_times_ignore_the_policies() -> None:
    for amb in ("raise", "summer", "standard", "NaT"):
        for gap in ("raise", "shift_forward", "NaT"):
            assert to_utc("2023-01-15 10:00", ambiguous=amb, nonexistent=gap) == utc(  # type: ignore[arg-type]
                "2023-01-15 09:00"
            )
            assert to_utc("2023-07-15 10:00", ambiguous=amb, nonexistent=gap) == utc(  # type: ignore[arg-type]
                "2023-07-15 08:00"
            )
    assert to_utc("2023-10-29T02:00+02:00") == utc("2023-10-29 00:00")  # aware: exact
    with pytest.raises(ConfigurationError, match="ambiguous must be one of"):
        to_utc("2023-01-01", ambiguous="dst")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="nonexistent must be one of"):
        to_utc("2023-01-01", nonexistent="shift_backward")  # type: ignore[arg-type]


def test_shapes_series_index_list() -> None:
    s = pd.Series([AUTUMN, "2023-01-01 01:00", None], index=[7, 8, 9], name="t")
    out = to_utc(s, ambiguous="standard")
    assert list(out.index) == [7, 8, 9] and out.name == "t"
    assert out.iloc[:2].tolist() == [utc("2023-10-29 01:00"), utc("2023-01-01 00:00")]
    assert out.isna().tolist() == [False, False, True]  # missing stays missing
    idx = to_utc(pd.DatetimeIndex([SPRING, "2023-03-26 03:00"]), nonexistent="NaT")
    assert isinstance(idx, pd.DatetimeIndex) and str(idx.tz) == "UTC"
    assert idx.isna().tolist() == [True, False]
    with pytest.raises(ConfigurationError, match="happens twice"):
        to_utc(["2023-10-28 02:00", AUTUMN])  # the first offending value is named
    with pytest.raises(ConfigurationError, match="cannot read"):
        to_utc(["2023-01-01", "not a time"], name="t_1h")


def test_user_rule() -> None:
    assert parse_user_time("2023-06-01") == utc("2023-05-31 22:00")  # a date is Paris midnight
    assert parse_user_time(dt.date(2023, 1, 15)) == utc("2023-01-14 23:00")
    assert parse_user_time(pd.Timestamp("2023-07-15 10:00", tz="Europe/Paris")) == utc(
        "2023-07-15 08:00"
    )
    assert parse_user_time("2023-07-15 10:30", on_hour=False) == utc("2023-07-15 08:30")
    cases = [
        (AUTUMN, "does not exist or is ambiguous"),
        (SPRING, "does not exist or is ambiguous"),
        ("2023-07-15 10:30", "must fall on the hour"),
        ("not a date", "cannot read"),
        ("9999-12-31", "outside the supported range"),
        (None, "a date or time is required"),
    ]
    for value, words in cases:
        with pytest.raises(ConfigurationError, match=words) as err:
            parse_user_time(value, name="start")  # type: ignore[arg-type]
        assert str(err.value).startswith("start: ")


def test_file_rule_is_the_named_policy() -> None:
    """The ETL's rule for the portal's naive file times is to_utc with its named policies."""
    walls = pd.Series(pd.date_range("2023-10-28 22:00", "2023-10-29 05:00", freq="h"))
    walls = pd.concat([walls, pd.Series(pd.date_range(SPRING, periods=3, freq="h"))])
    expected = to_utc(walls, ambiguous="standard", nonexistent="NaT")
    assert paris_to_utc(walls).equals(expected)
    assert paris_to_utc(walls, ambiguous="summer").equals(
        to_utc(walls, ambiguous="summer", nonexistent="NaT")
    )


@pytest.mark.parametrize("year", [1996, 2023, 2037, 2038, 2100])
def test_vectorised_localisation_matches_the_tz_database(year: int) -> None:
    """The EU-rule fast path gives what the tz database says, past pytz's 2037 too."""
    walls = pd.DatetimeIndex(
        [*pd.date_range(f"{year}-03-20", f"{year}-04-02", freq="h"),
         *pd.date_range(f"{year}-10-20", f"{year}-11-02", freq="h")]
    )  # fmt: skip
    values, kinds = wall_clock_kinds(walls)
    zone = ZoneInfo("Europe/Paris")
    std = walls.tz_localize(zone, ambiguous=np.zeros(len(walls), bool), nonexistent="NaT")
    dst = walls.tz_localize(zone, ambiguous=np.ones(len(walls), bool), nonexistent="NaT")
    assert (kinds == 1).sum() == 1 and (kinds == 2).sum() == 1  # one hour twice, one missing
    assert np.array_equal(kinds == 2, np.asarray(std.isna()))
    assert np.array_equal(kinds == 1, np.asarray(std != dst) & ~np.asarray(std.isna()))
    expected = std.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    assert np.array_equal(values, expected, equal_nan=True)


def test_slices_cut_at_paris_midnight_across_the_changes() -> None:
    slices = make_slices([1], utc("2023-03-25 00:00"), utc("2023-03-28 00:00"), "D")
    starts = [utc("2023-03-25 23:00"), utc("2023-03-26 22:00"), utc("2023-03-27 22:00")]
    assert [s.start for s in slices[1:]] == starts  # CET midnight, then CEST midnights
    slices = make_slices([1], utc("2023-10-28 00:00"), utc("2023-10-31 00:00"), "D")
    starts = [utc("2023-10-28 22:00"), utc("2023-10-29 23:00"), utc("2023-10-30 23:00")]
    assert [s.start for s in slices[1:]] == starts


# ---------------------------------------------------------------------- arc hours
def test_hour_span_and_arc_hours() -> None:
    times = pd.to_datetime(["2023-10-28 23:00", "2023-10-29 00:00", "2023-10-29 03:00"], utc=True)
    hours, pos = hour_span(times)
    assert len(hours) == 5 and hours[0] == times[0] and hours[-1] == times[-1]
    assert pos.tolist() == [0, 1, 4] and pos.dtype == np.int64
    panel = pd.DataFrame({"arc_id": [5, 5, 3, 3, 3], "time": times[[0, 2, 0, 1, 2]]})
    got = [(a, len(rows), len(h), p.tolist()) for a, rows, h, p in arc_hours(panel)]
    assert got == [(3, 3, 5, [0, 1, 4]), (5, 2, 5, [0, 4])]
    assert [a for a, *_ in arc_hours(panel, arcs=[5])] == [5]
    grid = to_hourly_grid(panel.assign(flow=[1.0, 2.0, 3.0, 4.0, 5.0]))
    assert grid.groupby("arc_id").size().tolist() == [5, 5]


# ---------------------------------------------------------------------- every entry point agrees
_REFUSED = "refused"
Outcome = pd.Timestamp | str


def _outcome(call: Callable[[], pd.Timestamp]) -> Outcome:
    try:
        return call()
    except ConfigurationError as exc:
        assert "does not exist or is ambiguous" in str(exc), exc
        return _REFUSED


_DAYS = st.one_of(
    st.sampled_from([dt.date(2023, 3, 26), dt.date(2023, 10, 29)]),
    st.dates(min_value=dt.date(2023, 1, 2), max_value=dt.date(2023, 12, 30)),
)


@st.composite
def local_times(draw: st.DrawFn) -> tuple[str | dt.date, str]:
    """A time as a user writes it, and how the CLI receives it (always a string)."""
    day = draw(_DAYS)
    hour = draw(st.one_of(st.sampled_from([1, 2, 3]), st.integers(0, 23)))  # 2 am: the changes
    kind = draw(st.sampled_from(["naive", "naive_t", "offset", "utc", "date", "date_obj"]))
    wall = f"{day:%Y-%m-%d}"
    text: str
    if kind == "naive":
        text = f"{wall} {hour:02d}:00"
    elif kind == "naive_t":
        text = f"{wall}T{hour:02d}:00:00"
    elif kind == "offset":
        text = f"{wall}T{hour:02d}:00{draw(st.sampled_from(['+01:00', '+02:00']))}"
    elif kind == "utc":
        text = f"{wall}T{hour:02d}:00Z"
    else:
        text = wall
    value: str | dt.date = day if kind == "date_obj" else text
    return value, text


@pytest.fixture(scope="module")
def server() -> Iterator[OpenDataServer]:
    with OpenDataServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ParquetStore:
    hours = pd.date_range("2022-12-30 00:00", "2024-01-02 00:00", freq="h", tz="UTC")
    s = ParquetStore(tmp_path_factory.mktemp("store"))
    s.ingest(pd.DataFrame({"arc_id": 4264, "time": hours, "flow": 1.0}))
    return s


_GE = re.compile(r"t_1h >= date'([^']+)'")


def _sent_start(server: OpenDataServer) -> pd.Timestamp:
    """The lower bound of the first ``where`` the server received (the count of the range)."""
    sent = [r for r in server.requests if "where" in r.params]
    found = _GE.search(sent[0].params["where"][0])
    assert found is not None, sent[0].params
    return pd.Timestamp(found.group(1))


def _entry_points(
    value: str | dt.date, text: str, server: OpenDataServer, store: ParquetStore
) -> dict[str, Outcome]:
    def client_query() -> pd.Timestamp:
        server.clear_requests()
        with OpenDataClient(server.url) as client:
            client.count([4264], start=value)
        return _sent_start(server)

    def store_read() -> pd.Timestamp:
        lower = store.read(arcs=[4264], start=value, columns=["time"])["time"].min()
        upper = store.read(arcs=[4264], end=value, columns=["time"])["time"].max()
        assert upper + pd.Timedelta(hours=1) == lower  # both bounds read the same instant
        return pd.Timestamp(lower)

    def cli_fetch() -> pd.Timestamp:
        server.clear_requests()
        end = f"{pd.Timestamp(text).tz_localize(None) + pd.Timedelta(days=1):%Y-%m-%dT%H:%M}Z"
        out = Path(tempfile.mkdtemp()) / "s"
        run = CliRunner().invoke(
            main,
            ["fetch", "--base-url", server.url, "--arc", "4264", "--start", text, "--end", end,
             "--out", str(out), "--no-progress"],
            env={"INFOTRAFIC_MAX_RETRIES": "0"},
        )  # fmt: skip
        if run.exit_code != 0:
            assert "--start" in run.stderr, run.stderr
            raise ConfigurationError(run.stderr)
        return _sent_start(server)

    return {
        "backtest.parse_time": _outcome(lambda: parse_time(value, name="start")),
        "BacktestConfig.create": _outcome(
            lambda: BacktestConfig.create(start=value, end="2200-01-01T00:00Z").start
        ),
        "opendata.to_utc": _outcome(lambda: query_time(value)),
        "OpenDataClient.count": _outcome(client_query),
        "ParquetStore.read": _outcome(store_read),
        "infotrafic fetch": _outcome(cli_fetch),
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=local_times())
def test_every_entry_point_reads_a_time_the_same_way(
    case: tuple[str | dt.date, str], server: OpenDataServer, store: ParquetStore
) -> None:
    value, text = case
    outcomes = _entry_points(value, text, server, store)
    assert len({str(o) for o in outcomes.values()}) == 1, outcomes
    got = next(iter(outcomes.values()))
    stamp = pd.Timestamp(text)
    if isinstance(got, str):  # refused: only a naive wall clock that is not one instant
        assert stamp.tzinfo is None
        assert pd.isna(to_utc(stamp, ambiguous="NaT", nonexistent="NaT"))
    elif stamp.tzinfo is None:  # naive: the instant shows the same Paris wall clock
        assert got.tz_convert("Europe/Paris").tz_localize(None) == stamp
    else:
        assert got == stamp.tz_convert("UTC")


def test_the_change_hours_are_refused_everywhere(
    server: OpenDataServer, store: ParquetStore
) -> None:
    for text in (SPRING, AUTUMN, "2023-10-29T02:00:00"):
        outcomes = _entry_points(text, text, server, store)
        assert set(outcomes.values()) == {_REFUSED}, outcomes
        backtest = CliRunner().invoke(
            main,
            ["backtest", "--sample", "--model", "naive", "--start", text, "--end", "2023-11-05"],
        )  # the backtest command reads --start through BacktestConfig.create: the same rule
        assert backtest.exit_code == 1
        assert "does not exist or is ambiguous" in backtest.stderr, backtest.stderr
    # ... and given with an offset, they are one instant everywhere
    outcomes = _entry_points("2023-10-29T02:00+01:00", "2023-10-29T02:00+01:00", server, store)
    assert set(outcomes.values()) == {utc("2023-10-29 01:00")}, outcomes
