"""The object returned by :func:`~infotrafic.backtest.backtest`."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from infotrafic._types import PathLike
from infotrafic.backtest._report import BacktestReport, build_report

if TYPE_CHECKING:
    from infotrafic.backtest._config import BacktestConfig

__all__ = ["BacktestResult"]


@dataclasses.dataclass(frozen=True)
class BacktestResult:
    """Predictions and scores of a backtest.

    Attributes
    ----------
    predictions : pandas.DataFrame
        Long frame, one row per (model, arc, target hour) with an observed flow: ``arc_id``
        (int64), ``time`` (UTC, end of the counting hour), ``model`` (categorical), ``cutoff``
        (start of the refit block that produced the prediction), ``y_true`` and ``y_pred``
        (float32; ``y_pred`` NaN when the model could not predict).
    config : BacktestConfig
        The options used.
    timings : dict of str to float
        Wall-clock seconds spent per model (features, fits and predictions).
    scales : pandas.Series, optional
        Per-arc MASE scales (in-sample seasonal-naive MAE before the start).
    report : BacktestReport
        Metrics and comparison tables, computed on first access (so a backtest whose caller
        only wants the predictions does not pay for them).
    """

    predictions: pd.DataFrame
    config: BacktestConfig
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    scales: pd.Series | None = None

    @functools.cached_property
    def report(self) -> BacktestReport:
        """Metrics and comparison tables (built once, on first access)."""
        return build_report(self.predictions, scales=self.scales, config=self.config.to_dict())

    def to_json(self) -> str:
        """Return the report as JSON (see :meth:`BacktestReport.to_json`)."""
        return self.report.to_json()

    def to_html(self) -> str:
        """Return the self-contained HTML report (see :meth:`BacktestReport.to_html`)."""
        return self.report.to_html()

    def to_text(self) -> str:
        """Return the comparison table as aligned text (see :meth:`BacktestReport.to_text`)."""
        return self.report.to_text()

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
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        self.predictions.to_parquet(tmp, index=False)
        tmp.replace(dest)
        return dest
