"""One training as the examples run it (API ``POST /training``, the docker ``training`` service).

A thin sequence of library calls: read the data (:mod:`common.data`), train and validate with
:func:`infotrafic.forecasting.train`, save the model directory into the examples' model store,
register it in MLflow when tracking is on (:func:`infotrafic.forecasting.log_model`, which moves
the alias ``champion`` only when the new model is not worse on the same validation window), and
make it the store's champion by the same decision.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from common.data import load_panel, resolve_source
from common.modelstore import ModelStore
from common.settings import ExampleSettings
from common.tracking import register
from infotrafic import ConfigurationError
from infotrafic.backtest import parse_time
from infotrafic.forecasting import train

__all__ = ["TrainingOptions", "run_training"]

_HOUR = pd.Timedelta(hours=1)

#: ``progress(fraction, message)``.
Progress = Callable[[float, str], None]


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """What to train on what (times are strings read by :func:`infotrafic.backtest.parse_time`)."""

    model: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data: str = "auto"
    arcs: Sequence[int] | None = None
    start: str | None = None
    end: str | None = None
    horizons: Sequence[int] | None = None
    levels: Sequence[float] | None = None
    backtest_days: int = 7
    validate_start: str | None = None


def _quiet(fraction: float, message: str) -> None:
    return None


def run_training(
    settings: ExampleSettings,
    store: ModelStore,
    options: TrainingOptions,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Train, validate, save, register and crown; return the model's record and the decision.

    Raises the library's errors (``ConfigurationError``, ``DataValidationError``, ...) for bad
    options or data; an MLflow failure is reported in the result, not raised.
    """
    source = resolve_source(options.data, settings.data_dir)
    start = parse_time(options.start, name="start") if options.start else None
    end = parse_time(options.end, name="end") if options.end else None
    if start is not None and end is not None and end <= start:
        raise ConfigurationError(f"end {options.end} must be after start {options.start}")
    progress(0.02, f"loading data ({source})")
    panel = load_panel(source, settings.data_dir, options.arcs, start, end)
    flows = panel.loc[panel["flow"].notna(), "time"]
    if flows.empty:
        raise ConfigurationError(
            f"no flow data in the {source} for the requested arcs and time range; "
            + ("ingest data first (POST /ingest or /etl)" if source == "store" else "widen them")
        )
    train_end = end if end is not None else flows.max() + _HOUR
    validate_start: pd.Timestamp | None = None
    if options.validate_start:
        validate_start = parse_time(options.validate_start, name="validate_start")
    elif options.backtest_days > 0:
        validate_start = train_end - pd.Timedelta(days=options.backtest_days)
    progress(0.1, f"training {options.model} on {len(panel):,} rows")
    t0 = time.perf_counter()
    model = train(
        panel,
        options.model,
        horizons=options.horizons or range(1, 25),
        levels=options.levels or (80.0, 95.0),
        end=train_end,
        params=dict(options.params),
        validate_start=validate_start,
    )
    seconds = round(time.perf_counter() - t0, 1)
    progress(0.8, "saving")
    arcs = sorted(int(a) for a in panel["arc_id"].unique())
    record = store.save(model, source=source, arcs=arcs)
    if settings.mlflow_enabled:
        progress(0.85, "registering in MLflow")
    registration, mlflow_error = register(settings, model, store.model_dir(record.version), panel)
    if settings.mlflow_enabled:
        mlflow: dict[str, Any] = {"error": mlflow_error}
        if registration is not None:
            mlflow = {
                "run_id": registration.run_id,
                "name": registration.name,
                "version": registration.version,
            }
        record = store.annotate(record.version, mlflow=mlflow)
    progress(0.95, "deciding the champion")
    decision = store.crown(
        record,
        model,
        panel=panel,
        decision=None if registration is None else registration.decision,
    )
    return {
        **record.to_dict(),
        "train_seconds": seconds,
        "champion": decision.moved,
        "champion_reason": decision.reason,
        "mlflow_error": mlflow_error,
    }
