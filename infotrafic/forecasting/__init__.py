"""Forecasts as a product: train a model for horizons 1-24 h, then forecast every arc.

:func:`train` fits one forecaster per series (flow, and occupancy for the traffic state) and
horizon, calibrates conformal intervals and state probabilities on recent forecast errors, and
optionally validates the model with a backtest; :class:`ForecastModel` holds the result and
saves it as a versioned directory (:meth:`ForecastModel.save`, :func:`load_model`).
:func:`forecast` turns a model and recent data into one row per arc and horizon: flow with its
intervals, occupancy, traffic state and its probability, and whether the arc's data is stale.
:func:`log_model` registers a trained model in MLflow (the optional ``mlflow`` extra) and
moves the ``champion`` alias only when the new model is not worse on the same validation
window; :func:`load_champion` loads the champion back. The ``infotrafic train`` and
``infotrafic forecast`` commands are thin layers over these.
"""

from infotrafic.forecasting._champion import ChampionDecision
from infotrafic.forecasting._forecast import forecast, forecast_columns
from infotrafic.forecasting._mlflow import (
    CHAMPION,
    Registration,
    load_champion,
    log_model,
    registered_name,
)
from infotrafic.forecasting._model import FORMAT_VERSION, ForecastModel, load_model
from infotrafic.forecasting._train import DEFAULT_HORIZONS, fingerprint, train

__all__ = [
    "CHAMPION",
    "DEFAULT_HORIZONS",
    "FORMAT_VERSION",
    "ChampionDecision",
    "ForecastModel",
    "Registration",
    "fingerprint",
    "forecast",
    "forecast_columns",
    "load_champion",
    "load_model",
    "log_model",
    "registered_name",
    "train",
]
