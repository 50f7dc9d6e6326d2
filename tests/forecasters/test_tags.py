"""Forecaster tags: every built-in declares them; get_tags gives defaults to the others."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from infotrafic.exceptions import ConfigurationError
from infotrafic.forecasters import (
    ForecasterTags,
    GBMForecaster,
    HistoricalAverageForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
    SklearnForecaster,
    get_tags,
    make_forecaster,
    requires_refit,
)


@pytest.mark.parametrize(
    ("model", "refit", "lookback", "max_rows"),
    [
        (NaiveForecaster(horizon=3), False, 3, None),
        (SeasonalNaiveForecaster(season=24), False, 24, None),
        (HistoricalAverageForecaster(), True, 0, None),
        (GBMForecaster(max_train_rows=1000, random_state=4), True, 841, 1000),
        (SklearnForecaster(max_train_rows=None), True, 841, None),
    ],
)
def test_builtins_declare_their_tags(
    model: object, refit: bool, lookback: int, max_rows: int | None
) -> None:
    tags = get_tags(model)  # type: ignore[arg-type]
    assert tags.requires_refit is refit and requires_refit(model) is refit  # type: ignore[arg-type]
    assert tags.tabular and tags.accepts_targets
    assert tags.lookback == lookback and tags.max_train_rows == max_rows
    assert tags.targets == ("flow", "occupancy") and tags.n_features and tags.n_features > 0


def test_gbm_tags_follow_its_parameters() -> None:
    model = GBMForecaster(random_state=4, horizon=6)
    tags = get_tags(model)
    spec = model.feature_spec()
    assert tags.random_state == 4
    assert tags.n_features == len(spec.feature_names()) and tags.lookback == spec.lookback()


class Plain(BaseEstimator):  # type: ignore[misc]
    """A user's forecaster declaring nothing."""

    def __init__(self, *, horizon: int = 1, delay: int = 0, target: str = "flow") -> None:
        self.horizon, self.delay, self.target = horizon, delay, target

    def fit(self, panel: pd.DataFrame) -> Plain:
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> list[float]:
        return [0.0] * len(targets)


def test_defaults_for_a_forecaster_without_tags() -> None:
    tags = get_tags(Plain())
    assert tags == ForecasterTags(targets=("flow", "occupancy"))
    assert not tags.tabular and tags.requires_refit and tags.max_train_rows is None


def test_an_attribute_named_max_train_rows_is_not_a_tag() -> None:
    """Sampling is declared by tags, not guessed from attribute names."""

    class WithAttr(Plain):
        max_train_rows = 10
        random_state = 3

    tags = get_tags(WithAttr())
    assert tags.max_train_rows is None and tags.random_state == 0


def test_a_subclass_overrides_its_parents_tags() -> None:
    class Capped(SeasonalNaiveForecaster):
        def __infotrafic_tags__(self) -> ForecasterTags:
            return dataclasses.replace(super().__infotrafic_tags__(), targets=("flow",))

    assert get_tags(Capped()).targets == ("flow",) and not get_tags(Capped()).requires_refit


def test_bad_tags_are_refused_with_the_tag_named() -> None:
    class Wrong(Plain):
        def __infotrafic_tags__(self) -> dict[str, bool]:
            return {"requires_refit": False}

    with pytest.raises(ConfigurationError, match="must return an infotrafic.forecasters.Fore"):
        get_tags(Wrong())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="lookback"):
        ForecasterTags(lookback=-1)
    with pytest.raises(ConfigurationError, match="accepts_targets needs tabular"):
        ForecasterTags(accepts_targets=True)
    with pytest.raises(ConfigurationError, match="targets"):
        ForecasterTags(targets=())


def test_invalid_hyper_parameters_surface_through_the_tags() -> None:
    with pytest.raises(ConfigurationError, match="target"):
        get_tags(make_forecaster("gbm", target="speed"))


def test_horizons_tag() -> None:
    assert ForecasterTags().supports_horizon(48)
    day = ForecasterTags(horizons=tuple(range(1, 25)))
    assert day.supports_horizon(24) and not day.supports_horizon(25)


def test_a_users_feature_spec_narrows_targets_and_horizons() -> None:
    """Flow-only features with a 3 h lag: no occupancy, no horizon beyond 3 h (tags say so)."""
    from infotrafic.features import FeatureSpec, Lags, Rolling

    spec = FeatureSpec((Lags("flow", lags=(3, 24, 168)), Rolling("flow", windows=(168,))))
    for model in (GBMForecaster(features=spec), SklearnForecaster(features=spec)):
        tags = get_tags(model)
        assert tags.targets == ("flow",) and tags.horizons == (1, 2, 3)
        assert tags.supports_horizon(3) and not tags.supports_horizon(4)
    assert get_tags(GBMForecaster(features=spec, normalize=False)).targets == ("flow", "occupancy")
