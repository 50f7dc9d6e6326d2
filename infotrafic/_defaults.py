"""Defaults of the backtest schedule, written once for the library and the command line.

:class:`~infotrafic.backtest.BacktestConfig`, :func:`~infotrafic.forecasting.train`, the
champion's re-evaluation and the ``backtest``/``train`` commands all read them here, so a default
changed here changes them all. Light on purpose (plain strings, no pandas): the command line shows
them in ``--help`` before it imports anything heavy.
"""

from __future__ import annotations

__all__ = ["CALIBRATION", "REFIT"]

#: Refit cadence of a backtest, and of the validation backtest of ``train``: every 7 days.
REFIT = "7D"
#: Window of past errors (before the first target) calibrating intervals and state probabilities.
CALIBRATION = "28D"
