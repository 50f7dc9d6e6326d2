"""Feature builders: calendar, lags and rolling statistics of flow and occupancy, per arc.

Builders are small frozen dataclasses composed by a :class:`FeatureSpec`; column names derive
from their parameters (``flow_lag1``, ``flow_rolling_mean_lag1_window24``,
``flow_how_mean_lag168_weeks4``). History builders read the panel only through
:class:`HistoryView`, which refuses anything newer than ``t - lead`` (lead = horizon + delay),
so a feature for target hour ``t`` cannot leak. Computations run on a dense (arc x hour) numpy
matrix and the table holds float32 features.
"""

from infotrafic.features._calendar import (
    CALENDAR_FIELDS,
    Calendar,
    calendar_frame,
    day_types,
    is_public_holiday,
    is_school_holiday,
    school_holidays,
)
from infotrafic.features._grid import HistoryView, HourlyGrid, build_grid, shift
from infotrafic.features._history import (
    EWM,
    Lags,
    LastValue,
    MissingIndicator,
    ProfileDeviation,
    Rolling,
    SameDayType,
    SameHourOfWeek,
    SeasonalDiff,
    seasonal_lag,
)
from infotrafic.features._spec import (
    BUILDERS,
    SPARSE_SHARE,
    TARGETS,
    FeatureBuilder,
    FeatureSpec,
    build_features,
    build_on_grid,
)

__all__ = [
    "BUILDERS",
    "CALENDAR_FIELDS",
    "EWM",
    "Calendar",
    "FeatureBuilder",
    "FeatureSpec",
    "HistoryView",
    "HourlyGrid",
    "Lags",
    "LastValue",
    "MissingIndicator",
    "ProfileDeviation",
    "Rolling",
    "SameDayType",
    "SameHourOfWeek",
    "SPARSE_SHARE",
    "SeasonalDiff",
    "TARGETS",
    "build_features",
    "build_grid",
    "build_on_grid",
    "calendar_frame",
    "day_types",
    "is_public_holiday",
    "is_school_holiday",
    "school_holidays",
    "seasonal_lag",
    "shift",
]
