"""MLflow tracking for the examples: one run per training or backtest.

A run holds the parameters (model name and hyper-parameters, data window, arcs, horizon), the
metrics of the backtest (MAE, RMSE, bias, MASE, wMAPE — overall), the feature spec as a JSON
artifact, the backtest report (JSON) and the fitted model file. The tracking URI is
``INFOTRAFIC_MLFLOW_URI`` or, when unset, a local sqlite store ``<data_dir>/mlflow.db``. Experiments
created in a local store (``sqlite:``/``file:`` URI) keep their artifacts in
``<data_dir>/mlartifacts``, so nothing is written outside the data dir; with a tracking server
(``http://...``) the server decides where artifacts go.

MLflow is imported lazily (it takes seconds to import) and only when tracking is enabled.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.settings import ExampleSettings

__all__ = ["TrackingResult", "feature_spec_of", "log_backtest_run", "tracking_uri"]

# One logging at a time per process: concurrent first uses of a fresh sqlite store race on
# its schema creation.
_LOCK = threading.Lock()


def tracking_uri(settings: ExampleSettings) -> str | None:
    """The MLflow tracking URI to use, or None when tracking is disabled."""
    if not settings.mlflow_enabled:
        return None
    if settings.mlflow_uri:
        return settings.mlflow_uri
    db = (settings.data_dir / "mlflow.db").resolve()
    return f"sqlite:///{db}"


def feature_spec_of(model: Any) -> dict[str, Any]:
    """The forecaster's feature spec as JSON-able data (plus its hyper-parameters)."""
    out: dict[str, Any] = {"forecaster": type(model).__name__}
    params = model.get_params() if hasattr(model, "get_params") else {}
    out["params"] = {k: v if _is_scalar(v) else repr(v) for k, v in params.items()}
    spec = getattr(model, "feature_spec", None)
    if callable(spec):  # BaseForecaster.feature_spec() -> infotrafic.features.FeatureSpec
        try:
            spec = spec()
        except (NotImplementedError, ValueError):
            spec = None
    if spec is not None and hasattr(spec, "to_json"):
        out["feature_spec"] = json.loads(spec.to_json())
        out["feature_names"] = list(spec.feature_names())
    return out


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


@dataclass(frozen=True)
class TrackingResult:
    """Outcome of a logging attempt: the run id, or the error that prevented logging."""

    run_id: str | None
    error: str | None = None


def _experiment_id(client: Any, error: type[Exception], settings: ExampleSettings) -> str:
    exp = client.get_experiment_by_name(settings.mlflow_experiment)
    if exp is not None:
        return str(exp.experiment_id)
    location = None
    uri = tracking_uri(settings) or ""
    if uri.startswith(("sqlite:", "file:")):  # a local store: keep artifacts in the data dir
        location = (settings.data_dir / "mlartifacts").resolve().as_uri()
    try:
        return str(client.create_experiment(settings.mlflow_experiment, artifact_location=location))
    except error:  # created concurrently by another job
        exp = client.get_experiment_by_name(settings.mlflow_experiment)
        if exp is None:
            raise
        return str(exp.experiment_id)


def _flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat_params(value, prefix=f"{name}."))
        else:
            out[name] = str(value)[:500]
    return out


def log_backtest_run(
    settings: ExampleSettings,
    *,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    feature_spec: Mapping[str, Any] | None = None,
    report_json: str | None = None,
    model_path: Path | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrackingResult:
    """Log one training or backtest to MLflow; never raises (errors are returned).

    Parameters
    ----------
    settings : ExampleSettings
        Where to log (``tracking_uri(settings)``) and the experiment name.
    run_name : str
        Run name shown in the MLflow UI.
    params : mapping
        Parameters (nested mappings are flattened with dots).
    metrics : mapping
        Metric name -> value; NaN/inf values are skipped.
    feature_spec : mapping, optional
        Logged as the artifact ``feature_spec.json``.
    report_json : str, optional
        Backtest report, logged as ``backtest_report.json``.
    model_path : Path, optional
        The saved forecaster file (or folder), logged under ``model/``.
    tags : mapping, optional
        Extra run tags.
    """
    uri = tracking_uri(settings)
    if uri is None:
        return TrackingResult(None, "tracking disabled (INFOTRAFIC_MLFLOW_ENABLED=false)")
    try:
        import mlflow
    except ImportError:
        return TrackingResult(None, "mlflow is not installed (pip install 'infotrafic[mlflow]')")
    try:
        with _LOCK:
            return _log(
                mlflow,
                uri,
                settings,
                run_name,
                params,
                metrics,
                feature_spec,
                report_json,
                model_path,
                tags,
            )
    except Exception as exc:  # tracking must never break a training
        return TrackingResult(None, f"{type(exc).__name__}: {exc}")


def _log(
    mlflow: Any,
    uri: str,
    settings: ExampleSettings,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    feature_spec: Mapping[str, Any] | None,
    report_json: str | None,
    model_path: Path | None,
    tags: Mapping[str, str] | None,
) -> TrackingResult:
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=uri)
    exp_id = _experiment_id(client, MlflowException, settings)
    run = client.create_run(exp_id, run_name=run_name, tags=dict(tags or {}))
    run_id = run.info.run_id
    status = "FAILED"
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[
                Metric(key, float(value), now, 0)
                for key, value in metrics.items()
                if value is not None and math.isfinite(float(value))
            ],
            params=[Param(key, value) for key, value in _flat_params(params).items()],
        )
        if feature_spec is not None:
            client.log_dict(run_id, dict(feature_spec), "feature_spec.json")
        if report_json is not None:
            client.log_dict(run_id, json.loads(report_json), "backtest_report.json")
        if model_path is not None:
            if model_path.is_dir():
                client.log_artifacts(run_id, str(model_path), "model")
            else:
                client.log_artifact(run_id, str(model_path), "model")
        status = "FINISHED"
    finally:
        client.set_terminated(run_id, status=status)
    return TrackingResult(run_id)
