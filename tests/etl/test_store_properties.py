"""Property: ingesting panels one by one == deduplicating them all at once; re-ingest is a no-op."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infotrafic import validate_panel
from infotrafic.etl import ParquetStore, deduplicate

T0 = pd.Timestamp("2023-01-31 20:00Z")  # panels straddle a month boundary


@st.composite
def panels(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 12))
    arcs = draw(st.lists(st.sampled_from([1, 2, 3]), min_size=n, max_size=n))
    hours = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    flows = draw(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=n, max_size=n))
    occ = draw(st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "arc_id": arcs,
            "time": [T0 + pd.Timedelta(hours=h) for h in hours],
            "flow": [np.nan if f is None else float(f) for f in flows],
            "occupancy": [np.nan if o is None else float(o) for o in occ],
        }
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(panels(), min_size=1, max_size=4))
def test_sequential_ingest_equals_one_dedupe(batches: list[pd.DataFrame]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(tmp)
        for batch in batches:
            store.ingest(batch)
        got = store.read()
        canon = validate_panel(pd.concat(batches, ignore_index=True), allow_duplicates=True)
        expected, _ = deduplicate(canon)
        expected = validate_panel(expected)
        pd.testing.assert_frame_equal(got, expected)
        before = {p: p.read_bytes() for p in store.partitions()}
        again = store.ingest(batches[-1])
        assert again.rows_new == again.rows_updated == 0
        assert {p: p.read_bytes() for p in store.partitions()} == before
