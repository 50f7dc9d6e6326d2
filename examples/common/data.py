"""Where the examples read traffic data: the parquet store of the data dir, or the bundled sample.

One rule for the API, the dashboard and the training container: ``auto`` is the store
(``<data_dir>/processed``) when it holds data, else the bundled real sample
(:func:`infotrafic.datasets.load_sample`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd

from infotrafic import ConfigurationError
from infotrafic.etl import ParquetStore

__all__ = ["Source", "load_arcs", "load_panel", "resolve_source"]

Source = Literal["auto", "sample", "store"]


def resolve_source(source: str, data_dir: Path | None) -> Literal["sample", "store"]:
    """``sample`` or ``store``: ``auto`` is the store when it has partitions, else the sample."""
    if source in ("sample", "store"):
        if source == "store" and data_dir is None:
            raise ConfigurationError("data 'store' needs INFOTRAFIC_DATA_DIR")
        return source  # type: ignore[return-value]
    if source != "auto":
        raise ConfigurationError(f"unknown data source {source!r}; use auto, sample or store")
    if data_dir is not None and ParquetStore(Path(data_dir) / "processed").partitions():
        return "store"
    return "sample"


def load_panel(
    source: Literal["sample", "store"],
    data_dir: Path | None,
    arcs: Iterable[int] | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The canonical panel of ``source``, restricted to arcs and ``[start, end)`` (UTC bounds)."""
    wanted = None if arcs is None else sorted({int(a) for a in arcs})
    if source == "store":
        assert data_dir is not None
        return ParquetStore(Path(data_dir) / "processed").read(arcs=wanted, start=start, end=end)
    from infotrafic.datasets import load_sample

    panel = load_sample()
    mask = pd.Series(True, index=panel.index)
    if wanted is not None:
        mask &= panel["arc_id"].isin(wanted)
    if start is not None:
        mask &= panel["time"] >= start
    if end is not None:
        mask &= panel["time"] < end
    return panel.loc[mask].reset_index(drop=True)


def load_arcs(source: Literal["sample", "store"], data_dir: Path | None) -> pd.DataFrame:
    """The arcs table of ``source`` (names, nodes, geometry)."""
    if source == "store":
        assert data_dir is not None
        return ParquetStore(Path(data_dir) / "processed").arcs()
    from infotrafic.datasets import load_sample_arcs

    return load_sample_arcs()
