"""Forecasters: one scikit-learn style contract, global over many arcs.

Built-ins (also by name through :func:`make_forecaster`): ``naive``, ``seasonal_naive``,
``historical_average`` and ``gbm``; ``sklearn:<dotted.path>`` runs any scikit-learn regressor
on the same features (:class:`SklearnForecaster`) and the Darts adapter registers the
``darts:<ModelClass>`` family. See :class:`Forecaster` for the contract and
:class:`BaseForecaster` for the base class, :func:`get_tags` for the capabilities each one
declares (:class:`ForecasterTags`).
"""

from infotrafic.forecasters._base import (
    BaseForecaster,
    Forecaster,
    TabularForecaster,
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
from infotrafic.forecasters._persist import (
    load_forecaster,
    read_forecaster_header,
    save_forecaster,
)
from infotrafic.forecasters._sklearn import SklearnForecaster, make_sklearn_forecaster
from infotrafic.forecasters._tags import ForecasterTags, get_tags, requires_refit

register_forecaster("naive", NaiveForecaster, overwrite=True)
register_forecaster("seasonal_naive", SeasonalNaiveForecaster, overwrite=True)
register_forecaster("historical_average", HistoricalAverageForecaster, overwrite=True)
register_forecaster("gbm", GBMForecaster, overwrite=True)
register_forecaster(
    "sklearn:", make_sklearn_forecaster, overwrite=True, placeholder="<dotted.path>"
)

__all__ = [
    "BaseForecaster",
    "Forecaster",
    "ForecasterTags",
    "GBMForecaster",
    "HistoricalAverageForecaster",
    "NaiveForecaster",
    "SeasonalNaiveForecaster",
    "SklearnForecaster",
    "TabularForecaster",
    "available_forecasters",
    "default_gbm_features",
    "get_tags",
    "load_forecaster",
    "make_forecaster",
    "read_forecaster_header",
    "register_forecaster",
    "requires_refit",
    "save_forecaster",
]
