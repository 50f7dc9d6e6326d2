"""Metrics against hand computations and simple properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infotrafic.backtest.metrics import bias, mae, mase, rmse, seasonal_scale, wmape

NAN = float("nan")


def test_hand_computed_values() -> None:
    y = [100.0, 200.0, 0.0, NAN, 50.0]
    p = [110.0, 180.0, 5.0, 70.0, NAN]
    # usable pairs: (100,110) (200,180) (0,5): errors +10, -20, +5
    assert mae(y, p) == pytest.approx(35 / 3)
    assert rmse(y, p) == pytest.approx(math.sqrt((100 + 400 + 25) / 3))
    assert bias(y, p) == pytest.approx(-5 / 3)
    assert wmape(y, p) == pytest.approx(35 / 300)
    assert mase(y, p, scale=7.0) == pytest.approx(35 / 3 / 7)


def test_seasonal_scale_and_mase_from_training_series() -> None:
    train = [1.0, 2.0, 3.0, 5.0, NAN, 9.0]
    # season 2: pairs (3,1) (5,2) (nan,3) (9,5): |2|, |3|, |4| -> mean 3
    assert seasonal_scale(train, season=2) == pytest.approx(3.0)
    assert mase([10.0], [16.0], train, season=2) == pytest.approx(2.0)
    assert math.isnan(seasonal_scale([1.0, 2.0], season=2))
    assert math.isnan(mase([1.0], [2.0], scale=0.0))
    with pytest.raises(ValueError, match="y_train or scale"):
        mase([1.0], [2.0])


def test_empty_and_all_nan() -> None:
    for f in (mae, rmse, bias, wmape):
        assert math.isnan(f([], []))
        assert math.isnan(f([NAN], [1.0]))
    assert math.isnan(wmape([0.0, 0.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="differ in length"):
        mae([1.0, 2.0], [1.0])


finite = st.floats(min_value=0, max_value=5000, allow_nan=False)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=50))
def test_properties(pairs: list[tuple[float, float]]) -> None:
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    assert mae(y, p) <= rmse(y, p) + 1e-9
    assert abs(bias(y, p)) <= mae(y, p) + 1e-9
    assert mae(y, p) == pytest.approx(mae(p, y))
    assert bias(y, p) == pytest.approx(-bias(p, y), abs=1e-9)
    # NaNs anywhere are ignored
    y2 = np.append(y, NAN)
    p2 = np.append(p, 1.0)
    assert mae(y2, p2) == pytest.approx(mae(y, p))
