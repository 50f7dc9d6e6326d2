"""Track and register forecast models with MLflow (the optional ``mlflow`` extra).

:func:`log_model` logs one MLflow run per trained model (parameters, validation metrics, the
manifest) and registers the model directory as a real MLflow model, ``python_function``
flavour with a signature: ``mlflow.pyfunc.load_model("models:/<name>@champion").predict(panel)``
returns the frame of :func:`~infotrafic.forecasting.forecast`. The alias ``champion`` moves to
the new version only when its mean validation MAE over its horizons is not worse than the
champion's on the same validation window (see :func:`log_model`); the decision is kept as tags
on the run and on the version. :func:`load_champion` downloads the champion's model directory
and loads it.

The logged model is a "model from code": a three-line script calling
``mlflow.models.set_model(pyfunc_model())``, with the model directory as an artifact, so
nothing but the directory itself is pickled. MLflow is imported inside the functions (it
takes seconds); importing infotrafic never imports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from infotrafic._types import PathLike
from infotrafic._version import __version__
from infotrafic.exceptions import (
    ConfigurationError,
    DataValidationError,
    TrackingError,
)
from infotrafic.forecasting._champion import (
    TAG,
    ChampionDecision,
    decide_champion,
    training_data,
)
from infotrafic.forecasting._forecast import forecast, forecast_columns
from infotrafic.forecasting._model import ForecastModel, load_model, read_manifest

__all__ = [
    "CHAMPION",
    "ChampionDecision",
    "Registration",
    "decide_champion",
    "load_champion",
    "log_model",
    "predict_frame",
    "pyfunc_model",
    "registered_name",
]

#: The registry alias of the model to serve.
CHAMPION = "champion"
_INSTALL = "pip install 'infotrafic[mlflow]'"
#: Key of the model directory among the logged model's artifacts.
_ARTIFACT = "model_dir"
#: Name of the logged model inside its run.
_LOGGED_NAME = "model"
#: MLflow's limit on the length of a parameter value.
_MAX_PARAM = 6000
#: Distributions pinned in the logged model's requirements when their module is loaded
#: (the forecasters are pickles: their libraries must match at load time).
_PINNED = (
    ("numpy", "numpy"),
    ("pandas", "pandas"),
    ("scikit-learn", "sklearn"),
    ("pyarrow", "pyarrow"),
    ("joblib", "joblib"),
    ("lightgbm", "lightgbm"),
    ("darts", "darts"),
)
_CODE = '''"""MLflow model from code: an infotrafic forecast model (see infotrafic.forecasting)."""

import mlflow

from infotrafic.forecasting._mlflow import pyfunc_model

mlflow.models.set_model(pyfunc_model())
'''
# MLflow's fluent API reads a process-wide tracking URI; one logging at a time per process.
_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Registration:
    """What :func:`log_model` did: the run, the registered version and the champion decision.

    Attributes
    ----------
    run_id : str
        The MLflow run.
    name : str
        The registered model.
    version : str
        Its new version.
    decision : ChampionDecision
        Whether the alias ``champion`` moved to this version, and why.
    """

    run_id: str
    name: str
    version: str
    decision: ChampionDecision

    @property
    def model_uri(self) -> str:
        """The version's URI, ``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"

    def __str__(self) -> str:
        state = "champion" if self.decision.moved else "not champion"
        return (
            f"run {self.run_id}, registered {self.name} version {self.version}, {state}: "
            f"{self.decision.reason}"
        )


def registered_name(model: str) -> str:
    """Return the default registered model name of a forecaster: ``infotrafic-<model>``.

    Characters MLflow model names and URIs do not take well are replaced by ``-``.

    Parameters
    ----------
    model : str
        The forecaster's name (:attr:`ForecastModel.model`).

    Returns
    -------
    str

    Examples
    --------
    >>> registered_name("seasonal_naive")
    'infotrafic-seasonal_naive'
    >>> registered_name("darts:NaiveSeasonal")
    'infotrafic-darts-NaiveSeasonal'
    """
    return "infotrafic-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-.") or "model")


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigurationError(
            f"MLflow tracking needs the mlflow extra: {_INSTALL} ({exc})"
        ) from exc
    return mlflow


def _mlflow_error(uri: str, exc: Exception) -> TrackingError:
    return TrackingError(f"MLflow ({uri}): {exc}")


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text[:_MAX_PARAM]


def _run_params(manifest: Mapping[str, Any]) -> dict[str, str]:
    training = manifest["training"]
    metrics = manifest.get("metrics") or {}
    out = {
        "model": manifest["model"],
        "horizons": ",".join(str(h) for h in manifest["horizons"]),
        "levels": ",".join(f"{x:g}" for x in manifest["levels"]),
        "delay_hours": manifest["delay_hours"],
        "targets": ",".join(manifest["targets"]),
        "training_start": training["start"],
        "training_end": training["end"],
        "training_rows": training["rows"],
        "training_arcs": training["arcs"],
        "data_fingerprint": training["fingerprint"],
        "calibration_hours": manifest["calibration"]["window_hours"],
        "stale_after_hours": manifest["stale_after_hours"],
        "infotrafic_version": manifest["infotrafic_version"],
        "format_version": manifest["format_version"],
    }
    for key in ("validation_start", "validation_end"):
        if key in metrics:
            out[key] = metrics[key]
    out.update({f"param.{k}": v for k, v in (manifest.get("params") or {}).items()})
    return {k: _param_text(v) for k, v in out.items()}


def _run_metrics(model: ForecastModel) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (model.metrics or {}).items():
        if key == "mae_per_horizon":
            out.update({f"val_mae_h{h}": float(v) for h, v in value.items() if v is not None})
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"val_{key}"] = float(value)
    if "seconds" in model.training:
        out["train_seconds"] = float(model.training["seconds"])
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = [f"infotrafic=={__version__}"]
    for dist, module in _PINNED:
        if module in sys.modules:
            with contextlib.suppress(PackageNotFoundError):
                pins.append(f"{dist}=={version(dist)}")
    return pins


def _signature(levels: Iterable[float]) -> Any:
    """Input: a canonical panel; params ``at`` and ``arcs``; output: the forecast frame."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    # MLflow's datetime type is timezone-naive; the panel's time is tz-aware UTC.
    inputs = Schema(
        [
            ColSpec("long", "arc_id"),
            ColSpec(AnyType(), "time"),  # type: ignore[no-untyped-call]
            ColSpec("double", "flow"),
            ColSpec("double", "occupancy", required=False),
        ]
    )
    kinds = {
        "arc_id": "long",
        "issued_at": "datetime",
        "time": "datetime",
        "horizon": "long",
        "state": "string",
        "stale": "boolean",
    }
    outputs = Schema(
        [
            ColSpec(kinds.get(c, "double"), c, required=c != "state")
            for c in forecast_columns(levels)
        ]
    )
    params = ParamSchema(
        [ParamSpec("at", "string", None), ParamSpec("arcs", "long", [], shape=(-1,))]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def predict_frame(
    model: ForecastModel, model_input: pd.DataFrame, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Forecast from a panel and MLflow params: the pyfunc model's ``predict``.

    Parameters
    ----------
    model : ForecastModel
        The loaded model.
    model_input : pandas.DataFrame
        A panel: ``arc_id``, ``time`` (tz-aware datetimes, or ISO 8601 strings as JSON
        requests carry them, UTC when they have no offset), ``flow``, ``occupancy``.
    params : mapping, optional
        ``at`` (issue time, naive = Paris time) and ``arcs`` (arc ids; empty: all).

    Returns
    -------
    pandas.DataFrame
        The frame of :func:`~infotrafic.forecasting.forecast`.
    """
    data = model_input
    if "time" in data and not pd.api.types.is_datetime64_any_dtype(data["time"]):
        try:
            times = pd.to_datetime(data["time"], utc=True, format="ISO8601")
        except (TypeError, ValueError) as exc:
            raise DataValidationError(
                f"time must hold datetimes or ISO 8601 strings ({exc})", field="time"
            ) from exc
        data = data.assign(time=times)
    options = dict(params or {})
    given = options.get("arcs")
    arcs = [int(a) for a in given] if given is not None else []
    return forecast(model, data, at=options.get("at") or None, arcs=arcs or None)


def pyfunc_model() -> Any:
    """Return the ``mlflow.pyfunc.PythonModel`` serving a model directory (its artifact).

    The logged model's code calls ``mlflow.models.set_model(pyfunc_model())``; MLflow then
    calls ``load_context`` (which loads the directory with
    :func:`~infotrafic.forecasting.load_model`) and ``predict`` (see :func:`predict_frame`).
    The loaded :class:`ForecastModel` and its directory are the attributes ``model`` and
    ``path``.

    Returns
    -------
    mlflow.pyfunc.PythonModel
    """
    _import_mlflow()
    from mlflow.pyfunc.model import PythonModel

    class InfotraficForecastModel(PythonModel):
        """An infotrafic model directory as an MLflow ``python_function`` model."""

        model: ForecastModel
        path: Path

        def load_context(self, context: Any) -> None:
            """Load the model directory (the ``model_dir`` artifact)."""
            self.path = Path(context.artifacts[_ARTIFACT])
            self.model = load_model(self.path)

        def predict(
            self,
            context: Any,
            model_input: pd.DataFrame,
            params: dict[str, Any] | None = None,
        ) -> pd.DataFrame:
            """Forecast every arc at every horizon (see :func:`predict_frame`)."""
            return predict_frame(self.model, model_input, params)

    return InfotraficForecastModel()


@contextlib.contextmanager
def _session(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri``, without progress bars; restore both afterwards."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    # MLflow reads these variables (and mirrors its tracking URI in the first).
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    saved = {n: os.environ.get(n) for n in names}
    try:
        with _LOCK, _use_tracking_uri(uri):
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
            yield
    finally:
        for n, value in saved.items():
            if value is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = value


def _local_artifacts(uri: str) -> str | None:
    """Artifact root beside a local sqlite store (MLflow's default is ``./mlruns``)."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///") :]).resolve()
    return (db.parent / "mlartifacts").as_uri()


def _experiment_id(client: Any, error: type[Exception], name: str, location: str | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except error:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _champion_version(client: Any, error: Any, name: str) -> str | None:
    """Return the version the alias ``champion`` points to (None: no such model or alias)."""
    try:
        registered = client.get_registered_model(name)
    except error as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = (registered.aliases or {}).get(CHAMPION)
    return None if version is None else str(version)


def _run_manifest(client: Any, error: Any, name: str, version: str) -> dict[str, Any] | None:
    """Return the manifest logged with a version's run (None when there is none)."""
    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "manifest.json", tmp)
        except (error, OSError):
            return None
        manifest: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return manifest


def log_model(
    model: ForecastModel,
    model_dir: PathLike,
    tracking_uri: str,
    *,
    name: str | None = None,
    experiment: str = "infotrafic",
    panel: pd.DataFrame | None = None,
    artifact_location: str | None = None,
) -> Registration:
    """Log a trained model to MLflow, register it, and move ``champion`` when it is not worse.

    The run (experiment ``experiment``) holds the parameters (model, hyper-parameters as
    ``param.<name>``, horizons, levels, delay, training window, data fingerprint, library
    version), the validation metrics (``val_mae``, ``val_mae_h<h>`` per horizon,
    ``val_coverage_<level>``, ...), the model's ``manifest.json`` and ``validation.json``, and
    the model: a ``python_function`` MLflow model with a signature whose artifact is the model
    directory. It is registered as a new version of ``name``.

    The alias ``champion`` moves to the new version when there is no champion yet, or when
    the new model's mean validation MAE over its horizons is not worse than the champion's on
    the same window: the champion's stored metrics when it was validated on the same window,
    data (fingerprint) and delay; otherwise, when ``panel`` is given, its configuration (model
    name and hyper-parameters) backtested on the new model's window, horizons, delay and
    refit cadence (:func:`~infotrafic.backtest.backtest`, the same rows). When no fair
    comparison is possible (the new model has no validation metrics, or the windows differ
    and no panel is given) the alias stays. The decision is kept as ``infotrafic.champion.*``
    tags on the run and on the version.

    Parameters
    ----------
    model : ForecastModel
        The trained model.
    model_dir : str or os.PathLike
        Its saved directory (:meth:`ForecastModel.save`).
    tracking_uri : str
        The MLflow tracking store (``sqlite:///mlflow.db``, ``http://host:5000``, ...); the
        model registry is the same store.
    name : str, optional
        Registered model name; default :func:`registered_name` of the model.
    experiment : str, default "infotrafic"
        The experiment, created when missing.
    panel : pandas.DataFrame, optional
        The training panel, to re-evaluate a champion validated on another window (checked
        against the model's data fingerprint).
    artifact_location : str, optional
        Artifact root of a new experiment; default: the server's, or ``mlartifacts/`` beside a
        local ``sqlite:///`` store.

    Returns
    -------
    Registration
        The run, the version and the champion decision; ``str()`` is a one-line summary.

    Raises
    ------
    ConfigurationError
        When MLflow is not installed, ``model_dir`` does not hold ``model``, or ``panel`` is
        not its training data.
    InfotraficError
        When the tracking store fails (the message carries MLflow's).
    """
    mlflow = _import_mlflow()
    from mlflow.exceptions import MlflowException

    root = Path(model_dir)
    manifest = read_manifest(root)
    if (manifest.get("created"), (manifest.get("training") or {}).get("fingerprint")) != (
        model.created,
        model.training.get("fingerprint"),
    ):
        raise ConfigurationError(f"{root} does not hold this model; save it there first")
    data = training_data(model, panel) if panel is not None else None
    name = name or registered_name(model.model)
    location = artifact_location or _local_artifacts(tracking_uri)
    try:
        with _session(tracking_uri):
            client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            exp_id = _experiment_id(client, MlflowException, experiment, location)
            version = _champion_version(client, MlflowException, name)
            champion = None
            if version is not None:
                champion = _run_manifest(client, MlflowException, name, version)
            decision = decide_champion(model, champion, version, data)
            return _log(mlflow, client, model, root, name, exp_id, decision)
    except MlflowException as exc:
        raise _mlflow_error(tracking_uri, exc) from exc


def _log(
    mlflow: Any,
    client: Any,
    model: ForecastModel,
    root: Path,
    name: str,
    exp_id: str,
    decision: ChampionDecision,
) -> Registration:
    from mlflow.exceptions import MlflowException

    manifest = model.manifest()
    tags = {f"{TAG}version": __version__, f"{TAG}model": model.model}
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train {model.model}", tags=tags) as run:
        run_id = str(run.info.run_id)
        mlflow.log_params(_run_params(manifest))
        mlflow.log_metrics(_run_metrics(model))
        for file in ("manifest.json", "validation.json"):
            if (root / file).is_file():
                mlflow.log_artifact(str(root / file))
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            code = Path(tmp) / "infotrafic_model.py"
            code.write_text(_CODE, encoding="utf-8")
            # The signature is explicit; an input example would need weeks of data.
            warnings.filterwarnings("ignore", message=".*input example", category=UserWarning)
            info = mlflow.pyfunc.log_model(
                name=_LOGGED_NAME,
                python_model=str(code),
                artifacts={_ARTIFACT: str(root)},
                signature=_signature(model.levels),
                pip_requirements=_requirements(),
                metadata={"infotrafic_version": __version__, "model": model.model},
            )
        try:
            client.create_registered_model(name, description="infotrafic forecast model")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        metrics = model.metrics or {}
        version_tags = {
            f"{TAG}model": model.model,
            f"{TAG}fingerprint": model.training["fingerprint"],
            **{
                f"{TAG}{k}": str(metrics[k])
                for k in ("validation_start", "validation_end")
                if k in metrics
            },
            **decision.tags(),
        }
        mv = client.create_model_version(
            name, info.model_uri, run_id=run_id, tags=version_tags, model_id=info.model_id
        )
        version = str(mv.version)
        if decision.moved:
            client.set_registered_model_alias(name, CHAMPION, version)
        mlflow.set_tags({**decision.tags(), f"{TAG}registered": f"{name}/{version}"})
    return Registration(run_id=run_id, name=name, version=version, decision=decision)


def load_champion(
    tracking_uri: str, name: str, *, dst: PathLike | None = None
) -> tuple[ForecastModel, Path]:
    """Download the champion version of a registered model and load its model directory.

    Parameters
    ----------
    tracking_uri : str
        The MLflow tracking store (and model registry).
    name : str
        The registered model (e.g. :func:`registered_name` of the forecaster).
    dst : str or os.PathLike, optional
        Where to download it (an empty or new directory); default: a new temporary directory.

    Returns
    -------
    model : ForecastModel
        The loaded champion.
    path : pathlib.Path
        Its model directory.

    Raises
    ------
    ConfigurationError
        When MLflow is not installed, or ``name`` has no champion in that store.
    InfotraficError
        When the tracking store fails.
    """
    mlflow = _import_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        with _session(tracking_uri):
            version = _champion_version(client, MlflowException, name)
            if version is None:
                raise ConfigurationError(
                    f"no {CHAMPION} for model {name!r} in {tracking_uri}; train one with "
                    f"`infotrafic train ... --validate-start TIME --mlflow {tracking_uri}`"
                )
            target = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="infotrafic-"))
            target.mkdir(parents=True, exist_ok=True)
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version}",
                    dst_path=str(target),
                    tracking_uri=tracking_uri,
                    registry_uri=tracking_uri,
                )
            )
    except MlflowException as exc:
        raise _mlflow_error(tracking_uri, exc) from exc
    flavor = Model.load(str(local)).flavors.get("python_function", {})
    relative = ((flavor.get("artifacts") or {}).get(_ARTIFACT) or {}).get("path")
    if not relative:
        raise ConfigurationError(
            f"{name} version {version} is not an infotrafic model (no {_ARTIFACT} artifact)"
        )
    path = local / relative
    return load_model(path), path
