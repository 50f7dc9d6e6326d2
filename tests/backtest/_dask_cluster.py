"""A real Dask cluster on loopback for the tests: ``dask scheduler`` + ``dask worker`` processes.

Each worker is its own ``dask worker --no-nanny`` process (one thread), so that a test can
SIGKILL one mid-run and watch the scheduler reschedule its tasks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["Cluster"]


class Cluster:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, root: Path, n_workers: int = 2) -> None:
        self.root = root
        self.scheduler_file = root / "scheduler.json"
        self.log = open(root / "dask.log", "ab")  # noqa: SIM115 - closed in close()
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        self.env = env
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
             "--scheduler-file", str(self.scheduler_file)],
            stdout=self.log, stderr=self.log, env=env,
        )  # fmt: skip
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                self.close()
                raise RuntimeError(f"dask scheduler did not start; see {root / 'dask.log'}")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written at once, but let it be complete
        self.address: str = json.loads(self.scheduler_file.read_text())["address"]
        for i in range(n_workers):
            self.add_worker(f"w{i}")

    def add_worker(self, name: str) -> None:
        """Start one single-threaded worker process (no nanny: SIGKILL really kills it)."""
        self.workers[name] = subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", self.address, "--name", name,
             "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
             "--local-directory", str(self.root / name)],
            stdout=self.log, stderr=self.log, env=self.env,
        )  # fmt: skip

    def wait(self, client: Any, n: int) -> None:
        """Wait until ``n`` workers joined."""
        client.wait_for_workers(n, timeout=120)

    def kill(self, name: str) -> None:
        """SIGKILL a worker process."""
        proc = self.workers.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def close(self) -> None:
        """Stop every process this cluster started (by their own ids)."""
        for proc in [*self.workers.values(), self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers.values(), self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.log.close()
