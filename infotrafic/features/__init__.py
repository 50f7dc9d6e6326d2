"""Feature builders: calendar, lags and rolling statistics of flow and occupancy, per arc.

Builders are small frozen dataclasses composed by a :class:`FeatureSpec`. Each declares its
columns once (:class:`Column` specs from ``columns(lead)``), named from its parameters
(``flow_lag1``, ``flow_rolling_mean_lag1_window24``, ``flow_how_mean_lag168_weeks4``), and
registers its ``kind`` with :func:`register_builder`. History builders read the panel only
through :class:`HistoryView`, which refuses anything newer than ``t - lead`` (lead = horizon +
delay), so a feature for target hour ``t`` cannot leak; :func:`check_builder` verifies it, and
the declared lookback, on any builder. Computations run on a dense (arc x hour) numpy matrix and
the table holds float32 features.
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
from infotrafic.features._checks import check_builder
from infotrafic.features._grid import HistoryView, HourlyGrid, build_grid, shift
from infotrafic.features._history import (
    EWM,
    Lags,
    LastValue,
    MissingIndicator,
    Rolling,
    lag_column,
    last_value_column,
    seasonal_lag,
)
from infotrafic.features._registry import (
    BUILDERS,
    Column,
    FeatureBuilder,
    builder_examples,
    register_builder,
)
from infotrafic.features._seasonal import (
    ProfileDeviation,
    SameDayType,
    SameHourOfWeek,
    SeasonalDiff,
)
from infotrafic.features._spec import (
    SPARSE_SHARE,
    TARGETS,
    FeatureSpec,
    build_features,
    build_on_grid,
)

__all__ = [
    "BUILDERS",
    "CALENDAR_FIELDS",
    "EWM",
    "SPARSE_SHARE",
    "TARGETS",
    "Calendar",
    "Column",
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
    "SeasonalDiff",
    "build_features",
    "build_grid",
    "build_on_grid",
    "builder_examples",
    "calendar_frame",
    "check_builder",
    "day_types",
    "is_public_holiday",
    "is_school_holiday",
    "lag_column",
    "last_value_column",
    "register_builder",
    "school_holidays",
    "seasonal_lag",
    "shift",
]
