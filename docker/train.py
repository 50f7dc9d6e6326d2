"""Training service of the docker stack: one training with ``infotrafic.forecasting.train``.

A thin call to the examples' training sequence (``examples/common/training.py``): read the data,
:func:`infotrafic.forecasting.train` with a validation backtest over the last days, save the
model directory into ``<data_dir>/models``, register it in MLflow
(:func:`infotrafic.forecasting.log_model`: the alias ``champion`` moves only when the new model
is not worse on the same validation window) and crown it in the model store by the same
decision. The container's entry point (``docker/run_periodic.sh``) repeats it every
``INFOTRAFIC_INTERVAL`` seconds; the API and the dashboard serve the champion.

Environment: the examples' ``INFOTRAFIC_*`` settings (``INFOTRAFIC_DATA_DIR``,
``INFOTRAFIC_MLFLOW_URI``, ...), plus ``INFOTRAFIC_TRAIN_MODEL`` (default: the settings' default
model, ``gbm``), ``INFOTRAFIC_TRAIN_PARAMS`` (JSON hyper-parameters), ``INFOTRAFIC_TRAIN_DATA``
(``store``, ``sample`` or ``auto`` = the store when it holds data, else the bundled sample),
``INFOTRAFIC_TRAIN_HORIZONS`` (e.g. ``"1 6 24"``; default every hour from 1 to 24) and
``INFOTRAFIC_TRAIN_BACKTEST_DAYS`` (validation days, default the settings' 7).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from common.modelstore import ModelStore
from common.settings import ExampleSettings
from common.training import TrainingOptions, run_training

from infotrafic import InfotraficError


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", flush=True)


def main() -> int:
    """Train once; print the model's record as JSON. Exit status 1 on a library error."""
    settings = ExampleSettings()
    model = os.environ.get("INFOTRAFIC_TRAIN_MODEL") or settings.default_model
    params = json.loads(os.environ.get("INFOTRAFIC_TRAIN_PARAMS") or "null")
    if params is None:
        params = settings.default_params if model == settings.default_model else {}
    horizons = [int(h) for h in os.environ.get("INFOTRAFIC_TRAIN_HORIZONS", "").split()]
    days = os.environ.get("INFOTRAFIC_TRAIN_BACKTEST_DAYS")
    options = TrainingOptions(
        model=model,
        params=params,
        data=os.environ.get("INFOTRAFIC_TRAIN_DATA", "auto"),
        horizons=horizons or None,
        backtest_days=int(days) if days else settings.backtest_days,
    )
    store = ModelStore(settings.data_dir / "models", keep=settings.keep_models)
    try:
        result = run_training(settings, store, options, _progress)
    except InfotraficError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
