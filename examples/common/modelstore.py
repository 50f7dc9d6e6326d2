"""A tiny versioned store of fitted forecasters under ``<data_dir>/models``.

Layout (every file written to a temporary name, then renamed; the index changed under a lock)::

    models/<version>.model          what infotrafic.forecasters.save_forecaster wrote
    models/<version>.json           the ModelRecord (name, params, data, metrics, mlflow run ...)
    models/<version>.backtest.json  the short backtest report run after the training (optional)
    models/index.json               {"latest": version, "by_name": {name: version}}
    models/.lock                    lock file (filelock) serialising index updates

Concurrent trainings (threads of one server, or several processes) each write their own version
files, then take the lock only to publish them in the index: readers never see a half-written
model, and the index is always valid JSON pointing at complete files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from infotrafic.forecasters import load_forecaster, save_forecaster

__all__ = ["ModelRecord", "ModelStore", "atomic_write_text", "safe_child"]

_VERSION_RE = re.compile(r"^\d{8}T\d{6}\d{6}Z-[0-9a-f]{8}$")
_THREAD_LOCK = threading.RLock()
_LOADED_MODELS = 8


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
        raise ValueError(f"{name!r} resolves outside {base}")
    return target


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class ModelRecord:
    """Metadata of one fitted forecaster in the store."""

    version: str
    name: str
    params: dict[str, Any]
    source: str
    arcs: list[int]
    data_start: str | None
    data_end: str | None
    n_rows: int
    created_at: str
    horizon: int = 1
    delay: int = 0
    fit_seconds: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    has_backtest: bool = False
    mlflow_run_id: str | None = None
    mlflow_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class ModelStore:
    """Versioned fitted forecasters in one folder, safe under concurrent writers.

    Parameters
    ----------
    root : Path
        The models folder (``<data_dir>/models``); created when missing.
    keep : int
        Versions kept on disk; older ones not referenced by the index are pruned on save.
    """

    def __init__(self, root: Path, *, keep: int = 20, lock_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.keep = keep
        self.lock_timeout = lock_timeout
        self._cache: OrderedDict[str, Any] = OrderedDict()  # a few loaded models (LRU)
        self._records: dict[str, ModelRecord] = {}
        self._index: tuple[tuple[int, int, int], str] | None = None
        self._cache_lock = threading.Lock()

    # -- locking -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store lock: a thread lock plus a file lock for other processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCK, FileLock(self.root / ".lock", timeout=self.lock_timeout):
            yield

    # -- paths ---------------------------------------------------------------------------------
    @staticmethod
    def new_version() -> str:
        """A fresh, sortable, unique version id (UTC time + random suffix)."""
        now = dt.datetime.now(dt.UTC)
        return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(4)

    def _path(self, version: str, suffix: str) -> Path:
        if not _VERSION_RE.match(version):
            raise ValueError(f"invalid model version {version!r}")
        return safe_child(self.root, version + suffix)

    def model_path(self, version: str) -> Path:
        """Where the fitted forecaster of ``version`` lives."""
        return self._path(version, ".model")

    # -- index ---------------------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        path = self.root / "index.json"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return {"latest": None, "by_name": {}}
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._cache_lock:  # the index is replaced, never edited: its stat identifies it
            if self._index is not None and self._index[0] == stamp:
                return json.loads(self._index[1])  # type: ignore[no-any-return]
        text = path.read_text(encoding="utf-8")
        with self._cache_lock:
            self._index = (stamp, text)
        data: dict[str, Any] = json.loads(text)
        return data

    def record(self, version: str) -> ModelRecord:
        """The record of one version (``KeyError`` when unknown)."""
        with self._cache_lock:
            cached = self._records.get(version)
        if cached is not None:
            return cached
        path = self._path(version, ".json")
        if not path.exists():
            raise KeyError(version)
        record = ModelRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        with self._cache_lock:
            self._records[version] = record
        return record

    def latest(self, name: str | None = None) -> ModelRecord | None:
        """The newest published record, overall or for forecaster ``name``; None if none."""
        index = self._read_index()
        version = index["by_name"].get(name) if name is not None else index["latest"]
        if version is None:
            return None
        return self.record(version)

    def records(self) -> list[ModelRecord]:
        """Every record on disk, newest first."""
        if not self.root.exists():
            return []
        out = []
        for p in sorted(self.root.glob("*.json"), reverse=True):
            version = p.name.removesuffix(".json")
            if _VERSION_RE.match(version):
                out.append(self.record(version))
        return out

    # -- writing -------------------------------------------------------------------------------
    def save(
        self,
        model: Any,
        record: ModelRecord,
        *,
        backtest_json: str | None = None,
        before_publish: Callable[[Path], ModelRecord] | None = None,
    ) -> ModelRecord:
        """Write a fitted model, its record and backtest report, then publish it in the index.

        ``before_publish(model_path)`` may return an updated record (e.g. with an MLflow run id)
        once the model file is complete but before it becomes visible.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        version = record.version
        final = self.model_path(version)
        save_forecaster(model, final)  # itself atomic: temporary file + rename
        if backtest_json is not None:
            atomic_write_text(self._path(version, ".backtest.json"), backtest_json)
        if before_publish is not None:
            record = before_publish(final)
        atomic_write_text(self._path(version, ".json"), json.dumps(record.to_dict(), indent=2))
        with self.lock():
            index = self._read_index()
            index["latest"] = version
            index["by_name"][record.name] = version
            atomic_write_text(self.root / "index.json", json.dumps(index, indent=2))
            self._prune(index)
        return record

    def _prune(self, index: dict[str, Any]) -> None:
        pinned = {index["latest"], *index["by_name"].values()}
        versions = sorted(
            {p.name.split(".", 1)[0] for p in self.root.iterdir() if _VERSION_RE.match(p.stem)},
            reverse=True,
        )
        for version in versions[self.keep :]:
            if version in pinned:
                continue
            for suffix in (".model", ".json", ".backtest.json"):
                with contextlib.suppress(FileNotFoundError):
                    self._path(version, suffix).unlink()

    # -- reading -------------------------------------------------------------------------------
    def load(self, record: ModelRecord) -> Any:
        """The fitted forecaster of ``record`` (cached per version: files never change)."""
        with self._cache_lock:
            model = self._cache.get(record.version)
            if model is not None:
                self._cache.move_to_end(record.version)
                return model
        model = load_forecaster(self.model_path(record.version))
        with self._cache_lock:
            self._cache[record.version] = model
            while len(self._cache) > _LOADED_MODELS:
                self._cache.popitem(last=False)
        return model

    def backtest_report(self, record: ModelRecord) -> dict[str, Any] | None:
        """The backtest report (parsed JSON) saved with ``record``, or None."""
        path = self._path(record.version, ".backtest.json")
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
