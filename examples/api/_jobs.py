"""Background jobs: a thread pool and an in-memory table of job states.

Jobs live in the memory of the server process (run uvicorn with one worker); they are lost on
restart, while what they produced (store, models, MLflow runs) stays on disk.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from _schemas import JobKind, JobState, JobStatus

from infotrafic import InfotraficError

__all__ = ["JOB_ID_PATTERN", "JobManager", "Progress"]

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
_MAX_JOBS = 1000
log = logging.getLogger("infotrafic.api.jobs")

#: ``progress(fraction, message)`` as handed to a job function.
Progress = Callable[[float, str], None]


@dataclass
class _Job:
    job_id: str
    kind: JobKind
    request: dict[str, Any]
    status: JobState = JobState.queued
    progress: float = 0.0
    message: str = "queued"
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None


class JobManager:
    """Run job functions in background threads and keep their status."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        kind: JobKind,
        request: dict[str, Any],
        fn: Callable[[Progress], dict[str, Any]],
        on_success: Callable[[], None] | None = None,
    ) -> JobStatus:
        """Queue ``fn(progress)``; its returned dict becomes the job result."""
        job = _Job(job_id=uuid.uuid4().hex, kind=kind, request=request)
        with self._lock:
            self._jobs[job.job_id] = job
            self._trim()
            snapshot = self._status(job)
        self._pool.submit(self._run, job, fn, on_success)
        return snapshot

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        excess = max(0, len(self._jobs) - _MAX_JOBS)
        for old in sorted(finished, key=lambda j: j.created_at)[:excess]:
            del self._jobs[old.job_id]

    def _run(
        self,
        job: _Job,
        fn: Callable[[Progress], dict[str, Any]],
        on_success: Callable[[], None] | None,
    ) -> None:
        def progress(fraction: float, message: str) -> None:
            with self._lock:
                job.progress = min(1.0, max(job.progress, float(fraction)))
                job.message = message

        with self._lock:
            job.status = JobState.running
            job.started_at = dt.datetime.now(dt.UTC)
            job.message = "running"
        try:
            result = fn(progress)
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
                job.status = JobState.succeeded
                job.progress = 1.0
                job.message = "done"
                job.finished_at = dt.datetime.now(dt.UTC)

    def _fail(self, job: _Job, exc: BaseException) -> None:
        partial = getattr(exc, "result", None)  # what a job did before failing, if it says
        with self._lock:
            job.result = partial if isinstance(partial, dict) else None
            job.error = {"type": type(exc).__name__, "message": str(exc)}
            job.status = JobState.failed
            job.message = "failed"
            job.finished_at = dt.datetime.now(dt.UTC)

    def _status(self, job: _Job) -> JobStatus:
        return JobStatus(
            job_id=job.job_id,
            kind=job.kind,
            status=job.status,
            progress=job.progress,
            message=job.message,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            request=job.request,
            result=job.result,
            error=job.error,
        )

    def get(self, job_id: str) -> JobStatus | None:
        """Status snapshot of one job, or None when unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else self._status(job)

    def list(self) -> list[JobStatus]:
        """Every known job, newest first."""
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)
            return [self._status(j) for j in jobs]

    def counts(self) -> dict[str, int]:
        """Number of jobs per state."""
        with self._lock:
            out = {s.value: 0 for s in JobState}
            for j in self._jobs.values():
                out[j.status.value] += 1
            return out

    def shutdown(self) -> None:
        """Stop accepting jobs; running ones finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
