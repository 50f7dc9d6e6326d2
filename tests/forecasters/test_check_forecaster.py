"""``check_forecaster`` on a user's own forecaster: a toy one passes, broken ones fail by name."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from infotrafic.exceptions import NotFittedError
from infotrafic.forecasters import ForecasterTags, get_tags
from infotrafic.testing import CheckData, ForecasterCheckError, check_forecaster
from infotrafic.testing._check import CHECKS


class SameHourYesterday(BaseEstimator):  # type: ignore[misc]
    """A user's toy forecaster (not a BaseForecaster): yesterday's value, shrunk to the mean."""

    lag = 24

    def __init__(self, *, horizon: int = 1, delay: int = 0, shrink: float = 0.9) -> None:
        self.horizon = horizon
        self.delay = delay
        self.shrink = shrink

    def fit(self, panel: pd.DataFrame) -> Any:
        self.mean_ = float(panel["flow"].mean())
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise NotFittedError("SameHourYesterday is not fitted yet; call fit(panel)")
        s = panel.set_index(["arc_id", "time"])["flow"]
        keys = pd.MultiIndex.from_arrays(
            [targets["arc_id"], targets["time"] - pd.Timedelta(hours=self.lag)]
        )
        value = s.reindex(keys).to_numpy(dtype="float64")
        return np.asarray(self.shrink * value + (1 - self.shrink) * self.mean_, dtype="float64")


class Leaky(SameHourYesterday):
    lag = 0  # reads the target hour itself


class FitReturnsNone(SameHourYesterday):
    def fit(self, panel: pd.DataFrame) -> Any:
        super().fit(panel)
        return None


class NoNotFittedError(SameHourYesterday):
    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
        return np.full(len(targets), getattr(self, "mean_", np.nan))


class Mutating(SameHourYesterday):
    def fit(self, panel: pd.DataFrame) -> Any:
        panel["flow"] = panel["flow"].fillna(0.0)  # modifies the caller's frame
        return super().fit(panel)


class Unseeded(SameHourYesterday):
    def fit(self, panel: pd.DataFrame) -> Any:
        super().fit(panel)
        self.mean_ += float(np.random.default_rng().normal())
        return self


class LyingRefit(SameHourYesterday):
    def __infotrafic_tags__(self) -> ForecasterTags:
        return ForecasterTags(requires_refit=False)  # but it learns the mean


class LyingLookback(SameHourYesterday):
    def __infotrafic_tags__(self) -> ForecasterTags:
        return ForecasterTags(lookback=2)  # but it reads 24 hours back


class LyingTabular(SameHourYesterday):
    def __infotrafic_tags__(self) -> ForecasterTags:
        return ForecasterTags(tabular=True)  # without the fast path's methods


@pytest.fixture(scope="module")
def data() -> CheckData:
    return CheckData.bundled()


def test_a_users_toy_forecaster_passes_every_check(data: CheckData) -> None:
    check_forecaster(SameHourYesterday(), data=data)
    assert get_tags(SameHourYesterday()) == ForecasterTags()  # defaults: flow, refit, panel


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (Leaky, "no_future"),
        (FitReturnsNone, "fit_returns_self"),
        (NoNotFittedError, "not_fitted"),
        (Unseeded, "deterministic"),
        (LyingRefit, "tags_consistent"),
        (LyingLookback, "tags_consistent"),
        (LyingTabular, "tags"),
    ],
)
def test_a_broken_forecaster_fails_the_named_check(cls: type, check: str, data: CheckData) -> None:
    with pytest.raises(ForecasterCheckError, match=f"{cls.__name__} failed check '{check}'"):
        check_forecaster(cls(), data=data)


def test_mutating_the_input_is_caught() -> None:
    data = CheckData.bundled()  # its own copy: the forecaster modifies it
    with pytest.raises(ForecasterCheckError, match="failed check 'no_mutation'.*train"):
        check_forecaster(Mutating(), data=data)


def test_the_forecasters_own_error_is_chained_and_named(data: CheckData) -> None:
    class Crashing(SameHourYesterday):
        def fit(self, panel: pd.DataFrame) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(
        ForecasterCheckError, match="'fit_returns_self': RuntimeError: boom"
    ) as info:
        check_forecaster(Crashing(), checks=["fit_returns_self"], data=data)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_unknown_check_names_are_refused() -> None:
    with pytest.raises(ForecasterCheckError, match="unknown check"):
        check_forecaster(SameHourYesterday(), checks=["no_such_check"])


def test_checks_run_on_the_bundled_real_slice(data: CheckData) -> None:
    assert data.panel["arc_id"].nunique() == 3
    span = data.panel["time"].max() - data.panel["time"].min()
    assert pd.Timedelta(days=30) < span < pd.Timedelta(days=40)
    assert data.train["time"].max() < data.targets["time"].min()
    assert data.targets.merge(data.panel, on=["arc_id", "time"])["flow"].notna().all()
    assert len(CHECKS) >= 10 and dataclasses.is_dataclass(data)
