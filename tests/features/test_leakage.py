"""Property: changing any value at or after t - lead + 1 h never changes the features of t.

The builders are not listed here: every example of every registered builder
(``builder_examples``) is checked, so a newly registered builder cannot escape.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infotrafic.features import (
    FeatureSpec,
    build_features,
    builder_examples,
    check_builder,
)

N_HOURS = 420
CHECK_LEADS = (1, 4, 30)


def _spec(lead: int) -> FeatureSpec:
    """Every registered builder's examples at ``lead`` in one spec (skipping clashing names)."""
    builders, names = [], set()
    for b in builder_examples(lead):
        own = {c.name for c in b.columns(lead)}
        if not own & names:
            builders.append(b)
            names |= own
    return FeatureSpec(tuple(builders), lead=lead)


def _panel(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2023-10-20 01:00", periods=N_HOURS, freq="h", tz="UTC")
    frames = []
    for arc in (1, 2):
        flow = rng.gamma(2.0, 100.0, N_HOURS)
        occ = rng.gamma(2.0, 3.0, N_HOURS)
        flow[rng.random(N_HOURS) < 0.15] = np.nan
        occ[rng.random(N_HOURS) < 0.15] = np.nan
        frames.append(pd.DataFrame({"arc_id": arc, "time": times, "flow": flow, "occupancy": occ}))
    return pd.concat(frames, ignore_index=True)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    lead=st.integers(1, 30),
    target=st.integers(0, N_HOURS - 1),
    mode=st.sampled_from(["noise", "nan", "drop"]),
)
def test_future_values_never_change_features(seed: int, lead: int, target: int, mode: str) -> None:
    panel = _panel(seed)
    spec = _spec(lead)
    t = panel["time"].iloc[target]
    cutoff = t - pd.Timedelta(hours=lead)  # values at times > cutoff are unknown at forecast time
    future = panel["time"] > cutoff
    changed = panel.copy()
    rng = np.random.default_rng(seed + 1)
    if mode == "noise":
        changed.loc[future, "flow"] = rng.gamma(2.0, 500.0, int(future.sum()))
        changed.loc[future, "occupancy"] = rng.gamma(2.0, 10.0, int(future.sum()))
    elif mode == "nan":
        changed.loc[future, ["flow", "occupancy"]] = np.nan
    else:
        changed = changed[~future]
    targets = pd.DataFrame({"arc_id": [1, 2], "time": [t, t]})
    before = build_features(panel, spec, targets=targets).drop(columns="y")
    after = build_features(changed, spec, targets=targets).drop(columns="y")
    pd.testing.assert_frame_equal(before, after)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), lead=st.integers(1, 5))
def test_grid_table_equals_targets_table(seed: int, lead: int) -> None:
    """The whole-grid table and a per-target build agree (the backtest relies on it)."""
    panel = _panel(seed)
    spec = _spec(lead)
    full = build_features(panel, spec)
    rows = full.iloc[[0, 17, 300, len(full) - 1]].reset_index(drop=True)
    one = build_features(panel, spec, targets=rows[["arc_id", "time"]])
    pd.testing.assert_frame_equal(rows, one)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), lead=st.integers(1, 30), n_rows=st.integers(1, 6))
def test_sparse_build_equals_full_build_exactly(seed: int, lead: int, n_rows: int) -> None:
    """Computing only the target hours (forecasts) gives bit-for-bit the whole-grid values."""
    from infotrafic.features import build_grid, build_on_grid

    panel = _panel(seed)
    spec = _spec(lead)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(panel), size=n_rows, replace=False)
    rows = panel.iloc[np.sort(pick)][["arc_id", "time"]].reset_index(drop=True)
    grid = build_grid(panel, columns=spec.required_columns(), targets=rows)
    sparse = build_on_grid(grid, spec, sparse=True)
    full = build_on_grid(grid, spec, sparse=False)
    pd.testing.assert_frame_equal(sparse, full, check_exact=True)


@pytest.mark.parametrize(
    ("lead", "builder"),
    [(lead, b) for lead in CHECK_LEADS for b in builder_examples(lead)],
    ids=lambda x: repr(x) if isinstance(x, int) else type(x).__name__,
)
def test_every_registered_builder_passes_check_builder(builder: object, lead: int) -> None:
    """Declared columns, no look-ahead (noise, NaN, removed rows), honest lookback, sparse."""
    assert check_builder(builder, lead=lead) > 0
