"""A backtest's panel: validated (:func:`prepare_data`), from a store in batches of whole arcs.

Reading a whole store at once, then validating it, holds besides the panel the Arrow table it
comes from and the copies of the conversion, the sort and the validation: several times the
panel at the peak. Read and validated a batch of arcs at a time (:func:`load_store`), each
batch's Arrow memory handed back before the next one, the peak is about twice the panel (the
batches, then their concatenation). The batches are in ``arc_id`` order and each is sorted by
``(arc_id, time)``, so their concatenation is the panel a single read and validation give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic._schema import validate_panel
from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._plan import ns

if TYPE_CHECKING:
    from infotrafic.etl import ParquetStore

__all__ = ["READ_BATCH_ROWS", "group_arcs", "load", "load_store", "prepare_data"]

#: A store is read in batches of whole arcs of about this many rows.
READ_BATCH_ROWS = 2_000_000


def _release_arrow() -> None:
    """Hand the memory Arrow keeps for reuse back to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def group_arcs(ids: NDArray[np.int64], counts: NDArray[np.int64], max_rows: int) -> list[list[int]]:
    """Group sorted arcs into consecutive batches of at most ``max_rows`` rows (one arc or more).

    Parameters
    ----------
    ids : numpy.ndarray
        Sorted arc identifiers.
    counts : numpy.ndarray
        Their row counts.
    max_rows : int
        Rows per batch, at most (unless a single arc has more).

    Returns
    -------
    list of list of int

    Examples
    --------
    >>> group_arcs(np.array([1, 2, 3, 4]), np.array([2, 2, 5, 1]), 4)
    [[1, 2], [3], [4]]
    """
    batches: list[list[int]] = []
    rows = 0
    for arc, n in zip(ids.tolist(), counts.tolist(), strict=True):
        if not batches or rows + n > max_rows:
            batches.append([])
            rows = 0
        batches[-1].append(int(arc))
        rows += int(n)
    return batches


def prepare_data(panel: pd.DataFrame, cfg: BacktestConfig) -> pd.DataFrame:
    """Return the validated panel a backtest uses: its arcs, before its end.

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel.
    cfg : BacktestConfig
        The options (``arcs``, ``end``).

    Returns
    -------
    pandas.DataFrame
    """
    data = validate_panel(panel)
    if cfg.arcs is not None:
        data = data.loc[data["arc_id"].isin(cfg.arcs)]
    # Nothing at or after ``end`` can be used by any forecast of the window.
    before_end = ns(data["time"]) < cfg.end.value
    if not before_end.all():
        data = data.loc[before_end].reset_index(drop=True)
    return data


def load_store(store: ParquetStore, cfg: BacktestConfig) -> pd.DataFrame:
    """Read and prepare a backtest's panel from a store, a batch of whole arcs at a time.

    Parameters
    ----------
    store : ParquetStore
        The store.
    cfg : BacktestConfig
        The options (``arcs``, ``end``).

    Returns
    -------
    pandas.DataFrame
        What ``prepare_data(store.read(arcs=cfg.arcs, end=cfg.end), cfg)`` returns.
    """
    rows = store.arc_rows()
    _release_arrow()
    ids, counts = rows.index.to_numpy(dtype="int64"), rows.to_numpy(dtype="int64")
    if cfg.arcs is not None:
        keep = np.isin(ids, np.asarray(list(cfg.arcs), dtype="int64"))
        ids, counts = ids[keep], counts[keep]
    groups = group_arcs(ids, counts, READ_BATCH_ROWS)
    if len(groups) <= 1:  # one read
        data = prepare_data(store.read(arcs=cfg.arcs, end=cfg.end), cfg)
        _release_arrow()
        return data
    parts = []
    for group in groups:
        parts.append(prepare_data(store.read(arcs=group, end=cfg.end), cfg))
        _release_arrow()
    kept = [p for p in parts if len(p)] or parts[:1]
    del parts
    return kept[0] if len(kept) == 1 else pd.concat(kept, ignore_index=True)


def load(data: pd.DataFrame | ParquetStore, cfg: BacktestConfig) -> pd.DataFrame:
    """Return a backtest's validated panel, from a panel or a store (:func:`load_store`).

    Parameters
    ----------
    data : pandas.DataFrame or ParquetStore
        A canonical panel, or a store read for the config's arcs up to its end.
    cfg : BacktestConfig
        The options (``arcs``, ``end``).

    Returns
    -------
    pandas.DataFrame
    """
    if isinstance(data, pd.DataFrame):
        return prepare_data(data, cfg)
    return load_store(data, cfg)
