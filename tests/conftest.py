"""Shared fixtures: where the real Paris files are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Case modules of the forecaster contract test are loaded by the test itself (they may need
# optional dependencies); --doctest-modules must not import them.
collect_ignore_glob = ["forecasters/contract_cases_*.py"]


def _shared_data() -> Path | None:
    env = os.environ.get("INFOTRAFIC_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", REPO / "shared" / "data"]
    for c in candidates:
        if (c / "README.md").exists():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real Paris files (``../shared/data``); skips when it is not present."""
    path = _shared_data()
    if path is None:
        pytest.skip("real data folder ../shared/data not found (set INFOTRAFIC_SHARED_DATA)")
    return path
