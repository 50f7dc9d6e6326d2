"""Built-in forecasters for the contract test (see forecaster_cases.py)."""

from __future__ import annotations

from typing import Any

from infotrafic.forecasters import Forecaster, make_forecaster


def _gbm(backend: str, max_iter: int) -> Any:
    def factory(**kw: Any) -> Forecaster:
        return make_forecaster(
            "gbm", backend=backend, max_iter=max_iter, max_leaf_nodes=7, min_samples_leaf=5, **kw
        )

    return factory


CASES = [
    ("naive", lambda **kw: make_forecaster("naive", **kw)),
    ("naive_fill_last", lambda **kw: make_forecaster("naive", fill="last", **kw)),
    ("seasonal_naive", lambda **kw: make_forecaster("seasonal_naive", **kw)),
    ("seasonal_naive_24", lambda **kw: make_forecaster("seasonal_naive", season=24, **kw)),
    ("historical_average", lambda **kw: make_forecaster("historical_average", **kw)),
    ("historical_average_2w", lambda **kw: make_forecaster("historical_average", weeks=2, **kw)),
    ("gbm_sklearn", _gbm("sklearn", 3)),
    ("gbm_lightgbm", _gbm("lightgbm", 15)),
]

#: scikit-learn's absolute-error boosting is slow on tiny data (per-leaf weighted percentiles).
SLOW = {"gbm_sklearn"}
