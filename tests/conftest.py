"""Shared fixtures: where the real Paris files are (``tests/data/paris``, see ``bundled_data``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundled_data import MissingDataError, locate

# Case modules of the forecaster contract test are loaded by the test itself (they may need
# optional dependencies); --doctest-modules must not import them.
collect_ignore_glob = ["forecasters/contract_cases_*.py"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real Paris files: ``tests/data/paris``, or ``$INFOTRAFIC_SHARED_DATA``.

    A missing folder or file fails the tests that need it, naming the path and the fix.
    """
    try:
        return locate()
    except MissingDataError as exc:
        pytest.fail(str(exc), pytrace=False)
