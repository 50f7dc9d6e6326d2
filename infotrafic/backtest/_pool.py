"""The training pool of the streaming backtest: feature rows kept for later refits.

Feature rows are built once, chunk by chunk, and handed to the pool; at each refit the pool
returns the rows inside the training window. A bounded pool (``max_rows``) keeps a uniform
sample by *bottom-k sampling*: every row gets a deterministic pseudo-random key (a hash of its
arc, its hour and a seed) and a window's sample is the ``max_rows`` rows of smallest key. The
bottom-k of a union is the bottom-k of the parts' bottom-k, so the pool only stores, per
segment of time, the rows that can still be drawn:

* the time axis is cut into segments at every window bound (``cutoff - lead`` and, with a
  sliding window, ``cutoff - lead - train_size``), so each segment is either wholly inside or
  wholly outside any training window;
* each segment is pruned to its bottom-k; with an expanding window every segment that all
  future windows contain is merged into one (and pruned again); segments older than every
  future window are dropped.

The sample drawn at a refit is therefore exactly the bottom-k of the window's rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["TrainingPool", "sample_keys", "take_rows"]

_U64 = np.uint64


def _mix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser (a bijection of 64-bit integers with good avalanche)."""
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def sample_keys(
    arc_id: NDArray[np.int64], hours: NDArray[np.int64], seed: int
) -> NDArray[np.uint64]:
    """Return a deterministic pseudo-random 64-bit key per ``(arc_id, hour)`` row.

    Parameters
    ----------
    arc_id : numpy.ndarray
        Arc identifiers (int64).
    hours : numpy.ndarray
        Whole hours since the Unix epoch (int64).
    seed : int
        Mixed into every key (the model's ``random_state``).

    Returns
    -------
    numpy.ndarray
        uint64 keys; the same row always gets the same key for a given seed.

    Examples
    --------
    >>> import numpy as np
    >>> k = sample_keys(np.array([1, 1, 2]), np.array([5, 6, 5]), seed=0)
    >>> len(set(k.tolist())), bool((k == sample_keys(np.array([1, 1, 2]),
    ...                                              np.array([5, 6, 5]), seed=0)).all())
    (3, True)
    """
    with np.errstate(over="ignore"):
        a = np.asarray(arc_id, dtype=np.int64).view(np.uint64)
        h = np.asarray(hours, dtype=np.int64).view(np.uint64)
        s = _U64(int(seed) & 0xFFFFFFFFFFFFFFFF)
        z = _mix(a + s * _U64(0x9E3779B97F4A7C15))
        return _mix(z ^ (h * _U64(0xD6E8FEB86659FD93)))


def take_rows(frame: pd.DataFrame, idx: NDArray[np.intp]) -> pd.DataFrame:
    """Return ``frame.iloc[idx]`` with a fresh RangeIndex (one copy, not two)."""
    out = frame.iloc[idx]
    out.index = pd.RangeIndex(len(out))
    return out


class _Piece:
    """Rows of one time segment: the feature rows and their sampling and ordering keys."""

    def __init__(self, frame: pd.DataFrame, key: NDArray[np.uint64], order: NDArray[np.int64]):
        self.frame = frame
        self.key = key
        self.order = order

    @staticmethod
    def merge(pieces: list[_Piece], k: int | None) -> _Piece:
        """Return the bottom-k rows of several pieces (copying only the rows kept)."""
        if len(pieces) == 1:
            return pieces[0].bottom(k)
        key = np.concatenate([p.key for p in pieces])
        if k is not None and len(key) > k:
            chosen = np.sort(np.argpartition(key, k - 1)[:k])
            starts = np.cumsum([0] + [len(p) for p in pieces])
            parts = []
            for i, p in enumerate(pieces):
                sel = chosen[(chosen >= starts[i]) & (chosen < starts[i + 1])] - starts[i]
                parts.append(p if len(sel) == len(p) else p.take(sel))
            pieces = [p for p in parts if len(p)]
            if len(pieces) == 1:
                return pieces[0]
        return _Piece(
            pd.concat([p.frame for p in pieces], ignore_index=True),
            np.concatenate([p.key for p in pieces]),
            np.concatenate([p.order for p in pieces]),
        )

    def take(self, idx: NDArray[np.intp]) -> _Piece:
        """Return the rows ``idx``."""
        return _Piece(take_rows(self.frame, idx), self.key[idx], self.order[idx])

    def bottom(self, k: int | None) -> _Piece:
        """Return the ``k`` rows of smallest key (all rows when ``k`` is None or not exceeded)."""
        if k is None or len(self.key) <= k:
            return self
        idx = np.argpartition(self.key, k - 1)[:k]
        return self.take(np.sort(idx))

    def __len__(self) -> int:
        return len(self.key)


class TrainingPool:
    """Feature rows kept for the refits of a backtest (see the module docstring).

    Parameters
    ----------
    uppers : sequence of int
        Upper bound (ns, inclusive) of the training window of each refit, in refit order.
    lowers : sequence of int or None
        Lower bound (ns, exclusive) of each window; None for an expanding window.
    max_rows : int, optional
        Keep a bottom-k sample of at most this many rows per window; None keeps every row.
    """

    def __init__(self, uppers: list[int], lowers: list[int] | None, max_rows: int | None) -> None:
        self.uppers = uppers
        self.lowers = lowers
        self.max_rows = None if max_rows is None else max(1, int(max_rows))
        bounds = set(uppers) | (set(lowers) if lowers is not None else set())
        self.bounds = np.array(sorted(bounds), dtype=np.int64)
        self.pieces: dict[int, _Piece] = {}

    def _segment(self, t_ns: NDArray[np.int64]) -> NDArray[np.intp]:
        """Index ``i`` of the segment ``(bounds[i - 1], bounds[i]]`` holding each time."""
        return np.asarray(np.searchsorted(self.bounds, t_ns, side="left"), dtype=np.intp)

    def _index(self, bound: int) -> int:
        return int(np.searchsorted(self.bounds, bound, side="left"))

    def __len__(self) -> int:
        return sum(len(p) for p in self.pieces.values())

    def add(
        self,
        frame: pd.DataFrame,
        t_ns: NDArray[np.int64],
        key: NDArray[np.uint64],
        order: NDArray[np.int64],
        next_refit: int,
    ) -> None:
        """Add feature rows, then prune what no refit from ``next_refit`` on can draw.

        Parameters
        ----------
        frame : pandas.DataFrame
            Feature rows (any order).
        t_ns : numpy.ndarray
            Their times (ns).
        key : numpy.ndarray
            Their sampling keys (:func:`sample_keys`).
        order : numpy.ndarray
            Their ordering keys (training rows are handed out sorted by it).
        next_refit : int
            Index of the next refit to come.
        """
        if next_refit >= len(self.uppers):
            return
        seg = self._segment(t_ns)
        last = self._index(self.uppers[-1])
        keep = seg <= last  # rows newer than the last window are never drawn
        if self.lowers is not None:
            keep &= seg > self._index(self.lowers[next_refit])
        if not keep.all():
            idx = np.flatnonzero(keep)
            frame, seg, key, order = frame.iloc[idx], seg[idx], key[idx], order[idx]
        if len(seg):
            by = np.argsort(seg, kind="stable")
            cuts = np.flatnonzero(np.diff(seg[by])) + 1
            for part in np.split(by, cuts):
                i = int(seg[part[0]])
                new = _Piece(take_rows(frame, part), key[part], order[part])
                old = self.pieces.get(i)
                self.pieces[i] = _Piece.merge([new] if old is None else [old, new], self.max_rows)
        self._prune(next_refit)

    def _prune(self, next_refit: int) -> None:
        if self.lowers is not None:
            oldest = self._index(self.lowers[next_refit])
            for i in [i for i in self.pieces if i <= oldest]:
                del self.pieces[i]
            return
        # expanding: every segment up to the next window's upper bound is in all future windows
        top = self._index(self.uppers[next_refit])
        common = sorted(i for i in self.pieces if i <= top)
        if len(common) > 1 or (common and common[-1] != top):
            self.pieces[top] = _Piece.merge([self.pieces.pop(i) for i in common], self.max_rows)

    def training(self, refit: int, empty: pd.DataFrame) -> pd.DataFrame:
        """Return the rows of refit ``refit``'s window (its bottom-k sample), in ``order``.

        Parameters
        ----------
        refit : int
            Index of the refit.
        empty : pandas.DataFrame
            What to return when the window holds no row (a feature table with no rows).

        Returns
        -------
        pandas.DataFrame
        """
        hi = self._index(self.uppers[refit])
        lo = -1 if self.lowers is None else self._index(self.lowers[refit])
        chosen = [self.pieces[i] for i in sorted(self.pieces) if lo < i <= hi]
        if not chosen:
            return empty
        merged_key = np.concatenate([p.key for p in chosen])
        rows = np.arange(len(merged_key))
        if self.max_rows is not None and len(rows) > self.max_rows:
            rows = np.sort(np.argpartition(merged_key, self.max_rows - 1)[: self.max_rows])
        starts = np.cumsum([0] + [len(p) for p in chosen])
        parts, orders = [], []
        for i, p in enumerate(chosen):
            sel = rows[(rows >= starts[i]) & (rows < starts[i + 1])] - starts[i]
            parts.append(p.frame if len(sel) == len(p) else p.frame.iloc[sel])
            orders.append(p.order[sel])
        both = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        del parts
        idx = np.argsort(np.concatenate(orders), kind="stable")
        return take_rows(both, idx)
