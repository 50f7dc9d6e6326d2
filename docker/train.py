"""Training service of the docker stack: fit a forecaster with the API's own training code.

Runs ``Service.run_training`` of ``examples/api`` (fit, short backtest, atomic save into
``<data_dir>/models``, MLflow run when ``INFOTRAFIC_MLFLOW_URI`` is set) once and exits; the
container's entry point (``docker/run_periodic.sh``) repeats it every ``INFOTRAFIC_INTERVAL``
seconds. The API serves the newest model of the shared ``models`` volume.

Environment: the API's ``INFOTRAFIC_*`` settings, plus ``INFOTRAFIC_TRAIN_MODEL`` (default: the
API's default model), ``INFOTRAFIC_TRAIN_DATA`` (``store``, ``sample`` or ``auto`` = the store when
it holds data, else the bundled sample) and ``INFOTRAFIC_TRAIN_BACKTEST_DAYS``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
for path in (EXAMPLES / "api", EXAMPLES):
    sys.path.insert(0, str(path))

from _schemas import TrainingRequest  # noqa: E402
from _service import Service  # noqa: E402
from common.settings import ExampleSettings  # noqa: E402

from infotrafic import InfotraficError  # noqa: E402


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", flush=True)


def main() -> int:
    """Train once; print the model record as JSON. Exit status 1 on a library error."""
    settings = ExampleSettings()
    service = Service(settings)
    data = os.environ.get("INFOTRAFIC_TRAIN_DATA", "auto")
    if data == "auto":
        processed = settings.data_dir / "processed"
        has_store = processed.exists() and any(processed.iterdir())
        data = "store" if has_store else "sample"
    fields: dict[str, object] = {
        "model": os.environ.get("INFOTRAFIC_TRAIN_MODEL", settings.default_model),
        "data": data,
    }
    if os.environ.get("INFOTRAFIC_TRAIN_BACKTEST_DAYS"):
        fields["backtest_days"] = int(os.environ["INFOTRAFIC_TRAIN_BACKTEST_DAYS"])
    request = TrainingRequest.model_validate(fields)
    try:
        result = service.run_training(request, _progress)
    except InfotraficError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
