"""One contract test, parametrised over every forecaster case (built-ins and plug-ins)."""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from forecaster_cases import contract_panel, load_contract_cases
from sklearn.base import clone

from infotrafic.exceptions import NotFittedError
from infotrafic.forecasters import Forecaster, TabularForecaster

CASES = load_contract_cases()
LEADS = [{"horizon": 1, "delay": 0}, {"horizon": 2, "delay": 1}]


def _skip_unavailable(name: str) -> None:
    if "lightgbm" in name and importlib.util.find_spec("lightgbm") is None:
        pytest.skip("lightgbm not installed")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return contract_panel()


def _split(panel: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = panel["time"].max() - pd.Timedelta(days=3)
    train = panel[panel["time"] <= cut].reset_index(drop=True)
    targets = (
        panel.loc[panel["time"] > cut, ["arc_id", "time"]]
        .sample(frac=1.0, random_state=0)  # any order
        .reset_index(drop=True)
    )
    return train, targets


def _make(factory: Callable[..., Any], **kw: Any) -> Forecaster:
    model: Forecaster = factory(**kw)
    return model


@pytest.mark.parametrize(("name", "factory"), CASES)
def test_contract_estimator_api(
    name: str, factory: Callable[..., Any], panel: pd.DataFrame
) -> None:
    _skip_unavailable(name)
    train, targets = _split(panel)
    model = _make(factory)
    assert isinstance(model, Forecaster)
    assert model.horizon == 1 and model.delay == 0
    params = model.get_params()
    assert {"horizon", "delay"} <= set(params)
    # predict before fit
    with pytest.raises(NotFittedError):
        model.predict(panel, targets)
    if isinstance(model, TabularForecaster):
        with pytest.raises(NotFittedError):
            model.predict_features(model.build_features(panel))
    before = set(vars(model))
    assert model.fit(train) is model
    learned = set(vars(model)) - before
    assert learned, "fit must learn something"
    assert all(k.endswith("_") for k in learned), learned
    # get/set params and clone
    twin = clone(model)
    assert not (set(vars(twin)) - before), "clone must not carry learned state"
    assert twin.get_params() == model.get_params()
    assert twin.set_params(horizon=3) is twin and twin.horizon == 3
    assert model.horizon == 1


@pytest.mark.parametrize("lead", LEADS, ids=["h1", "h2d1"])
@pytest.mark.parametrize(("name", "factory"), CASES)
def test_contract_predict_shape_no_mutation_no_future(
    name: str, factory: Callable[..., Any], lead: dict[str, int], panel: pd.DataFrame
) -> None:
    _skip_unavailable(name)
    train, targets = _split(panel)
    panel_copy, train_copy, targets_copy = panel.copy(), train.copy(), targets.copy()
    model = _make(factory, **lead).fit(train)
    pred = model.predict(panel, targets)
    pd.testing.assert_frame_equal(panel, panel_copy)
    pd.testing.assert_frame_equal(train, train_copy)
    pd.testing.assert_frame_equal(targets, targets_copy)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float64
    assert pred.shape == (len(targets),)
    assert np.isfinite(pred).mean() > 0.5, "most targets of the synthetic panel are predictable"
    # no use of the future: for a few target hours, scramble everything after t - lead
    n_lead = lead["horizon"] + lead["delay"]
    rng = np.random.default_rng(0)
    for t in np.sort(targets["time"].unique())[[0, 5, -1]]:
        t = pd.Timestamp(t)
        at_t = targets[targets["time"] == t]
        future = panel["time"] > t - pd.Timedelta(hours=n_lead)
        scrambled = panel.copy()
        scrambled.loc[future, "flow"] = rng.uniform(0, 5000, int(future.sum()))
        scrambled.loc[future, "occupancy"] = rng.uniform(0, 90, int(future.sum()))
        dropped = panel[~future]
        want = model.predict(panel, at_t)
        np.testing.assert_array_equal(model.predict(scrambled, at_t), want)
        np.testing.assert_array_equal(model.predict(dropped, at_t), want)


@pytest.mark.parametrize(("name", "factory"), CASES)
def test_contract_determinism_pickle_and_paths(
    name: str, factory: Callable[..., Any], panel: pd.DataFrame
) -> None:
    _skip_unavailable(name)
    train, targets = _split(panel)
    a = _make(factory).fit(train)
    b = _make(factory).fit(train)
    pred = a.predict(panel, targets)
    np.testing.assert_array_equal(pred, b.predict(panel, targets))
    # pickle round trip
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(pred, c.predict(panel, targets))
    if not isinstance(a, TabularForecaster):
        return
    # fit(panel) == fit_features(build_features(panel)); predict == predict_features(rows)
    d = _make(factory)
    d.fit_features(d.build_features(train))
    np.testing.assert_array_equal(pred, d.predict(panel, targets))
    table = a.build_features(panel)
    key = table.set_index(["arc_id", "time"]).index
    rows = table.iloc[key.get_indexer(pd.MultiIndex.from_frame(targets))]
    np.testing.assert_array_equal(pred, a.predict_features(rows))
