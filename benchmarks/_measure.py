"""Measuring helpers shared by the benchmarks."""

from __future__ import annotations

import contextlib
import threading


class PeakRSS:
    """Sample the RSS of this process and its children every 20 ms in a background thread.

    Children (e.g. joblib workers with ``n_jobs > 1``) are summed in, so the peak is that of the
    whole computation (an upper bound: pages shared between processes count once per process).
    ``ru_maxrss`` would include the parent's memory inherited through fork.
    """

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        """Current RSS of this process plus its live children, in bytes."""
        import psutil

        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # the child just exited
                total += child.memory_info().rss
        return int(total)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
