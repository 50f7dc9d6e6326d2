"""One contract test, parametrised over every forecaster case and every contract check.

The checks are the public :func:`infotrafic.testing.check_forecaster`'s (what a user runs on
their own forecaster), each run on its own so that a failure names the case and the check,
as scikit-learn's ``parametrize_with_checks`` does. The cases are the built-ins and the
plug-in families (``contract_cases_*.py``, see ``forecaster_cases.py``); the data is the
bundled real slice the checks default to.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
from forecaster_cases import load_contract_cases

from infotrafic.testing import CheckData, check_forecaster
from infotrafic.testing._check import CHECKS

CASES = load_contract_cases()


@pytest.fixture(scope="module")
def data() -> CheckData:
    return CheckData.bundled()


def _with_checks(cases: list[Any]) -> list[Any]:
    """Every (case, check) pair, keeping each case's marks (``slow``)."""
    out = []
    for case in cases:
        name, factory = case.values
        for check in CHECKS:
            out.append(pytest.param(name, factory, check, id=f"{name}-{check}", marks=case.marks))
    return out


@pytest.mark.parametrize(("name", "factory", "check"), _with_checks(CASES))
def test_contract(name: str, factory: Callable[..., Any], check: str, data: CheckData) -> None:
    if "lightgbm" in name and importlib.util.find_spec("lightgbm") is None:
        pytest.skip("lightgbm not installed")
    check_forecaster(factory(), checks=[check], data=data)


def test_every_registered_builtin_is_a_case() -> None:
    """A new built-in registered by name cannot escape the contract test."""
    from infotrafic.forecasters import available_forecasters

    names = {c.values[0] for c in CASES}
    plain = [n for n in available_forecasters() if ":" not in n and not n.startswith("my_")]
    covered = [n for n in plain if any(c == n or c.startswith(f"{n}_") for c in names)]
    assert plain and covered == plain, (plain, sorted(names))
