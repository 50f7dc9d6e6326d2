"""infotrafic: one-hour-ahead road traffic forecasting for Paris from the City's open data.

The most used names of every layer are available here; heavier layers (the HTTP client, the
forecasters, the backtest engine) are imported lazily on first use, so ``import infotrafic`` stays
cheap.

Data: Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from infotrafic._schema import (
    ARC_COLUMNS,
    CLOSURE_STATES,
    PANEL_COLUMNS,
    PANEL_DTYPES,
    TRAFFIC_STATES,
    empty_panel,
    to_hourly_grid,
    validate_panel,
)
from infotrafic._version import __version__
from infotrafic.config import Settings
from infotrafic.exceptions import (
    BacktestError,
    ConfigurationError,
    DataValidationError,
    FileFormatError,
    InfotraficError,
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
    from infotrafic.datasets import load_sample, load_sample_arcs
    from infotrafic.etl import ParquetStore, quality_report, read_arcs, read_file, read_files
    from infotrafic.features import FeatureSpec
    from infotrafic.forecasters import (
        BaseForecaster,
        Forecaster,
        load_forecaster,
        make_forecaster,
        save_forecaster,
    )
    from infotrafic.opendata import OpenDataClient, RetryPolicy

_LAZY: dict[str, str] = {
    "BacktestConfig": "infotrafic.backtest",
    "BacktestReport": "infotrafic.backtest",
    "BacktestResult": "infotrafic.backtest",
    "BaseForecaster": "infotrafic.forecasters",
    "FeatureSpec": "infotrafic.features",
    "Forecaster": "infotrafic.forecasters",
    "OpenDataClient": "infotrafic.opendata",
    "ParquetStore": "infotrafic.etl",
    "RetryPolicy": "infotrafic.opendata",
    "backtest": "infotrafic.backtest",
    "load_forecaster": "infotrafic.forecasters",
    "load_sample": "infotrafic.datasets",
    "load_sample_arcs": "infotrafic.datasets",
    "make_forecaster": "infotrafic.forecasters",
    "quality_report": "infotrafic.etl",
    "read_arcs": "infotrafic.etl",
    "read_file": "infotrafic.etl",
    "read_files": "infotrafic.etl",
    "save_forecaster": "infotrafic.forecasters",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'infotrafic' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ARC_COLUMNS",
    "CLOSURE_STATES",
    "PANEL_COLUMNS",
    "PANEL_DTYPES",
    "TRAFFIC_STATES",
    "BacktestConfig",
    "BacktestError",
    "BacktestReport",
    "BacktestResult",
    "BaseForecaster",
    "ConfigurationError",
    "DataValidationError",
    "FeatureSpec",
    "FileFormatError",
    "Forecaster",
    "InfotraficError",
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
    "load_forecaster",
    "load_sample",
    "load_sample_arcs",
    "make_forecaster",
    "quality_report",
    "read_arcs",
    "read_file",
    "read_files",
    "save_forecaster",
    "to_hourly_grid",
    "validate_panel",
]
