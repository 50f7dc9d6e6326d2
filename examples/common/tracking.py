"""MLflow for the examples: model registration and the champion, and one run per backtest.

Trainings are registered by the library (:func:`register`, a thin call to
:func:`infotrafic.forecasting.log_model`, which also moves the alias ``champion``), and the
served model is that champion (:class:`ChampionCache` around
:func:`infotrafic.forecasting.load_champion`, downloading it again only when the alias moves).

Backtests (``examples/tracking.py``) log one run per model with :func:`log_backtest_run`: a run
holds the parameters (model name and hyper-parameters, data window, arcs, horizon), the
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
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.settings import ExampleSettings

__all__ = [
    "ChampionCache",
    "TrackingResult",
    "feature_spec_of",
    "log_backtest_run",
    "register",
    "tracking_uri",
]

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


def register(
    settings: ExampleSettings, model: Any, model_dir: Path, panel: Any
) -> tuple[Any, str | None]:
    """Register a trained model in MLflow (alias ``champion`` moved when it is not worse).

    Returns ``(registration, None)``, or ``(None, why)`` when tracking is off or fails: a failed
    registration never fails the training (the model is in the local store either way).
    """
    uri = tracking_uri(settings)
    if uri is None:
        return None, "tracking disabled (INFOTRAFIC_MLFLOW_ENABLED=false)"
    from infotrafic import InfotraficError
    from infotrafic.forecasting import log_model

    try:
        with _LOCK:
            registration = log_model(
                model,
                model_dir,
                uri,
                name=settings.mlflow_model_name,
                experiment=settings.mlflow_experiment,
                panel=panel,
            )
    except InfotraficError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return registration, None


class ChampionCache:
    """The MLflow champion of a registered model, downloaded once per version.

    :meth:`get` asks the registry where the alias points (at most every ``ttl`` seconds) and
    calls :func:`~infotrafic.forecasting.load_champion` only when it moved.
    """

    def __init__(self, settings: ExampleSettings, ttl: float = 5.0) -> None:
        self.settings = settings
        self.uri = tracking_uri(settings)
        self.ttl = ttl
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._version: str | None = None
        self._loaded: tuple[str, Any] | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="infotrafic-champion-"))

    def enabled(self) -> bool:
        """Whether tracking is on and its store exists (a missing local store is not created)."""
        if self.uri is None:
            return False
        if self.uri.startswith("sqlite:///"):
            return Path(self.uri[len("sqlite:///") :]).exists()
        return True

    def version(self) -> str | None:
        """The registry version the alias ``champion`` points to (None: no champion)."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked < self.ttl:
                return self._version
        version = None
        if self.enabled():
            from mlflow import MlflowClient
            from mlflow.exceptions import MlflowException

            from infotrafic.forecasting import CHAMPION

            client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            try:
                aliases = client.get_registered_model(self.settings.mlflow_model_name).aliases
            except MlflowException:
                aliases = {}  # no registered model (yet)
            found = (aliases or {}).get(CHAMPION)
            version = None if found is None else str(found)
        with self._lock:
            self._checked, self._version = now, version
        return version

    def get(self) -> tuple[str, Any] | None:
        """``(version, ForecastModel)`` of the champion, or None when there is none."""
        version = self.version()
        if version is None:
            return None
        with self._lock:
            if self._loaded is not None and self._loaded[0] == version:
                return self._loaded
        from infotrafic.forecasting import load_champion

        assert self.uri is not None
        dst = self._tmp / f"v{version}"
        shutil.rmtree(dst, ignore_errors=True)
        model, _ = load_champion(self.uri, self.settings.mlflow_model_name, dst=dst)
        with self._lock:
            previous, self._loaded = self._loaded, (version, model)
        if previous is not None and previous[0] != version:  # loaded in memory: drop the copy
            shutil.rmtree(self._tmp / f"v{previous[0]}", ignore_errors=True)
        return self._loaded

    def forget(self) -> None:
        """Look at the registry again on the next :meth:`get` (after a registration)."""
        with self._lock:
            self._checked = -math.inf
