"""Rolling-origin backtesting of forecasters, and its report.

Backtesting is done by composition, outside the model classes: :func:`backtest` takes a panel,
forecasters (anything following the :mod:`infotrafic.forecasters` contract) and a schedule
(:class:`BacktestConfig`), and returns a :class:`BacktestResult` holding a long prediction frame
and a :class:`BacktestReport`.

Schedule (all times UTC; a panel ``time`` is the end of the counting hour):

* targets: hours ``t`` with ``start <= t < end`` and an observed flow;
* origin of a target: ``t - horizon``; data available there: ``time <= t - horizon - delay``;
* cutoffs ``start + k * refit``; the model refit at cutoff ``c`` trains on targets with
  ``time <= c - horizon - delay`` (expanding) or the last ``train_size`` of them (sliding) and
  predicts the block ``[c, c + refit)``.

Metrics live in :mod:`infotrafic.backtest.metrics` (``mae``, ``rmse``, ``bias``, ``mase``,
``wmape``).
"""

from infotrafic.backtest import metrics
from infotrafic.backtest._config import BacktestConfig, parse_duration, parse_hours, parse_time
from infotrafic.backtest._engine import model_names
from infotrafic.backtest._format import format_table
from infotrafic.backtest._leakage import check_no_future_use
from infotrafic.backtest._pool import sample_keys
from infotrafic.backtest._report import BacktestReport, build_report, seasonal_scales
from infotrafic.backtest._result import BacktestResult
from infotrafic.backtest._run import backtest

__all__ = [
    "BacktestConfig",
    "BacktestReport",
    "BacktestResult",
    "backtest",
    "build_report",
    "check_no_future_use",
    "format_table",
    "metrics",
    "model_names",
    "parse_duration",
    "parse_hours",
    "parse_time",
    "sample_keys",
    "seasonal_scales",
]
