"""infotrafic: road traffic forecasts for Paris, 1 to 24 hours ahead, from the City's open data.

The most used names of every layer are available here. Everything that needs numpy, pandas or
pydantic (the panel functions, :class:`Settings`, the HTTP client, the forecasters, the backtest
engine) is imported lazily on first use, so ``import infotrafic`` stays cheap and the command
line's ``--help`` imports no pandas.

The library logs under the ``infotrafic`` logger, one child per layer
(``infotrafic.opendata``, ``infotrafic.etl``, ``infotrafic.forecasting``, ...), and never
prints; it only adds a :class:`logging.NullHandler`: configure logging in your application
(or pass ``-v`` to the command line) to see the records.

Data: Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from infotrafic._lazy import attach
from infotrafic._schema import (
    ARC_COLUMNS,
    CLOSURE_STATES,
    PANEL_COLUMNS,
    PANEL_DTYPES,
    STATE_THRESHOLDS,
    TRAFFIC_STATES,
    empty_panel,
    occupancy_state,
    to_hourly_grid,
    validate_panel,
)
from infotrafic._version import __version__
from infotrafic.exceptions import (
    BacktestError,
    ClusterError,
    ConfigurationError,
    DataValidationError,
    FileFormatError,
    IncompleteFetchError,
    InfotraficError,
    IngestError,
    ModelCompatibilityError,
    NotFittedError,
    OpenDataError,
    QueryError,
    QuotaExceededError,
    ServerError,
    StoreError,
    TransportError,
)

if TYPE_CHECKING:
    from infotrafic.backtest import BacktestConfig, BacktestReport, BacktestResult, backtest
    from infotrafic.config import Settings
    from infotrafic.datasets import load_network, load_sample, load_sample_arcs
    from infotrafic.etl import ParquetStore, quality_report, read_arcs, read_file, read_files
    from infotrafic.features import FeatureSpec
    from infotrafic.forecasters import (
        BaseForecaster,
        Forecaster,
        load_forecaster,
        make_forecaster,
        save_forecaster,
    )
    from infotrafic.forecasting import ForecastModel, forecast, load_model, train
    from infotrafic.intervals import ConformalIntervals
    from infotrafic.opendata import OpenDataClient, RetryPolicy

_LAZY: dict[str, str] = {
    "BacktestConfig": "infotrafic.backtest",
    "BacktestReport": "infotrafic.backtest",
    "BacktestResult": "infotrafic.backtest",
    "BaseForecaster": "infotrafic.forecasters",
    "ConformalIntervals": "infotrafic.intervals",
    "FeatureSpec": "infotrafic.features",
    "ForecastModel": "infotrafic.forecasting",
    "Forecaster": "infotrafic.forecasters",
    "OpenDataClient": "infotrafic.opendata",
    "ParquetStore": "infotrafic.etl",
    "RetryPolicy": "infotrafic.opendata",
    "Settings": "infotrafic.config",
    "backtest": "infotrafic.backtest",
    "forecast": "infotrafic.forecasting",
    "load_forecaster": "infotrafic.forecasters",
    "load_model": "infotrafic.forecasting",
    "load_sample": "infotrafic.datasets",
    "load_network": "infotrafic.datasets",
    "load_sample_arcs": "infotrafic.datasets",
    "make_forecaster": "infotrafic.forecasters",
    "quality_report": "infotrafic.etl",
    "read_arcs": "infotrafic.etl",
    "read_file": "infotrafic.etl",
    "read_files": "infotrafic.etl",
    "save_forecaster": "infotrafic.forecasters",
    "train": "infotrafic.forecasting",
}


__getattr__, __dir__ = attach(__name__, _LAZY)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ARC_COLUMNS",
    "CLOSURE_STATES",
    "PANEL_COLUMNS",
    "PANEL_DTYPES",
    "STATE_THRESHOLDS",
    "TRAFFIC_STATES",
    "BacktestConfig",
    "BacktestError",
    "BacktestReport",
    "BacktestResult",
    "BaseForecaster",
    "ClusterError",
    "ConfigurationError",
    "ConformalIntervals",
    "DataValidationError",
    "FeatureSpec",
    "FileFormatError",
    "ForecastModel",
    "Forecaster",
    "IncompleteFetchError",
    "InfotraficError",
    "IngestError",
    "ModelCompatibilityError",
    "NotFittedError",
    "OpenDataClient",
    "OpenDataError",
    "ParquetStore",
    "QueryError",
    "QuotaExceededError",
    "RetryPolicy",
    "ServerError",
    "Settings",
    "StoreError",
    "TransportError",
    "__version__",
    "backtest",
    "empty_panel",
    "forecast",
    "load_forecaster",
    "load_model",
    "load_network",
    "load_sample",
    "load_sample_arcs",
    "make_forecaster",
    "occupancy_state",
    "quality_report",
    "read_arcs",
    "read_file",
    "read_files",
    "save_forecaster",
    "to_hourly_grid",
    "train",
    "validate_panel",
]
