"""Prediction intervals and state probabilities for any forecaster, by conformal calibration.

:class:`ConformalIntervals` turns the scaled errors of past forecasts (a backtest's, or the
calibration window of :func:`infotrafic.forecasting.train`) into intervals ``lo_<L>, hi_<L>``
around new forecasts, using only errors whose truth was known at each forecast's origin, by hour
of day and scaled to each arc's level; the same errors give the probability of each traffic
state from an occupancy forecast.
"""

from infotrafic.intervals._conformal import (
    ConformalIntervals,
    check_levels,
    interval_columns,
    local_hours,
    state_probabilities,
)

__all__ = [
    "ConformalIntervals",
    "check_levels",
    "interval_columns",
    "local_hours",
    "state_probabilities",
]
