"""The examples' model store: trained forecast models under ``<data_dir>/models``, and the champion.

Layout::

    models/<version>/        a model directory as infotrafic writes it (ForecastModel.save, or
                             ``infotrafic train --out models/<version>``): manifest, forecasters,
                             calibration, validation report
    models/<version>.json    what the examples add to a version: data source, arcs, MLflow run
    models/champion.json     the champion's version and why it became champion
    models/.lock             lock file (filelock) serialising champion decisions and pruning

A version is the directory's name. The library writes a model directory atomically (built aside,
then renamed), so readers never see half a model and concurrent trainings (threads of one server,
the training container) each add their own version.

The champion is the model to serve. A new version becomes champion by the library's rule, the
one the MLflow registration applies to its alias ``champion``
(:func:`infotrafic.forecasting.log_model`): when there is no champion yet, or when its mean
validation MAE is not worse than the champion's on the same validation window (the champion
re-evaluated on the new window when they differ). When a training is registered in MLflow, the
store follows MLflow's decision instead of deciding again. A store without ``champion.json``
(models written by ``infotrafic train --out`` only) serves its newest model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import secrets
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from infotrafic import InfotraficError
from infotrafic._io import atomic_write_text
from infotrafic.forecasting import ChampionDecision, ForecastModel, load_model
from infotrafic.forecasting._champion import decide_champion, training_data
from infotrafic.forecasting._model import read_manifest

__all__ = ["ModelRecord", "ModelStore", "safe_child"]

#: Names a version may have: what the API generates, or any simple directory name.
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_LOADED_MODELS = 4


def safe_child(root: Path, name: str) -> Path:
    """Return ``root / name`` resolved, refusing anything that escapes ``root``.

    Raises ``ValueError`` for absolute names, ``..`` parts, NUL bytes and symlinks leading out.
    """
    if not name or "\x00" in name or "\\" in name:
        raise ValueError(f"invalid file name {name!r}")
    rel = Path(name)
    if rel.is_absolute() or any(part in ("..", "") for part in rel.parts):
        raise ValueError(f"{name!r} must be a relative path without '..'")
    base = root.resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise ValueError(f"{name!r} resolves outside its folder")  # no host path in messages
    return target


def _instant(stamp: str) -> dt.datetime:
    """An ISO 8601 time as an aware UTC datetime (a naive one is read as UTC)."""
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)  # unreadable: oldest
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """One trained model of the store: its manifest's summary and what the API added."""

    version: str
    name: str
    params: dict[str, Any]
    horizons: list[int]
    levels: list[float]
    targets: list[str]
    delay: int
    created_at: str
    infotrafic_version: str
    training: dict[str, Any]
    saved_at: str
    metrics: dict[str, Any] | None = None
    source: str | None = None
    arcs: list[int] | None = None
    mlflow: dict[str, Any] | None = None

    @property
    def validation_window(self) -> tuple[str, str] | None:
        """``(start, end)`` of the validation backtest (UTC ISO), or None."""
        m = self.metrics or {}
        if not m.get("validation_start") or not m.get("validation_end"):
            return None
        return (str(m["validation_start"]), str(m["validation_end"]))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_manifest(
        cls, version: str, manifest: dict[str, Any], extra: dict[str, Any]
    ) -> ModelRecord:
        """Build a record from a model directory's manifest and the API's sidecar."""
        return cls(
            version=version,
            name=str(manifest["model"]),
            params=dict(manifest.get("params") or {}),
            horizons=[int(h) for h in manifest["horizons"]],
            levels=[float(x) for x in manifest["levels"]],
            targets=list(manifest["targets"]),
            delay=int(manifest["delay_hours"]),
            created_at=str(manifest["created"]),
            infotrafic_version=str(manifest["infotrafic_version"]),
            training=dict(manifest["training"]),
            # When the store received it (the sidecar); a directory written by the CLI: trained.
            saved_at=str(extra.get("saved_at") or manifest["created"]),
            metrics=manifest.get("metrics"),
            source=extra.get("source"),
            arcs=extra.get("arcs"),
            mlflow=extra.get("mlflow"),
        )


class ModelStore:
    """Trained forecast models (model directories) in one folder, and the champion among them.

    Parameters
    ----------
    root : Path
        The models folder (``<data_dir>/models``); created when missing.
    keep : int
        Versions kept on disk; older ones are pruned after a save, except the champion and the
        newest model of each forecaster.
    lock_timeout : float
        Seconds to wait for the store lock (a champion decision may re-run a backtest).
    """

    def __init__(self, root: Path, *, keep: int = 20, lock_timeout: float = 1800.0) -> None:
        self.root = Path(root)
        self.keep = keep
        self.lock_timeout = lock_timeout
        self._records: dict[str, tuple[tuple[int, int], ModelRecord]] = {}
        self._models: OrderedDict[tuple[str, int, int], ForecastModel] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------------
    @staticmethod
    def new_version() -> str:
        """A fresh, sortable, unique version name (UTC time + random suffix)."""
        now = dt.datetime.now(dt.UTC)
        return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"

    def model_dir(self, version: str) -> Path:
        """The model directory of ``version`` (``ValueError`` for an unsafe name)."""
        if not _VERSION_RE.match(version):
            raise ValueError(f"invalid model version {version!r}")
        return safe_child(self.root, version)

    def _sidecar(self, version: str) -> Path:
        return self.model_dir(version).with_name(f"{version}.json")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's file lock (also against other processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / ".lock", timeout=self.lock_timeout):
            yield

    # -- reading -------------------------------------------------------------------------------
    def record(self, version: str) -> ModelRecord:
        """The record of one version (``KeyError`` when it is not a model directory)."""
        path = self.model_dir(version)
        try:
            stat = (path / "manifest.json").stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise KeyError(version) from exc
        stamp = (stat.st_mtime_ns, stat.st_ino)  # a directory replaced in place changes it
        with self._cache_lock:
            cached = self._records.get(version)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        manifest = read_manifest(path)
        extra: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            extra = json.loads(self._sidecar(version).read_text(encoding="utf-8"))
        record = ModelRecord.from_manifest(version, manifest, extra)
        with self._cache_lock:
            self._records[version] = (stamp, record)
        return record

    def records(self) -> list[ModelRecord]:
        """Every model of the store, newest first (unreadable or foreign directories skipped)."""
        if not self.root.exists():
            return []
        out = []
        for path in self.root.iterdir():
            if not (path.is_dir() and _VERSION_RE.match(path.name)):
                continue  # also skips the library's temporary ".<name>.*.tmp" directories
            try:
                out.append(self.record(path.name))
            except (InfotraficError, KeyError, TypeError, ValueError, OSError):
                continue  # a foreign, incompatible or half-deleted directory: not a model
        return sorted(out, key=lambda r: (_instant(r.saved_at), r.version), reverse=True)

    def latest(self, name: str | None = None) -> ModelRecord | None:
        """The newest model, overall or of forecaster ``name``; None if none."""
        for record in self.records():
            if name is None or record.name == name:
                return record
        return None

    def _champion_file(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(
                (self.root / "champion.json").read_text(encoding="utf-8")
            )
        except (FileNotFoundError, ValueError):
            return None
        return data

    def champion(self) -> ModelRecord | None:
        """The model to serve: the recorded champion, else the newest; None when empty."""
        chosen = self._champion_file()
        if chosen is not None:
            with contextlib.suppress(KeyError, ValueError, InfotraficError, OSError):
                return self.record(str(chosen["version"]))
        return self.latest()

    def champion_decision(self) -> dict[str, Any] | None:
        """Why the champion is the champion (``version``, ``reason``, ``comparison``, ...)."""
        return self._champion_file()

    def load(self, record: ModelRecord) -> ForecastModel:
        """The trained model of ``record`` (checked by :func:`~infotrafic.forecasting.load_model`).

        A few loaded models are cached per version and manifest stamp.
        """
        path = self.model_dir(record.version)
        stat = (path / "manifest.json").stat()
        key = (record.version, stat.st_mtime_ns, stat.st_ino)
        with self._cache_lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
        model = load_model(path)
        with self._cache_lock:
            self._models[key] = model
            while len(self._models) > _LOADED_MODELS:
                self._models.popitem(last=False)
        return model

    # -- writing -------------------------------------------------------------------------------
    def save(self, model: ForecastModel, **extra: Any) -> ModelRecord:
        """Write a trained model as a new version (``extra``: the sidecar's fields).

        The sidecar is written first and the model directory last, atomically: the version
        exists once its directory does. It is not the champion until :meth:`crown` says so.
        """
        version = self.new_version()
        self.root.mkdir(parents=True, exist_ok=True)
        sidecar = {"saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"), **extra}
        atomic_write_text(self._sidecar(version), json.dumps(sidecar, indent=2, default=str))
        model.save(self.model_dir(version))
        return self.record(version)

    def crown(
        self,
        record: ModelRecord,
        model: ForecastModel,
        *,
        panel: pd.DataFrame | None = None,
        decision: ChampionDecision | None = None,
    ) -> ChampionDecision:
        """Make ``record`` the champion when it is not worse than the current one.

        ``decision``: one already taken (by the MLflow registration); otherwise the library's
        rule decides here against the store's champion, re-evaluating it on the new model's
        validation window with ``panel`` (its training panel) when the windows differ.
        """
        with self.lock():
            if decision is None:
                current = self._champion_file()
                version = None if current is None else str(current["version"])
                manifest = None
                if version is not None:
                    try:
                        manifest = read_manifest(self.model_dir(version))
                    except (InfotraficError, ValueError):
                        version = None  # the recorded champion is gone: start again
                data = training_data(model, panel) if panel is not None else None
                decision = decide_champion(model, manifest, version, data)
            if decision.moved:
                chosen = {
                    "version": record.version,
                    "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    **dataclasses.asdict(decision),
                }
                atomic_write_text(self.root / "champion.json", json.dumps(chosen, indent=2))
        self.prune()
        return decision

    def annotate(self, version: str, **extra: Any) -> ModelRecord:
        """Add fields to a version's sidecar (e.g. its MLflow registration)."""
        path = self._sidecar(version)
        with self.lock():
            data: dict[str, Any] = {}
            with contextlib.suppress(FileNotFoundError, ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
            data.update(extra)
            atomic_write_text(path, json.dumps(data, indent=2, default=str))
        with self._cache_lock:
            self._records.pop(version, None)
        return self.record(version)

    def prune(self) -> None:
        """Delete the oldest versions beyond ``keep``, never the champion or a newest-by-name."""
        with self.lock():
            records = self.records()
            champion = self.champion()
            pinned = {champion.version} if champion else set()
            newest: dict[str, str] = {}
            for r in records:  # newest first
                newest.setdefault(r.name, r.version)
            pinned |= set(newest.values())
            for record in records[self.keep :]:
                if record.version in pinned:
                    continue
                shutil.rmtree(self.model_dir(record.version), ignore_errors=True)
                with contextlib.suppress(FileNotFoundError):
                    self._sidecar(record.version).unlink()
