"""Nixtla long frames: lossless round trips, the time convention, fill_gaps, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _panels import panels
from hypothesis import given, settings
from hypothesis import strategies as st

from infotrafic import to_hourly_grid, validate_panel
from infotrafic.datasets import load_sample
from infotrafic.exceptions import ConfigurationError, DataValidationError
from infotrafic.interop import from_nixtla, to_nixtla

H = pd.Timedelta(hours=1)


@settings(max_examples=60, deadline=None)
@given(panel=panels(), label=st.sampled_from(["end", "start"]), naive=st.booleans())
def test_round_trip_of_the_whole_panel_is_exact(panel: pd.DataFrame, label: str, naive: bool):
    before = panel.copy()
    df = to_nixtla(panel, exog="all", label=label, naive=naive)
    pd.testing.assert_frame_equal(panel, before)  # input untouched
    assert df.columns[:3].tolist() == ["unique_id", "ds", "y"]
    assert len(df) == len(panel)
    assert str(df["unique_id"].dtype) == "int64"
    assert (df["ds"].dt.tz is None) == naive
    back = from_nixtla(df, label=label)
    pd.testing.assert_frame_equal(back, validate_panel(panel), check_exact=True)


@settings(max_examples=40, deadline=None)
@given(panel=panels())
def test_default_is_target_only_and_y_is_exact(panel: pd.DataFrame):
    df = to_nixtla(panel)
    assert df.columns.tolist() == ["unique_id", "ds", "y"]
    canonical = validate_panel(panel)
    np.testing.assert_array_equal(df["y"].to_numpy(), canonical["flow"].to_numpy())
    np.testing.assert_array_equal(
        df["ds"].to_numpy(), canonical["time"].dt.tz_localize(None).to_numpy()
    )
    back = from_nixtla(df)
    expected = validate_panel(panel[["arc_id", "time", "flow"]])
    pd.testing.assert_frame_equal(back, expected, check_exact=True)


@settings(max_examples=40, deadline=None)
@given(panel=panels())
def test_fill_gaps_gives_regular_series_and_returns_the_grid(panel: pd.DataFrame):
    df = to_nixtla(panel, exog="all", fill_gaps=True)
    steps = df.groupby("unique_id")["ds"].diff().dropna()
    assert (steps == H).all()
    spans = validate_panel(panel).groupby("arc_id")["time"].agg(["min", "max"])
    assert len(df) == int(((spans["max"] - spans["min"]) // H + 1).sum())
    pd.testing.assert_frame_equal(from_nixtla(df), to_hourly_grid(panel), check_exact=True)


@settings(max_examples=30, deadline=None)
@given(panel=panels())
def test_occupancy_as_target(panel: pd.DataFrame):
    df = to_nixtla(panel, target="occupancy", exog=["flow"])
    assert df.columns.tolist() == ["unique_id", "ds", "y", "flow"]
    back = from_nixtla(df, target="occupancy")
    expected = validate_panel(panel[["arc_id", "time", "flow", "occupancy"]])
    pd.testing.assert_frame_equal(back, expected, check_exact=True)


def test_round_trip_on_the_real_sample():
    panel = load_sample()
    # the real sample has absent hours and NaN values: the round trip must keep both
    spans = panel.groupby("arc_id")["time"].agg(["min", "max", "size"])
    assert ((spans["max"] - spans["min"]) // H + 1 > spans["size"]).any()
    assert panel["flow"].isna().any() and panel["occupancy"].isna().any()
    for label in ("end", "start"):
        df = to_nixtla(panel, exog="all", label=label)
        shift = H if label == "start" else pd.Timedelta(0)
        assert df["ds"].iloc[0] == (panel["time"].iloc[0] - shift).tz_localize(None)
        pd.testing.assert_frame_equal(from_nixtla(df, label=label), panel, check_exact=True)
    # mlforecast-style string ids come back as int arc ids
    df = to_nixtla(panel).assign(unique_id=lambda d: d["unique_id"].astype(str))
    back = from_nixtla(df)
    pd.testing.assert_frame_equal(
        back[["arc_id", "time", "flow"]], panel[["arc_id", "time", "flow"]]
    )


def test_forecast_frames_come_back_without_validation():
    ds = pd.date_range("2024-01-01 01:00", periods=3, freq="h")
    preds = pd.DataFrame({"unique_id": [7, 7, 7], "ds": ds, "LinearRegression": [-2.0, 1.0, 3.5]})
    with pytest.raises(DataValidationError, match="negative"):
        from_nixtla(preds, y="LinearRegression")
    back = from_nixtla(preds, y="LinearRegression", validate=False)
    assert back.columns.tolist() == ["arc_id", "time", "flow"]
    assert str(back["arc_id"].dtype) == "int64"
    assert back["time"].tolist() == list(ds.tz_localize("UTC"))
    assert back["flow"].tolist() == [-2.0, 1.0, 3.5]


def test_tz_aware_ds_is_converted_to_utc():
    utc = pd.to_datetime(["2023-10-29 00:00", "2023-10-29 01:00"], utc=True)
    ds = utc.tz_convert("Europe/Paris")  # 02:00 CEST then 02:00 CET: the repeated hour
    df = pd.DataFrame({"unique_id": [1, 1], "ds": ds, "y": [1.0, 2.0]})
    back = from_nixtla(df)
    assert back["time"].tolist() == [
        pd.Timestamp("2023-10-29 00:00", tz="UTC"),
        pd.Timestamp("2023-10-29 01:00", tz="UTC"),
    ]


def test_errors_name_the_column_and_the_fix():
    panel = load_sample().head(5)
    with pytest.raises(ConfigurationError, match="label"):
        to_nixtla(panel, label="middle")  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="target 'speed'"):
        to_nixtla(panel, target="speed")
    with pytest.raises(DataValidationError, match="exogenous"):
        to_nixtla(panel, exog=["flow"])
    with pytest.raises(ConfigurationError, match="exog=\\['occupancy'\\]"):
        to_nixtla(panel, exog="occupancy")
    df = to_nixtla(panel)
    with pytest.raises(DataValidationError, match="missing column"):
        from_nixtla(df.drop(columns="ds"))
    with pytest.raises(DataValidationError, match="clash"):
        from_nixtla(df.assign(flow=1.0))
    with pytest.raises(DataValidationError, match="pd.to_datetime"):
        from_nixtla(df.assign(ds=df["ds"].astype(str)))
