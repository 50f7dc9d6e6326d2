"""Selective reads: ``store.read(arcs, start, end, columns)`` == the full read, filtered.

The store is built with small row groups, so that the reads cross several row groups and
month partitions; the layout that makes reads selective (sorted partitions whose row groups
cover disjoint arc ranges) is checked on the files themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infotrafic import PANEL_COLUMNS
from infotrafic.etl import ParquetStore, _store_util
from infotrafic.exceptions import ConfigurationError

ARCS = list(range(100, 130))
T0 = pd.Timestamp("2023-01-20 00:00", tz="UTC")
HOURS = 24 * 75  # late January to early April: four month partitions, a DST change


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ParquetStore:
    rng = np.random.default_rng(3)
    times = T0 + pd.to_timedelta(np.arange(HOURS), unit="h")
    panel = pd.DataFrame(
        {
            "arc_id": np.repeat(ARCS, HOURS),
            "time": np.tile(times, len(ARCS)),
            "flow": rng.integers(0, 2000, len(ARCS) * HOURS).astype(float),
            "occupancy": rng.uniform(0, 30, len(ARCS) * HOURS),
        }
    )
    panel = panel[rng.random(len(panel)) > 0.1].reset_index(drop=True)  # absent hours
    store = ParquetStore(tmp_path_factory.mktemp("read") / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_store_util, "ROW_GROUP_ROWS", 2_000)
        store.ingest(panel)
    return store


@pytest.fixture(scope="module")
def full(store: ParquetStore) -> pd.DataFrame:
    return store.read()


def test_partitions_are_sorted_with_disjoint_arc_row_groups(store: ParquetStore) -> None:
    assert [p.name for p in store.partitions()] == [
        "2023-01.parquet",
        "2023-02.parquet",
        "2023-03.parquet",
        "2023-04.parquet",
    ]
    for path in store.partitions():
        meta = pq.ParquetFile(path).metadata
        assert meta.num_row_groups > 1
        arc_col = meta.schema.names.index("arc_id")
        ranges = [
            (meta.row_group(i).column(arc_col).statistics.min,
             meta.row_group(i).column(arc_col).statistics.max)
            for i in range(meta.num_row_groups)
        ]  # fmt: skip
        # sorted by (arc_id, time): consecutive row groups touch at most at one arc
        assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_one_arc_scans_only_its_row_groups(store: ParquetStore) -> None:
    """The filter ``read`` builds lets pyarrow skip the other row groups by their statistics."""
    path = store.partitions()[1]
    fragment = next(iter(pads.dataset(str(path), format="parquet").get_fragments()))
    total = fragment.metadata.num_row_groups
    cond = (pads.field("arc_id") >= 117) & (pads.field("arc_id") <= 117)
    kept = fragment.split_by_row_group(filter=cond)
    assert 1 <= len(kept) <= 2 < total


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    arcs=st.none() | st.lists(st.sampled_from([*ARCS, 999]), max_size=5),
    start=st.none() | st.integers(-48, HOURS + 48),
    length=st.none() | st.integers(0, 24 * 40),
    columns=st.none() | st.lists(st.sampled_from(PANEL_COLUMNS[2:]), unique=True),
    naive=st.booleans(),
)
def test_read_with_filters_equals_the_full_read_filtered(
    store: ParquetStore,
    full: pd.DataFrame,
    arcs: list[int] | None,
    start: int | None,
    length: int | None,
    columns: list[str] | None,
    naive: bool,
) -> None:
    lo = None if start is None else T0 + pd.Timedelta(hours=start)
    hi = None if start is None or length is None else lo + pd.Timedelta(hours=length)
    # naive bounds are Paris wall clock
    as_given = [
        None if t is None else (t.tz_convert("Europe/Paris").tz_localize(None) if naive else t)
        for t in (lo, hi)
    ]
    got = store.read(arcs=arcs, start=as_given[0], end=as_given[1], columns=columns)
    expected = full
    if arcs is not None:
        expected = expected[expected["arc_id"].isin(arcs)]
    if lo is not None:
        expected = expected[expected["time"] >= lo]
    if hi is not None:
        expected = expected[expected["time"] < hi]
    keep = [c for c in PANEL_COLUMNS if c in ("arc_id", "time") or columns is None or c in columns]
    pd.testing.assert_frame_equal(got, expected[keep].reset_index(drop=True))


def test_unknown_column_is_named(store: ParquetStore) -> None:
    with pytest.raises(ConfigurationError, match=r"'speed'.*choose among"):
        store.read(columns=["speed"])


def test_old_layout_with_one_row_group_reads_the_same(full: pd.DataFrame, tmp_path: Path) -> None:
    """Stores written before the small row groups stay readable as they are."""
    old = ParquetStore(tmp_path / "old")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_store_util, "ROW_GROUP_ROWS", 10_000_000)
        old.ingest(full)
    assert pq.ParquetFile(old.partitions()[1]).metadata.num_row_groups == 1
    pd.testing.assert_frame_equal(
        old.read(arcs=[105], start="2023-02-10"),
        full[
            (full["arc_id"] == 105)
            & (full["time"] >= pd.Timestamp("2023-02-10", tz="Europe/Paris"))
        ].reset_index(drop=True),
    )
