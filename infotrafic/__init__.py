"""infotrafic: one-hour-ahead road traffic forecasting for Paris from the City's open data.

Data: Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL.
"""

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

__all__ = [
    "ARC_COLUMNS",
    "CLOSURE_STATES",
    "PANEL_COLUMNS",
    "PANEL_DTYPES",
    "TRAFFIC_STATES",
    "BacktestError",
    "ConfigurationError",
    "DataValidationError",
    "FileFormatError",
    "InfotraficError",
    "ModelCompatibilityError",
    "NotFittedError",
    "OpenDataError",
    "QueryError",
    "QuotaExceededError",
    "ServerError",
    "Settings",
    "StoreError",
    "TransportError",
    "__version__",
    "empty_panel",
    "to_hourly_grid",
    "validate_panel",
]
