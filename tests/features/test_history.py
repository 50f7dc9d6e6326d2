from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from infotrafic.exceptions import ConfigurationError, DataValidationError
from infotrafic.features import (
    EWM,
    Calendar,
    FeatureSpec,
    Lags,
    LastValue,
    MissingIndicator,
    ProfileDeviation,
    Rolling,
    SameDayType,
    SameHourOfWeek,
    SeasonalDiff,
    build_features,
    day_types,
    seasonal_lag,
)


def _series(panel: pd.DataFrame, arc: int, col: str = "flow") -> pd.Series:
    g = panel[panel.arc_id == arc].set_index("time")[col]
    return g.asfreq("h")


def test_table_layout_and_dtypes(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel()
    X = build_features(panel, [Lags(lags=(1, 24)), Calendar(("hour",))])
    assert list(X.columns) == ["arc_id", "time", "y", "flow_lag1", "flow_lag24", "hour"]
    assert X["arc_id"].dtype == "int64"
    assert str(X["time"].dtype) == "datetime64[ns, UTC]"
    assert X["y"].dtype == "float64"
    assert X["flow_lag1"].dtype == "float32"
    assert len(X) == len(panel)  # synthetic panel is already on the full grid
    np.testing.assert_array_equal(X["y"].to_numpy(), panel["flow"].to_numpy())


def test_grid_fills_missing_hours_and_keeps_arc_spans(
    make_panel: Callable[..., pd.DataFrame],
) -> None:
    panel = make_panel(n_hours=50)
    # drop hours 10..14 of arc 100 and the last 5 hours of arc 101
    gap = panel[(panel.arc_id == 100) & panel.index.isin(range(10, 15))].index
    panel = panel.drop(gap).drop(panel[panel.arc_id == 101].index[-5:])
    X = build_features(panel, [Lags(lags=(1,))])
    assert (X.arc_id == 100).sum() == 50
    assert (X.arc_id == 101).sum() == 45
    assert X.loc[X.arc_id == 100, "y"].iloc[10:15].isna().all()


def test_lags_match_pandas_shift(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel()
    X = build_features(panel, [Lags(lags=(1, 3, 168)), Lags("occupancy", lags=(2,))])
    for arc in (100, 101):
        s = _series(panel, arc)
        got = X[X.arc_id == arc].set_index("time")
        for k in (1, 3, 168):
            np.testing.assert_allclose(got[f"flow_lag{k}"], s.shift(k).astype("float32"))
        occ = _series(panel, arc, "occupancy")
        np.testing.assert_allclose(got["occupancy_lag2"], occ.shift(2).astype("float32"))


@pytest.mark.parametrize("stat", ["mean", "std", "min", "max"])
def test_rolling_matches_pandas(stat: str, make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel()
    X = build_features(panel, [Rolling(windows=(5, 24), stats=(stat,), min_periods=2)], lead=2)
    for arc in (100, 101):
        s = _series(panel, arc).shift(2)
        got = X[X.arc_id == arc].set_index("time")
        for w in (5, 24):
            want = getattr(s.rolling(w, min_periods=2), stat)()
            np.testing.assert_allclose(
                got[f"flow_rolling_{stat}_lag2_window{w}"], want.astype("float32"), rtol=1e-4
            )


def test_last_value_and_age() -> None:
    times = pd.date_range("2024-01-01 01:00", periods=6, freq="h", tz="UTC")
    panel = pd.DataFrame(
        {"arc_id": 1, "time": times, "flow": [5.0, np.nan, np.nan, 8.0, np.nan, np.nan]}
    )
    X = build_features(panel, [LastValue(max_age=2)], lead=1)
    assert X["flow_last_lag1"].tolist()[1:] == [5.0, 5.0, 5.0, 8.0, 8.0]
    assert X["flow_age_lag1"].tolist()[1:] == [0.0, 1.0, 2.0, 0.0, 1.0]
    assert np.isnan(X["flow_last_lag1"].iloc[0])
    X3 = build_features(panel, [LastValue(max_age=1)], lead=1)
    assert np.isnan(X3["flow_last_lag1"].iloc[3])  # value 5.0 is 2 h old there


def test_same_hour_of_week_mean(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel(n_hours=168 * 5)
    X = build_features(panel, [SameHourOfWeek(weeks=(1, 3))], lead=5)
    s = _series(panel, 100)
    want = pd.concat([s.shift(168 * i) for i in (1, 2, 3)], axis=1).mean(axis=1)
    got = X[X.arc_id == 100].set_index("time")
    np.testing.assert_allclose(
        got["flow_how_mean_lag168_weeks3"], want.astype("float32"), rtol=1e-5
    )
    np.testing.assert_allclose(got["flow_how_mean_lag168_weeks1"], s.shift(168).astype("float32"))


def test_same_hour_of_week_beyond_a_week_lead() -> None:
    assert SameHourOfWeek(weeks=(2,)).names(lead=200) == ["flow_how_mean_lag336_weeks2"]
    assert seasonal_lag(168, 168) == 168 and seasonal_lag(168, 169) == 336


@pytest.mark.parametrize(
    ("lead", "days", "max_days"), [(1, (1, 5), 35), (2, (2,), 3), (30, (1, 3), 9)]
)
def test_same_day_type_values(
    make_panel: Callable[..., pd.DataFrame], lead: int, days: tuple[int, ...], max_days: int
) -> None:
    # 2023-03-20 .. 2023-04-14: a DST change (26 March) and Easter Monday (10 April)
    panel = make_panel(n_hours=600, missing=0.05)
    X = build_features(panel, [SameDayType(days=days, max_days=max_days)], lead=lead)
    s = _series(panel, 100)
    got = X[X.arc_id == 100].set_index("time")
    for n in days:
        means, muls = [], []
        for t in s.index:
            kind = day_types(pd.DatetimeIndex([t]))[0]
            ks = [
                k
                for k in range(max(1, -(-lead // 24)), max_days + 1)
                if day_types(pd.DatetimeIndex([t - pd.Timedelta(hours=24 * k)]))[0] == kind
            ][:n]
            a = np.array([s.get(t - pd.Timedelta(hours=24 * k), np.nan) for k in ks])
            b = np.array([s.get(t - pd.Timedelta(hours=lead + 24 * k), np.nan) for k in ks])
            r = s.get(t - pd.Timedelta(hours=lead), np.nan)
            known = ~np.isnan(a)
            means.append(a[known].mean() if known.any() else np.nan)
            pair = known & ~np.isnan(b)
            ok = pair.any() and b[pair].sum() > 0
            muls.append(r * a[pair].sum() / b[pair].sum() if ok else np.nan)
        np.testing.assert_allclose(
            got[f"flow_daytype_days{n}_max{max_days}"], np.asarray(means, np.float32), rtol=1e-5
        )
        np.testing.assert_allclose(
            got[f"flow_daytype_mul_lag{lead}_days{n}_max{max_days}"],
            np.asarray(muls, np.float32),
            rtol=1e-5,
        )
        assert got[f"flow_daytype_days{n}_max{max_days}"].notna().mean() > 0.5


def test_same_day_type_reads_a_comparable_day(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel(n_hours=600, missing=0.0)
    X = build_features(panel, [SameDayType(days=(1,))], lead=1).set_index(["arc_id", "time"])
    got = X["flow_daytype_days1_max35"]
    s = _series(panel, 101)

    def utc(local: str) -> pd.Timestamp:
        return pd.Timestamp(local, tz="Europe/Paris").tz_convert("UTC")

    pairs = [
        ("2023-04-03 10:00", "2023-03-31 10:00"),  # Monday reads Friday, not Sunday
        ("2023-04-04 10:00", "2023-04-03 10:00"),  # Tuesday reads Monday
        ("2023-04-08 10:00", "2023-04-01 10:00"),  # Saturday reads last Saturday
        ("2023-04-10 10:00", "2023-04-09 10:00"),  # Easter Monday (holiday) reads Sunday
        ("2023-04-11 10:00", "2023-04-07 10:00"),  # the Tuesday after it reads Friday
    ]
    for target, source in pairs:
        assert got[(101, utc(target))] == pytest.approx(s[utc(source)], rel=1e-6), target


def test_same_day_type_rejects_max_days() -> None:
    with pytest.raises(ConfigurationError, match="max_days"):
        SameDayType(max_days=0)
    with pytest.raises(ConfigurationError, match="days"):
        SameDayType(days=(0,))


def test_seasonal_diff_values(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel(n_hours=400, missing=0.0)
    X = build_features(panel, [SeasonalDiff(season=168, multiplicative=True)], lead=1)
    s = _series(panel, 101)
    got = X[X.arc_id == 101].set_index("time")
    diff = s.shift(1) - s.shift(169)
    np.testing.assert_allclose(got["flow_sdiff_lag1_season168"], diff.astype("float32"), rtol=1e-5)
    np.testing.assert_allclose(
        got["flow_sadj_lag168_season168"], (s.shift(168) + diff).astype("float32"), rtol=1e-5
    )
    before = s.shift(169).where(s.shift(169) > 0)
    np.testing.assert_allclose(
        got["flow_smul_lag168_season168"],
        (s.shift(168) * s.shift(1) / before).astype("float32"),
        rtol=1e-5,
    )
    assert got["flow_smul_lag168_season168"].iloc[169:].notna().any()
    plain = build_features(panel, [SeasonalDiff(season=168)], lead=1)
    assert "flow_smul_lag168_season168" not in plain.columns


def test_ewm_matches_pandas_adjusted_with_missing(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel(n_hours=300)
    X = build_features(panel, [EWM(halflives=(6,))], lead=1)
    s = _series(panel, 100).shift(1)
    want = s.ewm(halflife=6, adjust=True, ignore_na=False).mean()
    got = X[X.arc_id == 100].set_index("time")["flow_ewm_lag1_halflife6"]
    np.testing.assert_allclose(got, want.astype("float32"), rtol=1e-4)


def test_missing_indicator(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel(n_hours=100)
    X = build_features(panel, [MissingIndicator(window=10)], lead=1)
    s = _series(panel, 100).shift(1)
    got = X[X.arc_id == 100].set_index("time")
    np.testing.assert_array_equal(got["flow_missing_lag1"], s.isna().astype("float32"))
    share = s.isna().astype(float).rolling(10, min_periods=1).sum() / 10
    # the first hours: hours before the grid start count as missing
    np.testing.assert_allclose(got["flow_missing_share_lag1_window10"].iloc[10:], share.iloc[10:])


def test_lag_below_lead_is_refused(make_panel: Callable[..., pd.DataFrame]) -> None:
    with pytest.raises(ConfigurationError, match="below the lead"):
        build_features(make_panel(n_hours=10), [Lags(lags=(1, 2))], lead=2)


def test_bad_parameters_and_duplicates() -> None:
    with pytest.raises(ConfigurationError):
        Rolling(stats=("median",))
    with pytest.raises(ConfigurationError, match="duplicate"):
        FeatureSpec((Lags(lags=(1,)), Lags(lags=(1, 2))))
    with pytest.raises(ConfigurationError):
        FeatureSpec((Lags(),), lead=0)


def test_spec_json_round_trip_every_builder(make_panel: Callable[..., pd.DataFrame]) -> None:
    spec = FeatureSpec(
        (
            Lags(lags=(2, 168)),
            LastValue("occupancy", max_age=5),
            Rolling(windows=(3, 24), stats=("mean", "std", "min", "max")),
            SameHourOfWeek(weeks=(2, 4)),
            SeasonalDiff(season=24),
            EWM(halflives=(12,)),
            MissingIndicator(window=6),
            ProfileDeviation(weeks=2),
            Calendar(("hour", "school_holiday")),
        ),
        lead=2,
    )
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    assert again.feature_names() == spec.feature_names()
    panel = make_panel(n_hours=200)
    pd.testing.assert_frame_equal(spec.build(panel), again.build(panel))
    with pytest.raises(ConfigurationError):
        FeatureSpec.from_dict({"lead": 1, "builders": [{"kind": "nope"}]})


def test_input_not_mutated_and_unsorted_input(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel(n_hours=60)
    shuffled = panel.sample(frac=1.0, random_state=1)
    before = shuffled.copy()
    X1 = build_features(shuffled, [Lags(lags=(1,)), Rolling()])
    pd.testing.assert_frame_equal(shuffled, before)
    X2 = build_features(panel, [Lags(lags=(1,)), Rolling()])
    pd.testing.assert_frame_equal(X1, X2)


def test_invalid_panels_raise_data_validation_error(
    make_panel: Callable[..., pd.DataFrame],
) -> None:
    panel = make_panel(n_hours=5)
    with pytest.raises(DataValidationError, match="duplicated"):
        build_features(pd.concat([panel, panel.iloc[:1]]), [Lags(lags=(1,))])
    with pytest.raises(DataValidationError, match="tz-aware"):
        build_features(panel.assign(time=panel.time.dt.tz_localize(None)), [Lags(lags=(1,))])
    with pytest.raises(DataValidationError, match="negative"):
        build_features(panel.assign(flow=-1.0), [Lags(lags=(1,))])
    with pytest.raises(DataValidationError, match="missing column"):
        build_features(panel.drop(columns="flow"), [Lags(lags=(1,))])


def test_targets_rows_in_order_and_beyond_the_panel(
    make_panel: Callable[..., pd.DataFrame],
) -> None:
    panel = make_panel(n_hours=48)
    last = panel.time.max()
    targets = pd.DataFrame(
        {
            "arc_id": [101, 100, 999],
            "time": [last + pd.Timedelta(hours=1), panel.time.iloc[5], last],
        }
    )
    X = build_features(panel, [Lags(lags=(1,)), Calendar(("hour",))], targets=targets)
    assert X["arc_id"].tolist() == [101, 100, 999]
    s101 = _series(panel, 101)
    assert X["flow_lag1"].iloc[0] == np.float32(s101.iloc[-1]) or np.isnan(s101.iloc[-1])
    assert np.isnan(X["y"].iloc[0])  # beyond the panel: no truth
    assert np.isnan(X["flow_lag1"].iloc[2])  # unknown arc: no history ...
    assert not np.isnan(X["hour"].iloc[2])  # ... but a calendar


def test_profile_deviation_values(make_panel: Callable[..., pd.DataFrame]) -> None:
    panel = make_panel(n_hours=168 * 4, missing=0.0)
    X = build_features(
        panel, [ProfileDeviation(weeks=2, hours=(1, 3), multiplicative=True)], lead=1
    )
    s = _series(panel, 100)
    prof = (s.shift(168) + s.shift(336)) / 2  # profile aligned with each hour
    dev = s - prof
    got = X[X.arc_id == 100].set_index("time")
    np.testing.assert_allclose(
        got["flow_profdev_lag1_hours1"].iloc[400:],
        dev.shift(1).iloc[400:].astype("float32"),
        rtol=1e-4,
    )
    dev3 = dev.shift(1).rolling(3).mean()
    np.testing.assert_allclose(
        got["flow_profdev_lag1_hours3"].iloc[400:], dev3.iloc[400:].astype("float32"), rtol=1e-4
    )
    adj = prof + dev.shift(1)
    np.testing.assert_allclose(
        got["flow_profadj_lag168_weeks2_hours1"].iloc[400:],
        adj.iloc[400:].astype("float32"),
        rtol=1e-4,
    )
    # multiplicative: the target hour's profile times sum(y) / sum(profile) of the last 3 h
    ratio3 = s.shift(1).rolling(3).sum() / prof.shift(1).rolling(3).sum()
    np.testing.assert_allclose(
        got["flow_profmul_lag168_weeks2_hours3"].iloc[400:],
        (prof * ratio3).iloc[400:].astype("float32"),
        rtol=1e-4,
    )
