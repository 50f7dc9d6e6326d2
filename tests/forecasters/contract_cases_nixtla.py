"""The mlforecast and statsforecast adapters in the shared contract test (skipped without them)."""

from __future__ import annotations

from typing import Any

import mlforecast  # noqa: F401  (ImportError: the family is skipped by load_contract_cases)
import statsforecast  # noqa: F401

from infotrafic.forecasters import Forecaster, make_forecaster


def _nixtla(name: str, **params: Any) -> Any:
    def factory(**kw: Any) -> Forecaster:
        return make_forecaster(name, **params, **kw)

    return factory


CASES = [
    ("mlforecast_ridge", _nixtla("mlforecast:sklearn.linear_model.Ridge")),
    ("statsforecast_seasonal_naive", _nixtla("statsforecast:SeasonalNaive", season_length=24)),
]
