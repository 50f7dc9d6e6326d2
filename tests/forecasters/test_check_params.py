"""``check_params``: every hyper-parameter checked without data, as ``fit`` checks it."""

from __future__ import annotations

from typing import Any

import pytest

from infotrafic.datasets import load_sample
from infotrafic.exceptions import ConfigurationError
from infotrafic.forecasters import GBMForecaster, available_forecasters, make_forecaster

BAD_GBM: list[tuple[dict[str, Any], str]] = [
    ({"max_iter": -5}, "max_iter must be an integer >= 1"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"max_leaf_nodes": 1}, "max_leaf_nodes"),
    ({"min_samples_leaf": 0}, "min_samples_leaf"),
    ({"learning_rate": 0}, "learning_rate must be a number > 0"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"l2_regularization": -1.0}, "l2_regularization must be a number >= 0"),
    ({"subsample": 0.0}, "subsample must be in (0, 1]"),
    ({"colsample": "all"}, "colsample"),
    ({"max_bins": 256}, "max_bins must be an integer in [2, 255]"),
    ({"n_models": 0}, "n_models"),
    ({"max_train_rows": 0}, "max_train_rows must be None or an integer >= 1"),
    ({"train_window": -1}, "train_window"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"backend": "cuda"}, "backend must be"),
    ({"target_forms": "cubic"}, "target_forms"),
    ({"weight_by_level": True, "normalize": False}, "weight_by_level"),
    ({"horizon": 0}, "horizon"),
    ({"target": "speed"}, "target must be one of"),
]


@pytest.mark.parametrize(("params", "words"), BAD_GBM)
def test_check_params_refuses_what_fit_refuses(params: dict[str, Any], words: str) -> None:
    model = GBMForecaster(**params)
    with pytest.raises(ConfigurationError, match="GBMForecaster") as err:
        model.check_params()
    assert words in str(err.value)
    # fit refuses the same value (with data) before any learning
    with pytest.raises(ConfigurationError):
        model.set_params(max_iter=model.max_iter).fit(load_sample().head(400))


@pytest.mark.parametrize("name", ["naive", "seasonal_naive", "historical_average", "gbm"])
def test_defaults_pass_and_return_the_forecaster(name: str) -> None:
    assert name in available_forecasters()
    model = make_forecaster(name)
    assert model.check_params() is model  # type: ignore[attr-defined]


def test_good_non_default_values_pass() -> None:
    GBMForecaster(
        max_iter=1, max_bins=2, learning_rate=1e-3, n_jobs=-1, train_window=24
    ).check_params()
