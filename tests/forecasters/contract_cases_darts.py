"""The Darts adapter in the shared contract test (skipped when Darts is not installed)."""

from __future__ import annotations

from typing import Any

import darts  # noqa: F401  (ImportError: the family is skipped by load_contract_cases)

from infotrafic.forecasters import Forecaster, make_forecaster


def _darts(name: str, **params: Any) -> Any:
    def factory(**kw: Any) -> Forecaster:
        return make_forecaster(f"darts:{name}", **params, **kw)

    return factory


CASES = [
    ("darts_naive_seasonal", _darts("NaiveSeasonal", K=24, missing="keep")),
    ("darts_linear_regression", _darts("LinearRegressionModel", lags=[-1, -2, -3])),
]

#: Local Darts models refit at every origin: a few seconds each on the contract panel.
SLOW: set[str] = set()
