"""The engine reads capabilities from tags only, and its fast-path plan can chain blocks."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from _backtest_doubles import LinearLag, synthetic_panel

from infotrafic.backtest import _tasks as tasks_module
from infotrafic.backtest import backtest
from infotrafic.backtest._plan import FastPlan
from infotrafic.exceptions import BacktestError
from infotrafic.forecasters import ForecasterTags

WINDOW = {"start": "2023-02-06T00:00Z", "end": "2023-02-20T00:00Z", "refit": "3D"}


class Counting(LinearLag):
    """LinearLag recording the size of each training table and counting its fits."""

    seen: ClassVar[list[int]] = []

    def fit_features(self, X: pd.DataFrame) -> Any:
        Counting.seen.append(len(X))
        return super().fit_features(X)


class Sampled(Counting):
    """Declares sampling in its tags (it has no max_train_rows attribute)."""

    def __infotrafic_tags__(self) -> ForecasterTags:
        return ForecasterTags(tabular=True, max_train_rows=200, random_state=5)


class FitOnce(Counting):
    """Declares that it learns nothing: fitted once."""

    def __infotrafic_tags__(self) -> ForecasterTags:
        return ForecasterTags(requires_refit=False, tabular=True)


class NamedAttribute(Counting):
    """Has attributes named like the old probes, but declares no tag: no sampling."""

    max_train_rows = 200
    random_state = 5


def _fits(model: Any) -> list[int]:
    Counting.seen.clear()
    res = backtest(synthetic_panel(), {"m": model}, **WINDOW)
    assert res.predictions["y_pred"].notna().mean() > 0.8
    return list(Counting.seen)


def test_sampling_comes_from_the_tags() -> None:
    sampled = _fits(Sampled())
    assert len(sampled) == 5 and max(sampled) == 200
    unsampled = _fits(NamedAttribute())
    assert len(unsampled) == 5 and min(unsampled) > 200  # attributes are not capabilities


def test_refit_need_comes_from_the_tags() -> None:
    assert len(_fits(FitOnce())) == 1
    assert len(_fits(Counting())) == 5


def test_targets_come_from_the_tags() -> None:
    class FlowOnly(LinearLag):
        def __infotrafic_tags__(self) -> ForecasterTags:
            return ForecasterTags(tabular=True, targets=("flow",))

    with pytest.raises(BacktestError, match="no model can forecast the occupancy"):
        backtest(synthetic_panel(), {"m": FlowOnly()}, **WINDOW, state=True)


def test_a_panel_model_is_never_taken_for_a_tabular_one() -> None:
    """Tags say tabular=False: the fast-path methods are not used even though present."""

    class PanelPath(Counting):
        def __infotrafic_tags__(self) -> ForecasterTags:
            return ForecasterTags()

    fast = backtest(synthetic_panel(), {"m": Counting()}, **WINDOW).predictions
    Counting.seen.clear()
    slow = backtest(synthetic_panel(), {"m": PanelPath()}, **WINDOW).predictions
    assert len(Counting.seen) == 5  # fit(panel) -> fit_features once per block
    np.testing.assert_allclose(fast["y_pred"], slow["y_pred"], rtol=1e-5)


def test_chained_blocks_give_the_same_forecasts_and_hand_over_the_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan's chains (room for models updated between full refits) change nothing today."""
    panel = synthetic_panel()
    want = backtest(panel, {"m": LinearLag()}, **WINDOW, levels=[80]).predictions

    create = FastPlan.create.__func__  # type: ignore[attr-defined]

    def paired(cls: type, *args: Any, **kwargs: Any) -> FastPlan:
        plan: FastPlan = create(cls, *args, **kwargs)
        ks = sorted(plan.spans)
        chains = tuple(tuple(ks[i : i + 2]) for i in range(0, len(ks), 2))
        return dataclasses.replace(plan, chains=chains)

    handed: list[bool] = []
    fit_block = tasks_module.fit_block

    def recording(model: Any, train: pd.DataFrame, previous: Any = None) -> Any:
        handed.append(previous is not None)
        return fit_block(model, train, previous)

    monkeypatch.setattr(FastPlan, "create", classmethod(paired))
    monkeypatch.setattr(tasks_module, "fit_block", recording)
    got = backtest(panel, {"m": LinearLag()}, **WINDOW, levels=[80]).predictions
    pd.testing.assert_frame_equal(got, want)
    n_blocks = len(handed)
    assert handed == [i % 2 == 1 for i in range(n_blocks)] and n_blocks >= 4
