"""Forecasters: one scikit-learn style contract, global over many arcs.

Built-ins (also by name through :func:`make_forecaster`): ``naive``, ``seasonal_naive``,
``historical_average`` and ``gbm``; the Darts adapter registers the ``darts:<ModelClass>``
family. See :class:`Forecaster` for the contract and :class:`BaseForecaster` for the base class.
"""

from infotrafic.forecasters._base import (
    BaseForecaster,
    Forecaster,
    available_forecasters,
    make_forecaster,
    register_forecaster,
)
from infotrafic.forecasters._gbm import GBMForecaster, default_gbm_features
from infotrafic.forecasters._naive import (
    HistoricalAverageForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
)

register_forecaster("naive", NaiveForecaster, overwrite=True)
register_forecaster("seasonal_naive", SeasonalNaiveForecaster, overwrite=True)
register_forecaster("historical_average", HistoricalAverageForecaster, overwrite=True)
register_forecaster("gbm", GBMForecaster, overwrite=True)

__all__ = [
    "BaseForecaster",
    "Forecaster",
    "GBMForecaster",
    "HistoricalAverageForecaster",
    "NaiveForecaster",
    "SeasonalNaiveForecaster",
    "available_forecasters",
    "default_gbm_features",
    "make_forecaster",
    "register_forecaster",
]
