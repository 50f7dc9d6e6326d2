"""Small helpers shared by the infotrafic examples (API, dashboard, MLflow tracking script).

Nothing here re-implements library logic: it wires infotrafic's public API to the data-dir layout
the examples share::

    <data_dir>/raw          source files as downloaded (input of ``POST /etl``)
    <data_dir>/processed    the canonical :class:`infotrafic.etl.ParquetStore`
    <data_dir>/models       fitted forecasters, their metadata and backtest reports (ModelStore)
    <data_dir>/mlflow.db    default local MLflow store (artifacts in <data_dir>/mlartifacts)

Import it after putting ``examples/`` on ``sys.path`` (the apps do it themselves).
"""

from common.modelstore import ModelRecord, ModelStore, safe_child
from common.settings import ExampleSettings
from common.tracking import TrackingResult, feature_spec_of, log_backtest_run, tracking_uri

__all__ = [
    "ExampleSettings",
    "ModelRecord",
    "ModelStore",
    "TrackingResult",
    "feature_spec_of",
    "log_backtest_run",
    "safe_child",
    "tracking_uri",
]
