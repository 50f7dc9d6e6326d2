"""What the endpoints do, on top of infotrafic's public API (no HTTP here).

Every function takes the settings and stores explicitly; the FastAPI layer (``app.py``) only
validates requests, starts jobs and maps errors to status codes. Training and forecasting are
the library's (:func:`infotrafic.forecasting.train` through ``common/training.py``, and
:func:`infotrafic.forecasting.forecast`); the service picks the model to serve, the data to
start from, and caches answers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
import time
import typing
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _jobs import Progress
from _schemas import EtlRequest, IngestRequest, JobKind, PredictResponse, TrainingRequest
from common.data import load_panel, resolve_source
from common.modelstore import ModelStore, safe_child
from common.settings import ExampleSettings
from common.tracking import ChampionCache
from common.training import TrainingOptions, run_training
from pydantic import TypeAdapter, ValidationError

from infotrafic import ConfigurationError, InfotraficError
from infotrafic.backtest import parse_time
from infotrafic.etl import ParquetStore
from infotrafic.exceptions import IngestError
from infotrafic.forecasters import make_forecaster
from infotrafic.forecasting import ForecastModel, forecast

__all__ = [
    "ForecastUnavailableError",
    "NoModelError",
    "NothingToLoadError",
    "Served",
    "Service",
]

_HOUR = pd.Timedelta(hours=1)
_CACHED_ANSWERS = 256  # forecast frames kept in memory
_STORE_CHECK_SECONDS = 5.0  # how often to look for store changes made by other processes
# warnings.catch_warnings is process-wide: one forecast at a time records its own warnings.
_FORECAST_LOCK = threading.Lock()
_MAX_ERROR = 1000  # characters of an error message shown to clients
_NAME_MAX = 255  # bytes of one file name on the usual file systems
# An absolute path in a message (not a URL's path: not after ':', '/' or a word character).
_ABS_PATH = re.compile(r"(?<![\w:/.<>-])/(?:[^\s/'\"]+/)+[^\s'\",;:)]*")
#: Set by the training from its own options: not hyper-parameters.
_RESERVED_PARAMS = frozenset({"horizon", "delay", "target"})

JobWork = tuple[Callable[[Progress], dict[str, Any]], Callable[[], None] | None]


class NoModelError(Exception):
    """No model trained yet (HTTP 409)."""


class ForecastUnavailableError(Exception):
    """A forecast cannot be made as asked (HTTP 422)."""


class NothingToLoadError(Exception):
    """``POST /etl`` without files while ``<data_dir>/raw`` holds no data file (HTTP 409)."""


def _short(name: str) -> str:
    """A client-given name, cut for an error message."""
    return repr(name if len(name) <= 80 else name[:77] + "...")


def check_params(model: str, params: dict[str, Any]) -> None:
    """Refuse hyper-parameters the forecaster does not take, of the wrong type or out of range.

    Uses what the library declares: the factory's signature (:func:`make_forecaster` raises on
    an unknown name), the forecaster's own ``check_params()`` (ranges and choices, as ``fit``
    checks them) and the annotations of its ``__init__``, checked strictly (``"10"`` is not an
    int, ``true`` is not a number). Raises ``ConfigurationError``.
    """
    try:
        forecaster = make_forecaster(model, **params)
        check = getattr(forecaster, "check_params", None)
        if callable(check):  # the library's own checks of every value (ranges, choices)
            check()
    except (InfotraficError, TypeError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"model {model!r}: {exc}") from exc
    reserved = sorted(_RESERVED_PARAMS & set(params))
    if reserved:
        raise ConfigurationError(
            f"params: {reserved} are set by the training (horizons, the data's delay, the "
            "targets), not hyper-parameters; remove them"
        )
    try:
        hints = typing.get_type_hints(type(forecaster).__init__)
    except Exception:  # unresolvable annotations: the library checks when it fits
        return
    for key, value in params.items():
        hint = hints.get(key)
        if hint is None:  # e.g. adapters passing **kwargs on: checked by the wrapped model
            continue
        try:
            TypeAdapter(hint).validate_python(value, strict=True)
        except ValidationError as exc:
            reason = exc.errors()[0].get("msg", "invalid")
            raise ConfigurationError(
                f"params.{key}: {value!r} is not valid for {model} ({reason})"
            ) from exc
        except Exception:  # a type pydantic cannot check: left to the library
            continue


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.isoformat()
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return value.name
    return value


@dataclasses.dataclass(frozen=True)
class Served:
    """The model answering a forecast: the champion, or the newest of a forecaster name."""

    model: ForecastModel
    version: str
    registry: str  # "store" or "mlflow"
    champion: bool


class Service:
    """State shared by the endpoints: settings, model store, champion, caches."""

    def __init__(self, settings: ExampleSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        for sub in ("raw", "processed", "models"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.models = ModelStore(self.data_dir / "models", keep=settings.keep_models)
        self.champions = ChampionCache(settings.model_copy(update={"data_dir": self.data_dir}))
        self._generation = 0  # bumped when this process changes the store (ingest / etl jobs)
        self._stamp: tuple[float, int] = (0.0, 0)  # (checked at, newest store file mtime)
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[Any, ...], tuple[pd.DataFrame, list[str]]] = OrderedDict()
        self._inflight: dict[tuple[Any, ...], threading.Lock] = {}

    # -- data ----------------------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        """``<data_dir>/raw``."""
        return self.data_dir / "raw"

    def store(self) -> ParquetStore:
        """The canonical parquet store, ``<data_dir>/processed``."""
        return ParquetStore(self.data_dir / "processed")

    def data_changed(self) -> None:
        """Forget cached answers (after an ingest or ETL job)."""
        with self._lock:
            self._generation += 1
            self._answers.clear()

    def data_version(self, source: str) -> tuple[int, int]:
        """A key that changes when the data of ``source`` changes.

        Covers changes made by this process and, for the store, by other processes too (newest
        partition or manifest mtime, looked at most every few seconds).
        """
        if source != "store":
            return (self._generation, 0)
        now = time.monotonic()
        with self._lock:
            checked, stamp = self._stamp
        if now - checked > _STORE_CHECK_SECONDS:
            store = self.store()
            files = [*store.partitions(), store.manifest_path]
            stamp = max((f.stat().st_mtime_ns for f in files if f.exists()), default=0)
            with self._lock:
                self._stamp = (now, stamp)
        return (self._generation, stamp)

    # -- jobs ----------------------------------------------------------------------------------
    def run_ingest(self, request: IngestRequest, progress: Progress) -> dict[str, Any]:
        """Fetch arcs over a time range from the portal into raw/ and the store."""
        from infotrafic.opendata import OpenDataClient

        base_url = self.allowed_base_url(request)
        progress(0.05, f"fetching {len(request.arcs)} arc(s) from {base_url}")
        out_dir = self.raw_dir / "_opendata"  # "_": skipped by the default /etl listing
        start, end = request.bounds()  # the library's time rule (checked at submit too)
        with OpenDataClient.from_settings(self.settings, base_url=base_url) as client:
            summary = client.fetch(
                request.arcs,
                start,
                end,
                store=self.store(),
                out_dir=out_dir,
            )
        progress(1.0, "fetched")
        return {"base_url": base_url, "summary": _jsonable(summary)}

    def allowed_base_url(self, request: IngestRequest) -> str:
        """The portal URL of an ingest; others than the configured one only on loopback.

        Letting any client point the server at any URL would make it a proxy (SSRF): a
        ``base_url`` different from ``INFOTRAFIC_BASE_URL`` must be a loopback address unless
        ``INFOTRAFIC_ALLOW_ANY_BASE_URL=true``.
        """
        default = self.settings.base_url.rstrip("/")
        if request.base_url is None:
            return default
        url = str(request.base_url).rstrip("/")
        host = (request.base_url.host or "").strip("[]").lower()
        if url == default or self.settings.allow_any_base_url:
            return url
        if host in ("127.0.0.1", "localhost", "::1"):
            return url
        raise ConfigurationError(
            f"base_url {url!r} refused: only INFOTRAFIC_BASE_URL ({default}) or a loopback "
            "server is allowed (set INFOTRAFIC_ALLOW_ANY_BASE_URL=true to lift this)"
        )

    def etl_files(self, request: EtlRequest) -> tuple[list[Path], list[str]]:
        """The files of an ETL request inside raw/, and the names skipped by the listing.

        Nothing outside ``<data_dir>/raw`` is ever read: a named file is resolved (symlinks
        included) and refused when it lands outside (``ValueError``; ``FileNotFoundError`` when
        it is not a file); the default listing skips such files and reports their names.
        """
        if request.files is None:
            from infotrafic.etl import expand_paths

            if not self.raw_dir.is_dir():
                return [], []
            files: dict[Path, None] = {}  # a link to a file of raw/ is that file, read once
            skipped = []
            for path in expand_paths([self.raw_dir]):
                inside = self._inside_raw(path)
                if inside is None:
                    skipped.append(self._relative(path))
                else:
                    files[inside] = None
            return list(files), skipped
        out = []
        for name in request.files:
            parts = name.replace("\\", "/").split("/")
            if any(len(part.encode("utf-8", "surrogatepass")) > _NAME_MAX for part in parts):
                raise ValueError(
                    f"{_short(name)}: a file name is at most {_NAME_MAX} bytes long per part"
                )
            path = safe_child(self.raw_dir, name)
            if not path.is_relative_to(self.raw_dir):
                raise ValueError(f"{_short(name)} resolves outside <data_dir>/raw")
            try:
                is_file = path.is_file()
            except OSError as exc:
                raise ValueError(f"{_short(name)} cannot be read as a file name") from exc
            if not is_file:
                raise FileNotFoundError(f"{_short(name)} is not a file in <data_dir>/raw")
            out.append(path)
        return out, []

    def _inside_raw(self, path: Path) -> Path | None:
        """``path`` resolved when it is a file inside raw/ (symlinks followed), else None."""
        try:
            real = path.resolve(strict=True)
            return real if real.is_relative_to(self.raw_dir) and real.is_file() else None
        except (OSError, RuntimeError):  # broken link, loop, name too long
            return None

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.raw_dir).as_posix()
        except ValueError:
            return path.name

    def clean_error(self, exc: BaseException) -> str:
        """An error message fit for a client: no host path, bounded length."""
        text = str(exc)
        for root in dict.fromkeys((str(self.data_dir), str(self.settings.data_dir.absolute()))):
            text = text.replace(root + "/", "").replace(root, "<data_dir>")
        text = _ABS_PATH.sub("<path>", text)
        return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."

    def job_for(self, kind: JobKind, body: dict[str, Any]) -> JobWork:
        """Validate a job request and return its work and what to do after success.

        Used at submit and again for a job queued before a restart. Raises ``ValidationError``,
        ``ConfigurationError``, ``ValueError``, ``FileNotFoundError`` (a named file missing) or
        :class:`NothingToLoadError` before anything runs.
        """
        if kind == JobKind.ingest:
            ingest = IngestRequest.model_validate(body)
            self.allowed_base_url(ingest)
            return (lambda progress: self.run_ingest(ingest, progress)), self.data_changed
        if kind == JobKind.etl:
            files, skipped = self.etl_files(EtlRequest.model_validate(body))
            if not files:
                raise NothingToLoadError(
                    "no data files in <data_dir>/raw: POST /ingest or copy files there first"
                    + (f" ({len(skipped)} link(s) leading outside skipped)" if skipped else "")
                )
            return (lambda progress: self.run_etl(files, progress, skipped)), self.data_changed
        training = self.resolve_training(TrainingRequest.model_validate(body))
        return (lambda progress: self.run_training(training, progress)), None

    def run_etl(
        self, files: list[Path], progress: Progress, skipped: list[str] | None = None
    ) -> dict[str, Any]:
        """Ingest files of raw/ into the store, one file at a time (for progress).

        A file that loads nothing (truncated, unreadable, without a usable row) does not stop
        the others. The job then fails with an ``IngestError`` naming each such file, and its
        ``result`` still reports what was ingested (``ingested``, ``failed``, ``summary``).
        Each file is checked again just before it is read (still inside raw/, symlinks
        resolved): one swapped for a link leading out meanwhile is skipped, never read.
        """
        store = self.store()
        totals: dict[str, Any] = {}
        ingested: list[str] = []
        failed: list[str] = []
        errors: list[str] = []
        skipped = list(skipped or [])
        for i, path in enumerate(files):
            name = self._relative(path)
            progress(i / max(1, len(files)), f"ingesting {name}")
            inside = self._inside_raw(path)
            if inside is None:
                skipped.append(name)
                continue
            try:
                summary = store.ingest_files([inside], keep_raw=False)
            except IngestError as exc:
                summary = exc.result
                failed.append(name)
                errors.extend(self.clean_error(Exception(line)) for line in exc.errors)
            else:
                ingested.append(name)
            for key, value in _jsonable(summary).items():
                if isinstance(value, int | float):
                    totals[key] = totals.get(key, 0) + value
        result = {
            "files": [self._relative(p) for p in files],
            "skipped": skipped,
            "ingested": ingested,
            "failed": failed,
            "errors": errors,
            "summary": totals,
        }
        if errors:
            if ingested:
                self.data_changed()  # the job fails, yet the store changed
            raise IngestError(
                f"{len(failed)} of {len(files)} file(s) loaded nothing ("
                + (f"{len(ingested)} ingested" if ingested else "none ingested")
                + f"): {errors[0]}"
                + (f" (and {len(errors) - 1} more, see result.errors)" if len(errors) > 1 else ""),
                errors=errors,
                result=result,
            )
        return result

    def resolve_training(self, request: TrainingRequest) -> TrainingRequest:
        """Fill in the defaults; fail fast on a bad model, parameters or time.

        Raises ``ConfigurationError`` (HTTP 422) before anything is queued.
        """
        model = request.model or self.settings.default_model
        params = request.params
        if params is None:
            params = self.settings.default_params if model == self.settings.default_model else {}
        check_params(model, dict(params))
        times = {
            name: parse_time(value, name=name)
            for name in ("start", "end", "validate_start")
            if (value := getattr(request, name)) is not None
        }
        if "start" in times and "end" in times and times["end"] <= times["start"]:
            raise ConfigurationError(f"end {request.end} must be after start {request.start}")
        days = self.settings.backtest_days if request.backtest_days is None else None
        update: dict[str, Any] = {"model": model, "params": dict(params)}
        if days is not None:
            update["backtest_days"] = days
        return request.model_copy(update=update)

    def run_training(self, request: TrainingRequest, progress: Progress) -> dict[str, Any]:
        """Train with the library, save into the model store, register, decide the champion."""
        request = self.resolve_training(request)
        options = TrainingOptions(
            model=str(request.model),
            params=dict(request.params or {}),
            data=request.data,
            arcs=request.arcs,
            start=request.start,
            end=request.end,
            horizons=request.horizons,
            levels=request.levels,
            backtest_days=int(request.backtest_days or 0),
            validate_start=request.validate_start,
        )
        settings = self.settings.model_copy(update={"data_dir": self.data_dir})
        result = run_training(settings, self.models, options, progress)
        self.champions.forget()
        with self._lock:
            self._answers.clear()
        return result

    # -- serving -------------------------------------------------------------------------------
    def mlflow_serving(self) -> bool:
        """Whether the champion is MLflow's (tracking on and its store exists)."""
        return self.settings.mlflow_enabled and self.champions.enabled()

    def served(self, name: str | None = None) -> Served:
        """The model to answer with: the champion, or the newest model of forecaster ``name``.

        The champion is MLflow's (alias ``champion``) when tracking is on and there is one,
        else the model store's.
        """
        champion = self.models.champion()
        if name is not None:
            record = self.models.latest(name)
            if record is None:
                raise NoModelError(
                    f"no trained model of {name!r} yet: POST /training with "
                    f'{{"model": "{name}"}} first, then poll /jobs/{{id}}'
                )
            is_champion = champion is not None and champion.version == record.version
            return Served(self.models.load(record), record.version, "store", is_champion)
        if self.mlflow_serving():
            found = self.champions.get()
            if found is not None:
                version, model = found
                label = f"{self.settings.mlflow_model_name}/{version}"
                return Served(model, label, "mlflow", True)
        if champion is None:
            raise NoModelError(
                "no trained model yet: POST /training first (an empty body {} trains "
                f"'{self.settings.default_model}' on the data), then poll /jobs/{{id}}"
            )
        return Served(self.models.load(champion), champion.version, "store", True)

    def predict(
        self,
        arcs: list[int] | None,
        horizons: list[int] | None,
        at: str | None,
        model_name: str | None,
        data: str,
    ) -> PredictResponse:
        """Forecasts of ``arcs`` (default: all) at ``horizons`` (default: all) issued at ``at``.

        ``at`` goes through :func:`infotrafic.backtest.parse_time` (naive = Paris time; a time
        that does not exist or is ambiguous there, or is not on the hour, is refused with a
        ``ConfigurationError``, HTTP 422). An arc not in the data gives a warning and no row.
        """
        issued = parse_time(at, name="at") if at is not None else None  # 422 before 409
        served = self.served(model_name)
        model = served.model
        if horizons:
            unknown = sorted(set(horizons) - set(model.horizons))
            if unknown:
                raise ForecastUnavailableError(
                    f"horizon {unknown} not forecast by model {model.model} {served.version} "
                    f"(it forecasts {list(model.horizons)} h)"
                )
        source = resolve_source(data, self.data_dir)
        wanted = tuple(sorted(set(arcs))) if arcs else None
        key = (served.registry, served.version, source, *self.data_version(source), wanted, issued)
        frame, notes = self._cached(key, lambda: self._forecast(model, source, wanted, issued, at))
        if horizons:
            frame = frame.loc[frame["horizon"].isin(horizons)]
        rows = json.loads(frame.to_json(orient="records", date_format="iso"))
        if rows:
            issued = pd.Timestamp(frame["issued_at"].iloc[0])
        for row in rows:
            row.pop("issued_at", None)
        return PredictResponse(
            model=model.model,
            model_version=served.version,
            registry=served.registry,  # type: ignore[arg-type]
            champion=served.champion,
            source=source,
            issued_at=None if issued is None else issued.to_pydatetime(),
            data_time=None if issued is None else (issued - model.delay * _HOUR).to_pydatetime(),
            levels=list(model.levels),
            horizons=sorted(set(horizons or model.horizons)),
            warnings=notes,
            forecasts=rows,
        )

    def _cached(self, key: tuple[Any, ...], compute: Any) -> tuple[pd.DataFrame, list[str]]:
        with self._lock:
            hit = self._answers.get(key)
            if hit is not None:
                self._answers.move_to_end(key)
                return hit
            # One computation per key: concurrent misses wait for the first one.
            inflight = self._inflight.setdefault(key, threading.Lock())
        with inflight:
            with self._lock:
                hit = self._answers.get(key)
            if hit is not None:
                return hit
            try:
                answer: tuple[pd.DataFrame, list[str]] = compute()
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
            with self._lock:
                self._answers[key] = answer
                while len(self._answers) > _CACHED_ANSWERS:
                    self._answers.popitem(last=False)
        return answer

    def _forecast(
        self,
        model: ForecastModel,
        source: str,
        arcs: tuple[int, ...] | None,
        issued: pd.Timestamp | None,
        at: str | None,
    ) -> tuple[pd.DataFrame, list[str]]:
        """Read the weeks the model needs from ``source`` and forecast with the library."""
        start = end = None
        try:
            if source == "store" and model.history_hours is not None:
                reference = issued
                if reference is None:
                    latest = self.store().latest_time(arcs)
                    if latest:
                        reference = max(latest.values()) + model.delay * _HOUR
                if reference is not None:
                    start = reference - (model.delay + model.history_hours) * _HOUR
                    end = reference + _HOUR
            panel = load_panel(source, self.data_dir, arcs, start, end)  # type: ignore[arg-type]
        except (OverflowError, pd.errors.OutOfBoundsDatetime):  # a far-away at: read it all
            panel = load_panel(source, self.data_dir, arcs)  # type: ignore[arg-type]
        try:
            with _FORECAST_LOCK, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                frame = forecast(model, panel, at=issued, arcs=arcs)
        except (OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
            raise ConfigurationError(
                f"at: {at!r} is outside the range of times infotrafic handles ({exc})"
            ) from exc
        notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        return frame, list(dict.fromkeys(notes))
