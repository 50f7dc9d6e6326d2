"""Backtest test doubles (forecaster contract) and small SYNTHETIC panels.

The doubles keep the backtest tests independent of the real forecasters; tests using the
registry (infotrafic.forecasters.make_forecaster) live in test_builtin_models.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator


def to_hourly_grid(panel: pd.DataFrame) -> pd.DataFrame:
    """A light hourly grid per arc (the test doubles' own; the library's validates too)."""
    pieces = []
    for arc, g in panel.sort_values(["arc_id", "time"]).groupby("arc_id", sort=True):
        hours = pd.date_range(g["time"].iloc[0], g["time"].iloc[-1], freq="h")
        pieces.append(
            pd.DataFrame({"arc_id": arc, "time": hours}).merge(
                g[["time", "flow"]], on="time", how="left"
            )
        )
    return pd.concat(pieces, ignore_index=True)


def synthetic_panel(
    n_arcs: int = 3, weeks: int = 8, seed: int = 0, start: str = "2023-01-02T00:00Z"
) -> pd.DataFrame:
    """A SYNTHETIC panel: daily + weekly profile, noise, a few missing flows."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=weeks * 168, freq="h", tz="UTC")
    frames = []
    for a in range(n_arcs):
        h = np.arange(len(times))
        base = 300 + 100 * a + 200 * np.sin(2 * np.pi * h / 24) ** 2 + 50 * ((h // 24) % 7 < 5)
        flow = base + rng.normal(0, 20, len(times))
        flow[rng.random(len(times)) < 0.03] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "arc_id": 100 + a,
                    "time": times,
                    "flow": np.clip(flow, 0, None),
                    "occupancy": np.clip(flow / 50, 0, None),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


class LinearLag(BaseEstimator):  # type: ignore[misc]
    """y ~ a * y(t - lead) + b * y(t - 168) + c, fitted by least squares (has learned state)."""

    def __init__(self, *, horizon: int = 1, delay: int = 0, cheat: int = 0) -> None:
        self.horizon = horizon
        self.delay = delay
        self.cheat = cheat

    def build_features(self, panel: pd.DataFrame) -> pd.DataFrame:
        grid = to_hourly_grid(panel)
        lead = self.horizon + self.delay - self.cheat
        g = grid.groupby("arc_id")["flow"]
        return pd.DataFrame(
            {
                "arc_id": grid["arc_id"],
                "time": grid["time"],
                "y": grid["flow"],
                "lag_lead": g.shift(lead),
                "lag_168": g.shift(168),
            }
        )

    def fit_features(self, X: pd.DataFrame) -> LinearLag:
        ok = X[["y", "lag_lead", "lag_168"]].notna().all(axis=1).to_numpy()
        A = np.column_stack(
            [X["lag_lead"].to_numpy()[ok], X["lag_168"].to_numpy()[ok], np.ones(ok.sum())]
        )
        self.coef_ = np.linalg.lstsq(A, X["y"].to_numpy()[ok], rcond=None)[0]
        return self

    def predict_features(self, X: pd.DataFrame) -> np.ndarray:
        c = self.coef_
        return np.asarray(c[0] * X["lag_lead"] + c[1] * X["lag_168"] + c[2], dtype="float64")

    def fit(self, panel: pd.DataFrame) -> LinearLag:
        return self.fit_features(self.build_features(panel))

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
        X = self.build_features(panel).set_index(["arc_id", "time"])
        keys = pd.MultiIndex.from_frame(targets[["arc_id", "time"]])
        rows = X.reindex(keys).reset_index()
        return self.predict_features(rows)


class GenericOnly(BaseEstimator):  # type: ignore[misc]
    """The same model seen only through fit/predict (forces the engine's generic path)."""

    def __init__(self, *, horizon: int = 1, delay: int = 0) -> None:
        self.horizon = horizon
        self.delay = delay

    def fit(self, panel: pd.DataFrame) -> GenericOnly:
        self.inner_ = LinearLag(horizon=self.horizon, delay=self.delay).fit(panel)
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
        return self.inner_.predict(panel, targets)  # type: ignore[no-any-return]


class Seasonal(BaseEstimator):  # type: ignore[misc]
    """Stateless seasonal naive (168 h) declaring requires_refit = False."""

    requires_refit = False

    def __init__(self, *, horizon: int = 1, delay: int = 0) -> None:
        self.horizon = horizon
        self.delay = delay

    def build_features(self, panel: pd.DataFrame) -> pd.DataFrame:
        grid = to_hourly_grid(panel)
        return pd.DataFrame(
            {
                "arc_id": grid["arc_id"],
                "time": grid["time"],
                "y": grid["flow"],
                "lag_168": grid.groupby("arc_id")["flow"].shift(168),
            }
        )

    def fit_features(self, X: pd.DataFrame) -> Seasonal:
        self.fitted_ = True
        return self

    def predict_features(self, X: pd.DataFrame) -> np.ndarray:
        return X["lag_168"].to_numpy(dtype="float64")

    def fit(self, panel: pd.DataFrame) -> Seasonal:
        return self.fit_features(self.build_features(panel))

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
        X = self.build_features(panel).set_index(["arc_id", "time"])
        keys = pd.MultiIndex.from_frame(targets[["arc_id", "time"]])
        return self.predict_features(X.reindex(keys).reset_index())


class Recorder(BaseEstimator):  # type: ignore[misc]
    """Generic-path model recording what the engine hands it (train max time, history max)."""

    log: list[dict[str, Any]] = []

    def __init__(self, *, horizon: int = 1, delay: int = 0) -> None:
        self.horizon = horizon
        self.delay = delay

    def fit(self, panel: pd.DataFrame) -> Recorder:
        self.train_max_ = panel["time"].max()
        self.train_min_ = panel["time"].min()
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
        Recorder.log.append(
            {
                "train_min": self.train_min_,
                "train_max": self.train_max_,
                "history_max": panel["time"].max(),
                "t_min": targets["time"].min(),
                "t_max": targets["time"].max(),
                "n": len(targets),
            }
        )
        return np.zeros(len(targets))
