"""Forecaster cases for the contract test, and a synthetic panel (labelled synthetic).

Other forecaster families join the contract test by adding a module named
``contract_cases_<name>.py`` in this folder that defines ``CASES``: a list of
``(id, factory)`` pairs where ``factory(**overrides)`` returns an unfitted forecaster
(``overrides`` may contain ``horizon`` and ``delay``), and optionally ``SLOW``: ids of cases
taking more than a few seconds (marked ``slow``). See ``contract_cases_builtin.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent


def load_contract_cases() -> list[Any]:
    """Collect ``CASES`` from every ``contract_cases_*.py`` as ``pytest.param`` objects."""
    cases: list[Any] = []
    for path in sorted(HERE.glob("contract_cases_*.py")):
        spec = importlib.util.spec_from_file_location(f"_infotrafic_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError:  # optional dependency missing: the family is skipped
            continue
        slow = set(getattr(module, "SLOW", ()))
        for name, factory in module.CASES:
            marks = [pytest.mark.slow] if name in slow else []
            cases.append(pytest.param(name, factory, id=name, marks=marks))
    return cases


def contract_panel(seed: int = 0, n_arcs: int = 3, weeks: int = 5) -> pd.DataFrame:
    """Synthetic canonical panel: daily + weekly pattern, noise, gaps, an arc starting late."""
    rng = np.random.default_rng(seed)
    n = weeks * 168
    times = pd.date_range("2023-09-04 01:00", periods=n, freq="h", tz="UTC")
    h = np.arange(n)
    frames = []
    for a in range(n_arcs):
        level = 150.0 * (a + 1)
        daily = 1.1 + np.sin(2 * np.pi * (h - 7) / 24)
        weekly = np.where((h // 24) % 7 >= 5, 0.7, 1.0)
        flow = np.maximum(level * daily * weekly + rng.normal(0, 15, n), 0.0)
        occ = np.clip(flow / level * 4 + rng.normal(0, 0.5, n), 0, None)
        flow[rng.random(n) < 0.05] = np.nan
        occ[rng.random(n) < 0.05] = np.nan
        frame = pd.DataFrame({"arc_id": 10 + a, "time": times, "flow": flow, "occupancy": occ})
        if a == n_arcs - 1:
            frame = frame.iloc[200:]  # starts later than the others
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
