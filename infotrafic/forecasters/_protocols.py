"""The forecaster contract as ``typing.Protocol`` classes (what every tool may rely on).

:class:`Forecaster` is the panel path every forecaster offers; :class:`TabularForecaster` adds
the tabular fast path. What a forecaster *can do* beyond the protocol (refit needs, lookback,
sampling, targets) is declared by its tags (:mod:`infotrafic.forecasters._tags`).
"""

from __future__ import annotations

from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Forecaster", "TabularForecaster"]


@runtime_checkable
class Forecaster(Protocol):
    """What the backtest engine, the CLI and persistence expect from any forecaster."""

    horizon: int
    delay: int

    def fit(self, panel: pd.DataFrame) -> Self:
        """Learn from a canonical panel; return ``self``."""
        ...

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> NDArray[np.float64]:
        """Predict the flow of ``targets`` rows (``arc_id``, ``time``) from ``panel`` history."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyper-parameters."""
        ...

    def set_params(self, **params: Any) -> Self:
        """Set hyper-parameters."""
        ...


@runtime_checkable
class TabularForecaster(Forecaster, Protocol):
    """A forecaster with the tabular fast path: features built once, fitted per refit block.

    Every built-in forecaster implements it; the backtest engine uses it when present and falls
    back to ``fit``/``predict`` otherwise (e.g. for the Darts adapter).
    """

    def build_features(
        self, panel: pd.DataFrame, *, targets: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Feature table with ``arc_id``, ``time``, ``y`` and feature columns."""
        ...

    def fit_features(self, X: pd.DataFrame) -> Self:
        """Learn from rows of :meth:`build_features` output (uses column ``y``)."""
        ...

    def predict_features(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Predict rows of :meth:`build_features` output."""
        ...
