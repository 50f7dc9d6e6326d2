"""DST policy: non-existent and ambiguous hours, both regimes agree, property tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infotrafic.etl import paris_to_utc, read_file
from infotrafic.etl._time import TimeStatus, parse_times

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def _switches() -> list[dt.datetime]:
    """UTC instants of every Paris DST switch 2010-2030 (last Sundays of March and October)."""
    out = []
    for year in range(2010, 2031):
        for month in (3, 10):
            last = dt.date(year, month, 31)
            sunday = last - dt.timedelta(days=(last.weekday() + 1) % 7)
            out.append(dt.datetime(sunday.year, sunday.month, sunday.day, 1, tzinfo=UTC))
    return out


SWITCHES = _switches()
START = dt.datetime(2010, 1, 1, tzinfo=UTC)
END = dt.datetime(2030, 12, 31, tzinfo=UTC)
N_HOURS = int((END - START).total_seconds() // 3600)


def naive_text(instant: dt.datetime) -> str:
    return instant.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")


def offset_text(instant: dt.datetime) -> str:
    return instant.astimezone(PARIS).isoformat()


def is_first_of_repeated_hour(instant: dt.datetime) -> bool:
    """The summer-time occurrence of the fall-back local hour (its wall clock repeats)."""
    local = instant.astimezone(PARIS)
    later = (instant + dt.timedelta(hours=1)).astimezone(PARIS)
    return local.replace(tzinfo=None) == later.replace(tzinfo=None) or (
        local.fold == 0 and local.replace(fold=1).utcoffset() != local.utcoffset()
    )


hours = st.one_of(
    st.integers(0, N_HOURS).map(lambda h: START + dt.timedelta(hours=h)),
    st.builds(
        lambda s, d: s + dt.timedelta(hours=d), st.sampled_from(SWITCHES), st.integers(-3, 3)
    ),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hours, min_size=1, max_size=40))
def test_both_regimes_give_back_the_same_instant(instants: list[dt.datetime]) -> None:
    naive = parse_times(pd.Series([naive_text(t) for t in instants], dtype=object))
    offset = parse_times(pd.Series([offset_text(t) for t in instants], dtype=object))
    expected = np.array([np.datetime64(t.replace(tzinfo=None), "ns") for t in instants])
    # the offset regime is exact everywhere
    assert (offset.status == TimeStatus.OK).all()
    assert (offset.utc == expected).all()
    for i, instant in enumerate(instants):
        if is_first_of_repeated_hour(instant):
            # documented: a lone naive repeated hour is read as standard time (one hour later)
            assert naive.status[i] == TimeStatus.AMBIGUOUS
            assert naive.utc[i] == expected[i] + np.timedelta64(1, "h")
        else:
            assert naive.status[i] in (TimeStatus.OK, TimeStatus.AMBIGUOUS)
            assert naive.utc[i] == expected[i]
    # formatted instants never fall in the spring-forward gap
    assert not (naive.status == TimeStatus.NONEXISTENT).any()


@settings(max_examples=80, deadline=None)
@given(st.lists(hours, min_size=2, max_size=30, unique=True))
def test_naive_parsing_is_monotonic_outside_the_repeated_hour(instants: list[dt.datetime]) -> None:
    kept = sorted(t for t in instants if not is_first_of_repeated_hour(t))
    parsed = parse_times(pd.Series([naive_text(t) for t in kept], dtype=object)).utc
    assert (np.diff(parsed.astype("int64")) > 0).all()


@settings(max_examples=200, deadline=None)
@given(hours)
def test_paris_to_utc_round_trip(instant: dt.datetime) -> None:
    wall = pd.Timestamp(instant).tz_convert("Europe/Paris").tz_localize(None)
    back = paris_to_utc(wall)
    if is_first_of_repeated_hour(instant):
        assert back == pd.Timestamp(instant) + pd.Timedelta(hours=1)
        assert paris_to_utc(wall, ambiguous="summer") == pd.Timestamp(instant)
        assert paris_to_utc(wall, ambiguous="NaT") is pd.NaT
    else:
        assert back == pd.Timestamp(instant)
        # and formatting the UTC result again gives the same wall clock
        assert back.tz_convert("Europe/Paris").tz_localize(None) == wall


@given(st.sampled_from([s for s in SWITCHES if s.month == 3]))
def test_spring_forward_local_two_oclock_does_not_exist(switch: dt.datetime) -> None:
    wall = switch.astimezone(PARIS).replace(tzinfo=None)  # 03:00 local
    gap = pd.Timestamp(wall) - pd.Timedelta(hours=1)  # 02:00 local
    assert paris_to_utc(gap) is pd.NaT
    status = parse_times(pd.Series([str(gap)], dtype=object)).status
    assert status.tolist() == [TimeStatus.NONEXISTENT]


def test_paris_to_utc_shapes() -> None:
    s = pd.Series(["2023-07-01 12:00", "2023-03-26 02:00"], index=[5, 6])
    out = paris_to_utc(s)
    assert out.index.tolist() == [5, 6]
    assert out.iloc[0] == pd.Timestamp("2023-07-01 10:00", tz="UTC") and pd.isna(out.iloc[1])
    idx = paris_to_utc(["2023-01-01 01:00"])
    assert isinstance(idx, pd.DatetimeIndex) and idx[0] == pd.Timestamp("2023-01-01 00:00Z")
    assert paris_to_utc(pd.Timestamp("2023-01-01 01:00+01:00")) == pd.Timestamp("2023-01-01 00:00Z")


def _file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "dst.csv"
    path.write_text("iu_ac,t_1h,q,k\n" + "\n".join(rows) + "\n")
    return path


def test_spring_forward_empty_placeholder_dropped_and_counted(tmp_path: Path) -> None:
    res = read_file(
        _file(
            tmp_path,
            [
                "1,2023-03-26 01:00:00,10,1",
                "1,2023-03-26 02:00:00,,",  # the archive's empty placeholder
                "1,2023-03-26 03:00:00,,",
                "1,2023-03-26 04:00:00,40,4",
            ],
        )
    )
    f = res.report.files[0]
    assert f.dst_nonexistent_empty == 1 and f.n_quarantined == 0 and f.rows_loaded == 3
    assert res.panel["time"].dt.strftime("%H:%M").tolist() == ["00:00", "01:00", "02:00"]


def test_spring_forward_with_a_value_is_quarantined_never_shifted(tmp_path: Path) -> None:
    res = read_file(_file(tmp_path, ["1,2023-03-26 02:00:00,55,1", "1,2023-03-26 03:00:00,66,1"]))
    f = res.report.files[0]
    assert f.quarantined == {"dst_nonexistent": 1}
    assert res.quarantine.iloc[0][["line", "field", "reason", "raw"]].tolist() == [
        2,
        "t_1h",
        "dst_nonexistent",
        "2023-03-26 02:00:00",
    ]
    assert res.panel["flow"].tolist() == [66.0]
    assert res.panel["time"].tolist() == [pd.Timestamp("2023-03-26 01:00", tz="UTC")]


def test_fall_back_single_hour_is_standard_time(tmp_path: Path) -> None:
    res = read_file(
        _file(
            tmp_path,
            ["1,2022-10-30 01:00:00,1,1", "1,2022-10-30 02:00:00,2,1", "1,2022-10-30 03:00:00,3,1"],
        )
    )
    assert res.panel["time"].dt.strftime("%d %H:%M").tolist() == [
        "29 23:00",
        "30 01:00",
        "30 02:00",
    ]
    assert res.report.files[0].dst_ambiguous == 1


def test_fall_back_hour_twice_is_summer_then_standard(tmp_path: Path) -> None:
    res = read_file(
        _file(
            tmp_path,
            [
                "1,2022-10-30 01:00:00,1,1",
                "1,2022-10-30 02:00:00,2,1",
                "1,2022-10-30 02:00:00,3,1",
                "1,2022-10-30 03:00:00,4,1",
                "2,2022-10-30 02:00:00,9,1",  # another arc: single, standard time
            ],
        )
    )
    one = res.panel[res.panel["arc_id"] == 1]
    assert one["time"].dt.strftime("%d %H:%M").tolist() == [
        "29 23:00",
        "30 00:00",
        "30 01:00",
        "30 02:00",
    ]
    assert one["flow"].tolist() == [1.0, 2.0, 3.0, 4.0]
    two = res.panel[res.panel["arc_id"] == 2]
    assert two["time"].tolist() == [pd.Timestamp("2022-10-30 01:00", tz="UTC")]
    assert res.report.files[0].duplicates == 0


def test_fall_back_block_repeated_is_a_duplicate_not_a_dst_pair(tmp_path: Path) -> None:
    block = ["1,2022-10-30 01:00:00,1,1", "1,2022-10-30 02:00:00,2,1", "1,2022-10-30 03:00:00,3,1"]
    res = read_file(_file(tmp_path, block + block))
    assert res.report.files[0].duplicates == 3
    assert res.panel["time"].dt.strftime("%d %H:%M").tolist() == [
        "29 23:00",
        "30 01:00",
        "30 02:00",
    ]


def test_offset_regime_has_no_ambiguity(tmp_path: Path) -> None:
    res = read_file(
        _file(
            tmp_path,
            ["1,2022-10-30T02:00:00+02:00,2,1", "1,2022-10-30T02:00:00+01:00,3,1"],
        )
    )
    assert res.panel["time"].dt.strftime("%H:%M").tolist() == ["00:00", "01:00"]
    assert res.report.files[0].dst_ambiguous == 0


def test_every_real_fall_back_hour_matches_the_export(shared_data: Path) -> None:
    """Exports (offsets) vs archive (naive) for the overlapping real files, all hours."""
    pairs = [
        ("archive/arc4264_2022.csv.gz", "exports/arc4264_2022.csv.gz"),
        ("archive/arc4264_2023.csv.gz", "exports/arc4264_2022-11_2023-12.csv.gz"),
        ("archive/arc5672_2023.csv.gz", "exports/arc5672_2022-11_2023-12.csv.gz"),
    ]
    for arch, exp in pairs:
        a = read_file(shared_data / arch).panel.set_index("time")
        e = read_file(shared_data / exp).panel.set_index("time")
        common = a.index.intersection(e.index)
        assert len(common) > 5000
        fa, fe = a.loc[common, "flow"], e.loc[common, "flow"]
        both = fa.notna() & fe.notna()
        assert (fa[both] == fe[both]).mean() > 0.99, arch
        # a one-hour shift would make neighbouring hours agree instead
        shifted = a["flow"].shift(1, freq="h").reindex(common)
        assert (shifted[both] == fe[both]).mean() < 0.2
