"""The object returned by :func:`~infotrafic.backtest.backtest`."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from infotrafic._io import atomic_write
from infotrafic._types import PathLike
from infotrafic.backtest._report import BacktestReport, build_report
from infotrafic.exceptions import ConfigurationError

if TYPE_CHECKING:
    from infotrafic.backtest._config import BacktestConfig

__all__ = ["BacktestResult"]


@dataclasses.dataclass(frozen=True)
class BacktestResult:
    """Predictions and scores of a backtest.

    Attributes
    ----------
    predictions : pandas.DataFrame
        Long frame, one row per (horizon, model, arc, target hour) with an observed flow:
        ``arc_id`` (int64), ``time`` (UTC, end of the counting hour), ``horizon`` (hours,
        int16), ``model`` (categorical), ``origin`` (``time - horizon - delay``: the newest
        hour of data the forecast may use; mlforecast's ``cutoff``), ``fitted_at`` (the refit
        cutoff whose model made the forecast, trained on targets up to
        ``fitted_at - horizon - delay``), ``y_true`` and ``y_pred`` (float32; ``y_pred`` NaN
        when the model could not predict), and with interval levels ``lo_<L>``, ``hi_<L>``.
    config : BacktestConfig
        The options used.
    timings : dict of str to float
        Wall-clock seconds spent per model (features, fits and predictions).
    scales : pandas.Series, optional
        Per-arc MASE scales (in-sample seasonal-naive MAE before the start).
    states : pandas.DataFrame, optional
        With ``state=True``: one row per (horizon, model, arc, target hour) with an observed
        occupancy: ``arc_id, time, horizon, model, origin, fitted_at, occupancy_true,
        occupancy_pred, state_true, state_pred, state_probability`` (state codes 1-4 of
        :data:`~infotrafic.TRAFFIC_STATES`, 0 when no forecast); the model ``persistence``
        repeats the state observed at the origin.
    report : BacktestReport
        Metrics and comparison tables, computed on first access (so a backtest whose caller
        only wants the predictions does not pay for them).
    """

    predictions: pd.DataFrame
    config: BacktestConfig
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    scales: pd.Series | None = None
    states: pd.DataFrame | None = None

    @functools.cached_property
    def report(self) -> BacktestReport:
        """Metrics and comparison tables (built once, on first access)."""
        return build_report(
            self.predictions,
            scales=self.scales,
            config=self.config.to_dict(),
            states=self.states,
        )

    def to_json(self) -> str:
        """Return the report as JSON (see :meth:`BacktestReport.to_json`)."""
        return self.report.to_json()

    def to_html(self) -> str:
        """Return the self-contained HTML report (see :meth:`BacktestReport.to_html`)."""
        return self.report.to_html()

    def to_text(self) -> str:
        """Return the comparison table as aligned text (see :meth:`BacktestReport.to_text`)."""
        return self.report.to_text()

    def write_states(self, path: PathLike) -> Path:
        """Write the traffic-state frame to parquet atomically (see :attr:`states`).

        Parameters
        ----------
        path : str or os.PathLike
            Destination ``.parquet`` file.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        ConfigurationError
            When the backtest was run without ``state``.
        """
        if self.states is None:
            raise ConfigurationError("this backtest has no states: run it with state=True")
        return _write_parquet(self.states, path)

    def write_predictions(self, path: PathLike) -> Path:
        """Write the prediction frame to parquet atomically (temporary file + rename).

        Parameters
        ----------
        path : str or os.PathLike
            Destination ``.parquet`` file.

        Returns
        -------
        pathlib.Path
        """
        return _write_parquet(self.predictions, path)


def _write_parquet(frame: pd.DataFrame, path: PathLike) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
