"""What the endpoints do, on top of infotrafic's public API (no HTTP here).

Every function takes the settings and stores explicitly; the FastAPI layer (``app.py``) only
validates requests, starts jobs and maps errors to status codes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _jobs import Progress
from _schemas import EtlRequest, IngestRequest, PredictResponse, TrainingRequest
from common.modelstore import ModelRecord, ModelStore, safe_child
from common.settings import ExampleSettings
from common.tracking import feature_spec_of, log_backtest_run

from infotrafic import ConfigurationError, InfotraficError
from infotrafic.backtest import backtest
from infotrafic.datasets import load_sample
from infotrafic.etl import ParquetStore
from infotrafic.forecasters import make_forecaster

__all__ = [
    "ArcNotFoundError",
    "ForecastUnavailableError",
    "NoModelError",
    "Service",
]

_HOUR = pd.Timedelta(hours=1)
_METRICS = ("mae", "rmse", "bias", "mase", "wmape")
_CACHED_ARCS = 512  # per-arc histories kept in memory
_STORE_CHECK_SECONDS = 5.0  # how often to look for store changes made by other processes


class NoModelError(Exception):
    """No model trained yet (HTTP 409)."""


class ArcNotFoundError(Exception):
    """The arc is not in the model's data (HTTP 404)."""


class ForecastUnavailableError(Exception):
    """A forecast cannot be made for that arc and time (HTTP 422)."""


def _utc(value: dt.datetime | None) -> pd.Timestamp | None:
    """Naive values are Europe/Paris wall-clock time, as everywhere in infotrafic."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        try:
            ts = ts.tz_localize("Europe/Paris", ambiguous="raise", nonexistent="raise")
        except (ValueError, OverflowError) as exc:  # DST gap/overlap, out of range
            raise ConfigurationError(
                f"{value.isoformat()} is not a unique Europe/Paris time ({exc}); give a UTC "
                "offset, e.g. 2023-10-29T02:00:00+01:00"
            ) from exc
    return ts.tz_convert("UTC")


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


def report_metrics(report: Any, model_name: str) -> dict[str, float]:
    """Overall metrics (and coverage, n_predicted) of ``model_name`` in a ``BacktestReport``."""
    overall: pd.DataFrame = report.overall
    if model_name not in overall.index:
        return {}
    row = overall.loc[model_name]
    out = {}
    for key in (*_METRICS, "coverage", "n_predicted"):
        if key in row.index:
            value = float(np.asarray(row[key], dtype="float64"))
            if math.isfinite(value):
                out[key] = value
    return out


class Service:
    """State shared by the endpoints: settings, model store, caches."""

    def __init__(self, settings: ExampleSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        for sub in ("raw", "processed", "models"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.models = ModelStore(self.data_dir / "models", keep=settings.keep_models)
        self._generation = 0  # bumped when this process changes the store (ingest / etl jobs)
        self._stamp: tuple[float, int] = (0.0, 0)  # (checked at, newest store file mtime)
        self._lock = threading.Lock()
        self._panels: OrderedDict[tuple[str, int, int, int], pd.DataFrame] = OrderedDict()
        self._answers: OrderedDict[tuple[Any, ...], PredictResponse] = OrderedDict()
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
        """Forget cached panels and answers (after an ingest or ETL job)."""
        with self._lock:
            self._generation += 1
            self._panels.clear()
            self._answers.clear()

    def load_panel(
        self,
        source: str,
        arcs: list[int] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """The sample or the store, restricted to arcs and ``[start, end)``."""
        if source == "sample":
            panel = load_sample()
            mask = pd.Series(True, index=panel.index)
            if arcs is not None:
                mask &= panel["arc_id"].isin(arcs)
            if start is not None:
                mask &= panel["time"] >= start
            if end is not None:
                mask &= panel["time"] < end
            return panel.loc[mask].reset_index(drop=True)
        if source == "store":
            return self.store().read(arcs=arcs, start=start, end=end)
        raise ConfigurationError(f"unknown data source {source!r}; use 'sample' or 'store'")

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

    def arc_history(self, source: str, arc_id: int) -> pd.DataFrame:
        """Every row of one arc in ``source`` (cached until the data changes)."""
        key = (source, *self.data_version(source), arc_id)
        with self._lock:
            cached = self._panels.get(key)
            if cached is not None:
                self._panels.move_to_end(key)
                return cached
        frame = self.load_panel(source, arcs=[arc_id])
        frame = frame.sort_values("time").reset_index(drop=True)
        with self._lock:
            self._panels[key] = frame
            while len(self._panels) > _CACHED_ARCS:
                self._panels.popitem(last=False)
        return frame

    # -- jobs ----------------------------------------------------------------------------------
    def run_ingest(self, request: IngestRequest, progress: Progress) -> dict[str, Any]:
        """Fetch arcs over a time range from the portal into raw/ and the store."""
        from infotrafic.opendata import OpenDataClient, RetryPolicy

        base_url = self.allowed_base_url(request)
        api_key = self.settings.api_key.get_secret_value() if self.settings.api_key else None
        progress(0.05, f"fetching {len(request.arcs)} arc(s) from {base_url}")
        retry = RetryPolicy(
            max_retries=self.settings.max_retries, max_quota_wait=self.settings.max_quota_wait
        )
        out_dir = self.raw_dir / "_opendata"  # "_": skipped by the default /etl listing
        with OpenDataClient(
            base_url, api_key=api_key, timeout=self.settings.timeout, retry=retry
        ) as client:
            summary = client.fetch(
                request.arcs,
                pd.Timestamp(request.start),  # naive = Paris wall-clock, as in the library
                pd.Timestamp(request.end),
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

    def etl_files(self, request: EtlRequest) -> list[Path]:
        """Resolve the files of an ETL request inside raw/ (``ValueError`` if unsafe/missing)."""
        if request.files is None:
            from infotrafic.etl import expand_paths

            return expand_paths([self.raw_dir]) if self.raw_dir.exists() else []
        out = []
        for name in request.files:
            path = safe_child(self.raw_dir, name)
            if not path.is_file():
                raise FileNotFoundError(f"{name!r} is not a file in <data_dir>/raw")
            out.append(path)
        return out

    def run_etl(self, files: list[Path], progress: Progress) -> dict[str, Any]:
        """Ingest files of raw/ into the store, one file at a time (for progress)."""
        store = self.store()
        totals: dict[str, Any] = {}
        for i, path in enumerate(files):
            progress(i / max(1, len(files)), f"ingesting {path.name}")
            summary = _jsonable(store.ingest_files([path], keep_raw=False))
            for key, value in summary.items():
                if isinstance(value, int | float):
                    totals[key] = totals.get(key, 0) + value
        return {"files": [p.relative_to(self.raw_dir).as_posix() for p in files], "summary": totals}

    def resolve_training(self, request: TrainingRequest) -> TrainingRequest:
        """Fill in the default model and parameters; fail fast on a bad model or parameters.

        Raises ``ConfigurationError`` (HTTP 422) before anything is queued.
        """
        model = request.model or self.settings.default_model
        params = request.params
        if params is None:
            params = self.settings.default_params if model == self.settings.default_model else {}
        try:
            make_forecaster(model, **params)
        except (InfotraficError, TypeError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"model {model!r}: {exc}") from exc
        return request.model_copy(update={"model": model, "params": dict(params)})

    def run_training(self, request: TrainingRequest, progress: Progress) -> dict[str, Any]:
        """Fit, run a short backtest, save atomically, log to MLflow."""
        request = self.resolve_training(request)
        name, params = str(request.model), dict(request.params or {})
        progress(0.02, f"loading data ({request.data})")
        panel = self.load_panel(request.data, request.arcs, _utc(request.start), _utc(request.end))
        if panel.empty or panel["flow"].notna().sum() == 0:
            raise ConfigurationError(
                f"no flow data in {request.data!r} for the requested arcs/time range; "
                + ("POST /ingest or /etl first" if request.data == "store" else "widen the range")
            )
        model = make_forecaster(name, **params)
        progress(0.1, f"fitting {name} on {len(panel)} rows")
        t0 = time.perf_counter()
        model.fit(panel)
        fit_seconds = time.perf_counter() - t0

        days = request.backtest_days
        if days is None:
            days = self.settings.backtest_days
        report_json = None
        metrics: dict[str, float] = {}
        backtest_error = None
        if days > 0:
            progress(0.5, f"backtesting the last {days} day(s)")
            last = panel.loc[panel["flow"].notna(), "time"].max()
            end = last + _HOUR
            start = end - pd.Timedelta(days=days)
            try:
                result = backtest(
                    panel,
                    {name: make_forecaster(name, **params)},
                    start=start,
                    end=end,
                    horizon=int(getattr(model, "horizon", 1)),
                    delay=int(getattr(model, "delay", 0)),
                    refit=f"{days}D",
                )
                report_json = result.report.to_json()
                metrics = report_metrics(result.report, name)
            except InfotraficError as exc:  # e.g. a window with nothing to score
                backtest_error = f"{type(exc).__name__}: {exc}"

        progress(0.85, "saving")
        times = panel["time"]
        record = ModelRecord(
            version=self.models.new_version(),
            name=name,
            params=params,
            source=request.data,
            arcs=sorted(int(a) for a in panel["arc_id"].unique()),
            data_start=times.min().isoformat(),
            data_end=times.max().isoformat(),
            n_rows=len(panel),
            created_at=dt.datetime.now(dt.UTC).isoformat(),
            horizon=int(getattr(model, "horizon", 1)),
            delay=int(getattr(model, "delay", 0)),
            fit_seconds=round(fit_seconds, 3),
            metrics=metrics,
            has_backtest=report_json is not None,
        )
        spec = feature_spec_of(model)

        def track(model_path: Path) -> ModelRecord:
            progress(0.9, "logging to MLflow")
            tracked = log_backtest_run(
                self.settings,
                run_name=f"training-{name}-{record.version}",
                params={
                    "model": name,
                    "params": params,
                    "data": request.data,
                    "arcs": ",".join(map(str, record.arcs)),
                    "data_start": record.data_start,
                    "data_end": record.data_end,
                    "n_rows": record.n_rows,
                    "horizon": record.horizon,
                    "delay": record.delay,
                    "backtest_days": days,
                },
                metrics={**metrics, "fit_seconds": fit_seconds},
                feature_spec=spec,
                report_json=report_json,
                model_path=model_path,
                tags={"infotrafic.kind": "training", "infotrafic.model_version": record.version},
            )
            return dataclasses.replace(
                record, mlflow_run_id=tracked.run_id, mlflow_error=tracked.error
            )

        saved = self.models.save(model, record, backtest_json=report_json, before_publish=track)
        with self._lock:
            self._answers.clear()
        out = saved.to_dict()
        if backtest_error:
            out["backtest_error"] = backtest_error
        return out

    # -- predict -------------------------------------------------------------------------------
    def predict(
        self, arc_id: int, at: dt.datetime | None, model_name: str | None
    ) -> PredictResponse:
        """The next-hour forecast of ``arc_id`` (for target time ``at`` when given)."""
        record = self.models.latest(model_name)
        if record is None:
            which = f"of model {model_name!r} " if model_name else ""
            raise NoModelError(
                f"no trained model {which}yet: POST /training first (an empty body {{}} fits "
                f"'{self.settings.default_model}' on the bundled sample), then poll /jobs/{{id}}"
            )
        target = _utc(at)
        if target is not None and target != target.floor("h"):
            raise ForecastUnavailableError(
                f"at={at.isoformat() if at else at} is not on the hour; forecasts are for whole "
                "counting hours (give the END of the hour, e.g. 2023-11-30T18:00:00Z)"
            )
        key = (record.version, *self.data_version(record.source), arc_id, target)
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
                answer = self._predict(record, arc_id, target)
            except BaseException:
                with self._lock:
                    self._inflight.pop(key, None)
                raise
            with self._lock:
                self._answers[key] = answer
                self._inflight.pop(key, None)
                while len(self._answers) > 4096:
                    self._answers.popitem(last=False)
        return answer

    def _predict(
        self, record: ModelRecord, arc_id: int, target: pd.Timestamp | None
    ) -> PredictResponse:
        history = self.arc_history(record.source, arc_id)
        observed = history.loc[history["flow"].notna(), "time"]
        if observed.empty:
            where = "the bundled sample" if record.source == "sample" else "the store"
            raise ArcNotFoundError(
                f"arc {arc_id} has no flow data in {where} used by model {record.name} "
                f"{record.version} (arcs there include {record.arcs[:10]})"
            )
        model = self.models.load(record)
        lead = record.horizon + record.delay
        if target is None:
            data_time = observed.max()
            target = data_time + lead * _HOUR
        cutoff = target - lead * _HOUR
        usable = observed[observed <= cutoff]
        if usable.empty:
            raise ForecastUnavailableError(
                f"no data for arc {arc_id} at or before {cutoff.isoformat()} (first hour with "
                f"data: {observed.min().isoformat()})"
            )
        data_time = usable.max()
        targets = pd.DataFrame({"arc_id": [arc_id], "time": [target]})
        targets["arc_id"] = targets["arc_id"].astype("int64")
        past = history[history["time"] <= cutoff]
        window = past[past["time"] > cutoff - pd.Timedelta(days=self.settings.history_days)]
        value = float(np.asarray(model.predict(window, targets), dtype="float64")[0])
        if not math.isfinite(value) and len(window) < len(past):
            value = float(np.asarray(model.predict(past, targets), dtype="float64")[0])
        if not math.isfinite(value):
            raise ForecastUnavailableError(
                f"model {record.name} cannot forecast arc {arc_id} for {target.isoformat()}: "
                f"the inputs it needs are missing (newest data for the arc at that time: "
                f"{data_time.isoformat()}, {lead} h before the target at most)"
            )
        return PredictResponse(
            arc_id=arc_id,
            target_time=target.to_pydatetime(),
            data_time=data_time.to_pydatetime(),
            value=round(value, 3),
            model=record.name,
            model_version=record.version,
            lead_hours=lead,
        )
