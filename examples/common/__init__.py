"""Small helpers shared by the infotrafic examples (API, dashboard, MLflow tracking script).

Nothing here re-implements library logic: it wires infotrafic's public API to the data-dir layout
the examples share::

    <data_dir>/raw          source files as downloaded (input of ``POST /etl``)
    <data_dir>/processed    the canonical :class:`infotrafic.etl.ParquetStore`
    <data_dir>/models       trained forecast models (model directories) and the champion
    <data_dir>/mlflow.db    default local MLflow store (artifacts in <data_dir>/mlartifacts)

Import it after putting ``examples/`` on ``sys.path`` (the apps do it themselves).
"""

from common.data import load_arcs, load_panel, resolve_source
from common.modelstore import ModelRecord, ModelStore, safe_child
from common.settings import ExampleSettings
from common.tracking import (
    ChampionCache,
    TrackingResult,
    feature_spec_of,
    log_backtest_run,
    register,
    tracking_uri,
)
from common.training import TrainingOptions, run_training

__all__ = [
    "ChampionCache",
    "ExampleSettings",
    "ModelRecord",
    "ModelStore",
    "TrackingResult",
    "TrainingOptions",
    "feature_spec_of",
    "load_arcs",
    "load_panel",
    "log_backtest_run",
    "register",
    "resolve_source",
    "run_training",
    "safe_child",
    "tracking_uri",
]
