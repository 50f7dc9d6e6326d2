"""The units of work of the backtest engine: one refit block, guarded, run inline or in a pool.

Each task is a ``joblib.delayed`` call returning ``(positions, predictions)``; a model's failure
becomes a :class:`~infotrafic.exceptions.BacktestError` naming the model and the block (or no
forecasts, for a calibration warm-up block).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

import joblib
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import clone

from infotrafic.exceptions import BacktestError
from infotrafic.forecasters import Forecaster, TabularForecaster

__all__ = [
    "Step",
    "fit_block",
    "fit_predict_chain",
    "fit_predict_panel",
    "guarded",
    "predict_features",
    "run_tasks",
]


def check_output(out: Any, n: int, name: str, cutoff: pd.Timestamp) -> np.ndarray:
    arr = np.asarray(out, dtype="float64").ravel()
    if arr.shape[0] != n:
        raise BacktestError(
            f"model {name!r} returned {arr.shape[0]} predictions for {n} targets "
            f"(block starting {cutoff}); predict must return one value per target row"
        )
    return arr


def guarded(
    run: Callable[[], np.ndarray],
    n: int,
    n_train: int,
    name: str,
    cutoff: pd.Timestamp,
    warmup: bool = False,
) -> np.ndarray:
    """Run one refit block; turn a model's failure into a BacktestError naming the block.

    A calibration warm-up block (before the scored window) that fails, typically for lack of
    history, only gives no forecasts (NaN): it is not scored, and the same failure on a scored
    block still raises.
    """
    try:
        out = run()
    except BacktestError:
        raise
    except Exception as exc:
        if warmup:
            return np.full(n, np.nan)
        raise BacktestError(
            f"model {name!r} failed on the block starting {cutoff} "
            f"({n_train} training rows): {type(exc).__name__}: {exc}"
        ) from exc
    return check_output(out, n, name, cutoff)


@dataclasses.dataclass(frozen=True)
class Step:
    """One refit block of a chain: its training rows and the feature rows it predicts.

    Attributes
    ----------
    train : pandas.DataFrame
        Training feature rows of the block's window (column ``y``).
    rows : pandas.DataFrame
        Feature rows of the block's targets.
    cutoff : pandas.Timestamp
        The block's refit cutoff (named in errors).
    positions : numpy.ndarray
        Target positions of ``rows``.
    warmup : bool
        A calibration warm-up block (a failure gives NaN instead of an error).
    """

    train: pd.DataFrame
    rows: pd.DataFrame
    cutoff: pd.Timestamp
    positions: NDArray[np.intp]
    warmup: bool = False


def fit_block(model: TabularForecaster, train: pd.DataFrame, previous: Any = None) -> Any:
    """Return a clone of ``model`` fitted on ``train``.

    ``previous`` is the model fitted on the chain's previous block (None for the first): a
    model able to be updated from it (a future tag) would start from there; every model is
    fitted from scratch today.
    """
    del previous
    m = clone(model, safe=False)
    m.fit_features(train)
    return m


def fit_predict_chain(
    model: TabularForecaster, steps: list[Step], name: str
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Fit and predict a chain of refit blocks in order, each handed the previous fit.

    Returns the target positions of every block and their predictions.
    """
    fitted: Any = None
    positions, preds = [], []
    for step in steps:

        def run(step: Step = step) -> np.ndarray:
            nonlocal fitted
            fitted = fit_block(model, step.train, fitted)
            return fitted.predict_features(step.rows) if len(step.rows) else np.empty(0)

        n = len(step.rows)
        preds.append(guarded(run, n, len(step.train), name, step.cutoff, step.warmup))
        positions.append(step.positions)
    if len(steps) == 1:
        return positions[0], preds[0]
    return np.concatenate(positions), np.concatenate(preds)


def predict_features(
    fitted: TabularForecaster,
    rows: pd.DataFrame,
    n_train: int,
    name: str,
    cutoff: pd.Timestamp,
    positions: np.ndarray,
    warmup: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    def run() -> np.ndarray:
        return fitted.predict_features(rows) if len(rows) else np.empty(0)

    return positions, guarded(run, len(rows), n_train, name, cutoff, warmup)


def fit_predict_panel(
    model: Forecaster,
    train: pd.DataFrame,
    history: pd.DataFrame,
    targets: pd.DataFrame,
    name: str,
    cutoff: pd.Timestamp,
    positions: np.ndarray,
    warmup: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    def run() -> np.ndarray:
        m = clone(model, safe=False)
        m.fit(train)
        return m.predict(history, targets) if len(targets) else np.empty(0)

    return positions, guarded(run, len(targets), len(train), name, cutoff, warmup)


def run_tasks(tasks: Iterator[Any], n_jobs: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Run ``joblib.delayed`` tasks; results come back in completion order.

    Tasks carry their data (training rows, block rows), so the generator is only advanced when
    a worker is about to be free: at most ``n_jobs`` tasks run while the next one is being built.
    One job runs them inline, in this process (the least memory).
    """
    n = joblib.effective_n_jobs(n_jobs)
    if n == 1:
        for task in tasks:
            fn, args, kwargs = task
            del task
            out = fn(*args, **kwargs)
            del fn, args, kwargs  # free the block's data before the next one is built
            yield out
        return
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=n)
    pending: set[Future[Any]] = set()
    try:
        for fn, args, kwargs in tasks:
            while len(pending) >= n:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
            pending.add(executor.submit(fn, *args, **kwargs))
            del fn, args, kwargs
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
    finally:
        for fut in pending:
            fut.cancel()
