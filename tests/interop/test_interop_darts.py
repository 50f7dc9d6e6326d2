"""Darts series: lossless round trips, metadata, forecasts back to frames, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _panels import panels
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("darts")

from infotrafic import validate_panel
from infotrafic.datasets import load_sample
from infotrafic.exceptions import DataValidationError
from infotrafic.interop import ABSENT_TIMES_KEY, from_darts, to_darts

H = pd.Timedelta(hours=1)
COLUMNS = ["arc_id", "time", "flow", "occupancy"]


@settings(max_examples=60, deadline=None)
@given(panel=panels(), label=st.sampled_from(["end", "start"]))
def test_round_trip_is_exact(panel: pd.DataFrame, label: str):
    before = panel.copy()
    series = to_darts(panel, columns=["flow", "occupancy"], label=label)
    pd.testing.assert_frame_equal(panel, before)
    canonical = validate_panel(panel)
    assert list(series) == sorted(canonical["arc_id"].unique().tolist())
    for arc, s in series.items():
        times = canonical.loc[canonical["arc_id"] == arc, "time"]
        shift = H if label == "start" else pd.Timedelta(0)
        assert s.start_time() == (times.min() - shift).tz_localize(None)
        assert len(s) == (times.max() - times.min()) // H + 1  # the whole grid
        assert len(s.metadata[ABSENT_TIMES_KEY]) == len(s) - len(times)
        assert s.metadata["arc_id"] == arc
    expected = validate_panel(panel[COLUMNS])
    pd.testing.assert_frame_equal(from_darts(series, label=label), expected, check_exact=True)
    # a list works too: each series carries its arc id
    from_list = from_darts(list(series.values()), label=label)
    pd.testing.assert_frame_equal(from_list, expected, check_exact=True)


@settings(max_examples=30, deadline=None)
@given(panel=panels())
def test_states_survive_as_float_components(panel: pd.DataFrame):
    series = to_darts(panel, columns=["flow", "traffic_state"])
    back = from_darts(series)
    expected = validate_panel(panel[["arc_id", "time", "flow", "traffic_state"]])
    pd.testing.assert_frame_equal(back, expected, check_exact=True)


def test_round_trip_on_the_real_sample():
    panel = load_sample()
    series = to_darts(panel, columns=["flow", "occupancy"])
    absent = sum(len(s.metadata[ABSENT_TIMES_KEY]) for s in series.values())
    assert absent > 0  # the real sample has absent hours
    assert all(s.time_index.tz is None and s.freq == H for s in series.values())
    back = from_darts(series)
    pd.testing.assert_frame_equal(back, validate_panel(panel[COLUMNS]), check_exact=True)
    # without the metadata (e.g. a series rebuilt elsewhere) absent hours come back as NaN rows
    bare = {
        arc: type(s).from_times_and_values(s.time_index, s.values(), columns=s.components)
        for arc, s in series.items()
    }
    grid = from_darts(bare)
    assert len(grid) == len(panel) + absent
    pd.testing.assert_frame_equal(
        grid.dropna(subset=["flow", "occupancy"], how="all").reset_index(drop=True),
        back.dropna(subset=["flow", "occupancy"], how="all").reset_index(drop=True),
    )


def test_a_darts_forecast_comes_back_as_a_frame():
    from darts.models import NaiveSeasonal

    panel = load_sample()
    panel = panel[panel["time"] < pd.Timestamp("2023-03-01", tz="UTC")]
    series = to_darts(panel)
    preds = []
    for s in series.values():
        # the last two weeks, gaps filled, for a model that wants whole series
        tail = s[-24 * 14 :]
        filled = type(s).from_times_and_values(
            tail.time_index,
            pd.DataFrame(tail.values()).ffill().bfill().to_numpy(),
            columns=tail.components,
            metadata=tail.metadata,
        )
        preds.append(NaiveSeasonal(K=24).fit(filled).predict(24))
    back = from_darts(preds, validate=False)  # arc ids from the metadata Darts copies
    assert back.columns.tolist() == ["arc_id", "time", "flow"]
    assert sorted(back["arc_id"].unique()) == sorted(series)
    last = panel.groupby("arc_id")["time"].max()
    for arc, rows in back.groupby("arc_id"):
        assert rows["time"].min() == last[arc] + H  # the hour after the last panel hour
        assert len(rows) == 24


def test_errors():
    panel = load_sample().head(5)
    with pytest.raises(DataValidationError, match="value columns"):
        to_darts(panel, columns=["speed"])
    series = to_darts(panel)
    s = next(iter(series.values()))
    bare = type(s).from_times_and_values(s.time_index, s.values(), columns=s.components)
    with pytest.raises(DataValidationError, match="mapping"):
        from_darts([bare])
    with pytest.raises(DataValidationError, match="component"):
        from_darts(series, columns=["flow", "occupancy"])
    assert from_darts({}).empty
    with pytest.raises(DataValidationError, match="numeric"):
        to_darts(panel.assign(note="x"), columns=["note"])
    np.testing.assert_array_equal(from_darts(series, validate=False)["flow"], panel["flow"])
