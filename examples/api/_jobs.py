"""Background jobs: bounded queues, one training at a time, records that survive a restart.

* Jobs run in threads: trainings on their own single thread (one at a time), ingest and ETL jobs
  on ``INFOTRAFIC_JOB_WORKERS`` threads. At most ``INFOTRAFIC_API_MAX_QUEUED`` jobs wait to run;
  beyond, :meth:`JobManager.submit` raises :class:`QueueFullError` (HTTP 429 with
  ``Retry-After``).
* Each job belongs to the caller that submitted it (the fingerprint of its token): listings,
  status and cancel only show a caller its own jobs.
* Every change of a job is written atomically to ``<data_dir>/jobs/<job_id>.json``. On start the
  records are read back: a job that was running is failed ("interrupted by a server restart"),
  never running forever; a job that was still queued is queued again (its request is validated
  again: when it no longer is valid it fails with the reason) — queued work is never dropped.
* Cancel: a queued job is cancelled at once; a running one stops at its next progress step.
* A job's error is a message: the function's ``InfotraficError`` text made safe by
  ``clean_error`` (no host path, bounded length); any other exception reads "internal error"
  and its traceback goes to the server log only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _schemas import JobKind, JobState, JobStatus
from pydantic import ValidationError

from infotrafic import InfotraficError
from infotrafic._io import atomic_write_text

__all__ = [
    "JOB_ID_PATTERN",
    "JobCancelledError",
    "JobManager",
    "Progress",
    "QueueFullError",
    "Rebuild",
]

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
_MAX_JOBS = 1000  # finished job records kept (oldest pruned)
_RETRY_AFTER = 30  # seconds suggested to a client refused by a full queue
_FINISHED = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})
log = logging.getLogger("infotrafic.api.jobs")

#: ``progress(fraction, message)`` as handed to a job function.
Progress = Callable[[float, str], None]
JobFn = Callable[[Progress], dict[str, Any]]
#: ``rebuild(kind, request) -> (fn, on_success)``: a queued job's work again, after a restart.
Rebuild = Callable[[JobKind, dict[str, Any]], tuple[JobFn, Callable[[], None] | None]]


class QueueFullError(Exception):
    """Too many jobs wait to run (HTTP 429); ``retry_after`` seconds is a fair wait."""

    def __init__(self, queued: int, retry_after: int = _RETRY_AFTER) -> None:
        super().__init__(
            f"{queued} job(s) already wait to run (INFOTRAFIC_API_MAX_QUEUED): retry in "
            f"{retry_after} s"
        )
        self.retry_after = retry_after


class JobCancelledError(Exception):
    """Raised in a job's thread at its next progress step after a cancel."""


@dataclass
class _Job:
    job_id: str
    kind: JobKind
    request: dict[str, Any]
    owner: str
    status: JobState = JobState.queued
    progress: float = 0.0
    message: str = "queued"
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    cancel: bool = False
    future: Future[None] | None = None

    def status_model(self) -> JobStatus:
        return JobStatus(
            job_id=self.job_id,
            kind=self.kind,
            status=self.status,
            progress=self.progress,
            message=self.message,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            request=self.request,
            result=self.result,
            error=self.error,
        )


class JobManager:
    """Run job functions in background threads; keep their records on disk.

    Parameters
    ----------
    root : Path
        Folder of the job records (``<data_dir>/jobs``); created when missing.
    workers : int
        Threads for ingest and ETL jobs (trainings have one thread of their own).
    max_queued : int
        Jobs allowed to wait to run; more are refused with :class:`QueueFullError`.
    clean_error : callable
        Turns a job's ``InfotraficError`` into the message shown to clients.
    """

    def __init__(
        self,
        root: Path,
        *,
        workers: int = 2,
        max_queued: int = 8,
        clean_error: Callable[[BaseException], str] = str,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_queued = max_queued
        self._clean = clean_error
        self._pools = {
            JobKind.training: ThreadPoolExecutor(1, thread_name_prefix="training"),
            None: ThreadPoolExecutor(workers, thread_name_prefix="job"),
        }
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    # -- records -------------------------------------------------------------------------------
    def _save(self, job: _Job) -> None:
        """Write the job's record (call with the lock held)."""
        record = {"owner": job.owner, "job": job.status_model().model_dump(mode="json")}
        try:
            atomic_write_text(self.root / f"{job.job_id}.json", json.dumps(record))
        except OSError:
            log.exception("cannot write the record of job %s", job.job_id)

    def recover(self, rebuild: Rebuild) -> dict[str, int]:
        """Read the records of a previous run: running ones fail, queued ones run again.

        Returns how many records were ``loaded``, ``interrupted`` and ``requeued``.
        """
        counts = {"loaded": 0, "interrupted": 0, "requeued": 0}
        for path in sorted(self.root.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                status = JobStatus.model_validate(record["job"])
                owner = str(record["owner"])
            except (OSError, ValueError, KeyError, TypeError, ValidationError):
                log.warning("skipping unreadable job record %s", path.name)
                continue
            if path.stem != status.job_id:
                continue
            job = _Job(
                job_id=status.job_id,
                kind=status.kind,
                request=status.request,
                owner=owner,
                status=status.status,
                progress=status.progress,
                message=status.message,
                created_at=status.created_at,
                started_at=status.started_at,
                finished_at=status.finished_at,
                result=status.result,
                error=status.error,
            )
            counts["loaded"] += 1
            with self._lock:
                self._jobs[job.job_id] = job
                if job.status == JobState.running:
                    counts["interrupted"] += 1
                    self._finish(
                        job,
                        JobState.failed,
                        {
                            "type": "Interrupted",
                            "message": "the server stopped while this job ran; submit it again",
                        },
                    )
                    continue
            if job.status == JobState.queued:
                try:
                    fn, on_success = rebuild(job.kind, job.request)
                except Exception as exc:  # no longer valid (configuration changed, files gone)
                    with self._lock:
                        self._finish(
                            job,
                            JobState.failed,
                            {
                                "type": type(exc).__name__,
                                "message": "queued before a server restart and no longer "
                                f"valid: {self._message(exc)}",
                            },
                        )
                    continue
                counts["requeued"] += 1
                with self._lock:
                    job.message = "queued again after a server restart"
                    self._save(job)
                    self._start(job, fn, on_success)
        with self._lock:
            self._trim()
        return counts

    # -- submitting ----------------------------------------------------------------------------
    def submit(
        self,
        kind: JobKind,
        request: dict[str, Any],
        fn: JobFn,
        *,
        owner: str,
        on_success: Callable[[], None] | None = None,
    ) -> JobStatus:
        """Queue ``fn(progress)`` for ``owner``; its returned dict becomes the job result.

        Raises :class:`QueueFullError` when ``max_queued`` jobs already wait.
        """
        job = _Job(job_id=uuid.uuid4().hex, kind=kind, request=request, owner=owner)
        with self._lock:
            queued = sum(j.status == JobState.queued for j in self._jobs.values())
            if queued >= self.max_queued:
                raise QueueFullError(queued)
            self._jobs[job.job_id] = job
            self._trim()
            self._save(job)
            self._start(job, fn, on_success)
            return job.status_model()

    def _start(self, job: _Job, fn: JobFn, on_success: Callable[[], None] | None) -> None:
        pool = self._pools.get(job.kind) or self._pools[None]
        job.future = pool.submit(self._run, job, fn, on_success)

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in _FINISHED]
        excess = max(0, len(self._jobs) - _MAX_JOBS)
        for old in sorted(finished, key=lambda j: j.created_at)[:excess]:
            del self._jobs[old.job_id]
            (self.root / f"{old.job_id}.json").unlink(missing_ok=True)

    # -- running -------------------------------------------------------------------------------
    def _run(self, job: _Job, fn: JobFn, on_success: Callable[[], None] | None) -> None:
        def progress(fraction: float, message: str) -> None:
            with self._lock:
                if job.cancel:
                    raise JobCancelledError
                job.progress = min(1.0, max(job.progress, float(fraction)))
                job.message = message[:500]
                self._save(job)

        with self._lock:
            if job.cancel or job.status != JobState.queued:
                return
            job.status = JobState.running
            job.started_at = dt.datetime.now(dt.UTC)
            job.message = "running"
            self._save(job)
        try:
            result = fn(progress)
        except JobCancelledError:
            with self._lock:
                self._finish(job, JobState.cancelled, None, message="cancelled while running")
        except InfotraficError as exc:
            self._fail(job, exc)
        except Exception as exc:  # a job must never kill the worker thread silently
            log.error("job %s failed:\n%s", job.job_id, traceback.format_exc())
            self._fail(job, exc)
        else:
            if on_success is not None:
                on_success()
            with self._lock:
                job.result = result
                job.progress = 1.0
                self._finish(job, JobState.succeeded, None, message="done")

    def _message(self, exc: BaseException) -> str:
        if isinstance(exc, InfotraficError | ValueError):
            return self._clean(exc)
        return "internal error (the server log has the details)"

    def _fail(self, job: _Job, exc: BaseException) -> None:
        partial = getattr(exc, "result", None)  # what a job did before failing, if it says
        error = {"type": type(exc).__name__, "message": self._message(exc)}
        with self._lock:
            job.result = partial if isinstance(partial, dict) else None
            self._finish(job, JobState.failed, error)

    def _finish(
        self,
        job: _Job,
        state: JobState,
        error: dict[str, str] | None,
        message: str | None = None,
    ) -> None:
        """Record the end of a job (call with the lock held)."""
        job.status = state
        job.error = error
        job.message = message or state.value
        job.finished_at = dt.datetime.now(dt.UTC)
        self._save(job)

    # -- reading and cancelling ----------------------------------------------------------------
    def _visible(self, job_id: str, owner: str | None) -> _Job | None:
        job = self._jobs.get(job_id)
        if job is None or (owner is not None and job.owner != owner):
            return None
        return job

    def get(self, job_id: str, owner: str | None = None) -> JobStatus | None:
        """Status of one job of ``owner`` (any owner when None); None when unknown."""
        with self._lock:
            job = self._visible(job_id, owner)
            return None if job is None else job.status_model()

    def list(self, owner: str | None = None) -> list[JobStatus]:
        """The jobs of ``owner`` (every job when None), newest first."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if owner is None or j.owner == owner]
            jobs.sort(key=lambda j: j.created_at, reverse=True)
            return [j.status_model() for j in jobs]

    def cancel(self, job_id: str, owner: str | None = None) -> JobStatus | None:
        """Cancel a job: at once when queued, at its next step when running.

        Returns its status (unchanged when already finished), None when unknown.
        """
        with self._lock:
            job = self._visible(job_id, owner)
            if job is None:
                return None
            if job.status == JobState.queued:
                job.cancel = True
                if job.future is not None:
                    job.future.cancel()
                self._finish(job, JobState.cancelled, None, message="cancelled before it ran")
            elif job.status == JobState.running and not job.cancel:
                job.cancel = True
                job.message = "cancel requested: stops at its next step"
                self._save(job)
            return job.status_model()

    def counts(self) -> dict[str, int]:
        """Number of jobs per state."""
        with self._lock:
            out = {s.value: 0 for s in JobState}
            for j in self._jobs.values():
                out[j.status.value] += 1
            return out

    def shutdown(self) -> None:
        """Stop accepting jobs; running ones finish (queued ones keep their record)."""
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
