"""Synthetic panels (labelled synthetic: only for mechanics, never for accuracy claims)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest


def synthetic_panel(
    n_arcs: int = 2, n_hours: int = 400, seed: int = 0, missing: float = 0.1
) -> pd.DataFrame:
    """Daily/weekly-patterned flows with missing values, canonical columns."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2023-03-20 01:00", periods=n_hours, freq="h", tz="UTC")
    hours = np.arange(n_hours)
    frames = []
    for a in range(n_arcs):
        level = 200.0 * (a + 1)
        flow = level * (1.2 + np.sin(2 * np.pi * hours / 24)) + rng.normal(0, 10, n_hours)
        flow = np.maximum(flow, 0.0)
        occ = flow / level * 5 + rng.normal(0, 0.3, n_hours).clip(-1, 1) + 1
        flow[rng.random(n_hours) < missing] = np.nan
        occ[rng.random(n_hours) < missing] = np.nan
        frames.append(
            pd.DataFrame({"arc_id": 100 + a, "time": times, "flow": flow, "occupancy": occ})
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def make_panel() -> Callable[..., pd.DataFrame]:
    """Factory of synthetic panels."""
    return synthetic_panel
