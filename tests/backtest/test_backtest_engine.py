"""Engine: fast path == generic path, refit-free == per block, determinism, errors, no mutation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _backtest_doubles import GenericOnly, LinearLag, Seasonal, synthetic_panel

from infotrafic.backtest import BacktestConfig, backtest, model_names
from infotrafic.exceptions import BacktestError, ConfigurationError

WINDOW = {"start": "2023-02-06T00:00Z", "end": "2023-02-20T05:00Z"}


@pytest.mark.parametrize(("horizon", "delay"), [(1, 0), (3, 2)])
def test_fast_path_equals_generic_path(horizon: int, delay: int) -> None:
    panel = synthetic_panel()
    res = backtest(
        panel,
        {"fast": LinearLag(), "generic": GenericOnly()},
        **WINDOW,
        refit="4D",
        horizon=horizon,
        delay=delay,
    )
    p = res.predictions
    fast = p[p["model"] == "fast"].reset_index(drop=True)
    generic = p[p["model"] == "generic"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        fast.drop(columns="model"), generic.drop(columns="model"), check_exact=False, rtol=1e-6
    )
    assert fast["y_pred"].notna().mean() > 0.8


def test_sliding_window_trains_on_less_history() -> None:
    panel = synthetic_panel()
    kw = {**WINDOW, "refit": "4D"}
    exp = backtest(panel, [LinearLag()], **kw).predictions
    sld = backtest(panel, [LinearLag()], **kw, window="sliding", train_size="10D").predictions
    assert sld["y_pred"].notna().mean() > 0.8
    assert not np.allclose(exp["y_pred"], sld["y_pred"], equal_nan=True)


def test_refit_free_model_equals_per_block_fit() -> None:
    class SeasonalPerBlock(Seasonal):
        requires_refit = True

    panel = synthetic_panel()
    res = backtest(panel, {"once": Seasonal(), "per_block": SeasonalPerBlock()}, **WINDOW)
    p = res.predictions
    a = p.loc[p["model"] == "once", "y_pred"].to_numpy()
    b = p.loc[p["model"] == "per_block", "y_pred"].to_numpy()
    np.testing.assert_array_equal(a, b)
    # and it is exactly y(t - 168 h)
    s = panel.set_index(["arc_id", "time"])["flow"]
    once = p[p["model"] == "once"]
    keys = pd.MultiIndex.from_arrays([once["arc_id"], once["time"] - pd.Timedelta(hours=168)])
    expected = s.reindex(keys).to_numpy(dtype="float32")
    np.testing.assert_array_equal(once["y_pred"].to_numpy(), expected)


def test_deterministic_and_input_untouched() -> None:
    panel = synthetic_panel()
    before = panel.copy()
    models = {"lin": LinearLag(), "sn": Seasonal(), "gen": GenericOnly()}
    r1 = backtest(panel, models, **WINDOW, refit="3D")
    r2 = backtest(panel.sample(frac=1.0, random_state=1), models, **WINDOW, refit="3D")
    pd.testing.assert_frame_equal(r1.predictions, r2.predictions)
    assert r1.report.to_json() == r2.report.to_json()
    pd.testing.assert_frame_equal(panel, before)
    assert models["lin"].__dict__ == LinearLag().__dict__  # models are cloned, never fitted


@pytest.mark.slow
def test_parallel_equals_serial() -> None:
    panel = synthetic_panel()
    models = {"lin": LinearLag(), "sn": Seasonal(), "gen": GenericOnly()}
    r1 = backtest(panel, models, **WINDOW, refit="3D")
    r2 = backtest(panel, models, **WINDOW, refit="3D", n_jobs=2)
    pd.testing.assert_frame_equal(r1.predictions, r2.predictions)


def test_prediction_frame_layout() -> None:
    panel = synthetic_panel()
    res = backtest(panel, [LinearLag(), Seasonal()], **WINDOW, arcs=[101, 102])
    p = res.predictions
    assert list(p.columns) == [
        "arc_id",
        "time",
        "horizon",
        "model",
        "origin",
        "fitted_at",
        "y_true",
        "y_pred",
    ]
    for col in ("time", "origin", "fitted_at"):
        assert str(p[col].dtype) == "datetime64[ns, UTC]"
    assert (p["horizon"] == 1).all() and (p["origin"] == p["time"] - pd.Timedelta(hours=1)).all()
    assert p["y_pred"].dtype == np.float32 and p["y_true"].dtype == np.float32
    assert list(p["model"].cat.categories) == ["linear_lag", "seasonal"]
    assert set(p["arc_id"]) == {101, 102}
    one = p[p["model"] == "seasonal"]
    assert one[["arc_id", "time"]].equals(one.sort_values(["arc_id", "time"])[["arc_id", "time"]])
    assert res.report.n_targets == len(one)
    assert set(res.timings) == {"linear_lag", "seasonal"}


def test_horizon_and_delay_are_imposed_on_models() -> None:
    panel = synthetic_panel(n_arcs=1)
    a = backtest(panel, [Seasonal(horizon=5)], **WINDOW).predictions
    b = backtest(panel, [Seasonal()], **WINDOW).predictions
    pd.testing.assert_frame_equal(a, b)


def test_failing_models_are_reported_with_block() -> None:
    class Broken(LinearLag):
        def fit_features(self, X: pd.DataFrame) -> LinearLag:
            raise RuntimeError("boom")

    class WrongLength(LinearLag):
        def predict_features(self, X: pd.DataFrame) -> np.ndarray:
            return np.zeros(3)

    panel = synthetic_panel(n_arcs=1)
    with pytest.raises(BacktestError, match=r"model 'broken' failed on the block starting"):
        backtest(panel, [Broken()], **WINDOW)
    with pytest.raises(BacktestError, match="returned 3 predictions"):
        backtest(panel, [WrongLength()], **WINDOW)


def test_config_object_and_options_are_exclusive() -> None:
    panel = synthetic_panel(n_arcs=1)
    cfg = BacktestConfig.create(**WINDOW)
    assert backtest(panel, [Seasonal()], cfg).config == cfg
    with pytest.raises(ConfigurationError, match="not both"):
        backtest(panel, [Seasonal()], cfg, start="2023-02-01")


def test_model_names() -> None:
    names = [n for n, _ in model_names([LinearLag(), LinearLag(), GenericOnly()])]
    assert names == ["linear_lag", "linear_lag_2", "generic_only"]
    assert [n for n, _ in model_names({"a": Seasonal()})] == ["a"]


def test_a_single_task_runs_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # a refit-free model on a small panel is one task: run here, not shipped to a worker that
    # would first import everything; several refit tasks go to the workers
    from infotrafic.backtest import _engine
    from infotrafic.forecasters import make_forecaster

    calls: list[int] = []
    real = _engine.run_tasks

    def spy(tasks, n_jobs):  # type: ignore[no-untyped-def]
        calls.append(n_jobs)
        return real(tasks, n_jobs)

    monkeypatch.setattr(_engine, "run_tasks", spy)
    panel = synthetic_panel()
    models = {"sn": make_forecaster("seasonal_naive"), "lin": LinearLag()}
    res = backtest(panel, models, **WINDOW, refit="3D", n_jobs=2, state=False)
    assert calls == [1, 2]
    serial = backtest(panel, models, **WINDOW, refit="3D", state=False)
    pd.testing.assert_frame_equal(res.predictions, serial.predictions)
