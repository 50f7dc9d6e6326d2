"""A public contract check for feature builders: declared columns, no look-ahead, exact lookback.

:func:`check_builder` is to a feature builder what ``check_forecaster`` is to a forecaster: the
project's own tests run it on an example of every registered builder
(:func:`~infotrafic.features.builder_examples`), and a third party runs it on theirs. It builds
the features of a synthetic two-arc panel (labelled synthetic: mechanics only) and checks that

* the columns are declared once, with unique names and lags not below the lead, and the spec
  survives a JSON round trip through the builder registry;
* perturbing, blanking or removing every value newer than ``t - lead`` leaves the features of
  ``t`` bit-for-bit unchanged (no look-ahead);
* the panel cut ``lookback(lead)`` hours before the targets gives the same features (the
  declared lookback is honest), and computing only the target hours gives the whole-grid values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from infotrafic.exceptions import ConfigurationError
from infotrafic.features._grid import build_grid
from infotrafic.features._registry import BUILDERS
from infotrafic.features._spec import FeatureSpec, build_features, build_on_grid

__all__ = ["check_builder"]

_H = pd.Timedelta(hours=1)
#: The synthetic panel ends just after the autumn daylight-saving change in Paris.
_PANEL_END = pd.Timestamp("2023-10-30T12:00Z")
_TARGET_HOURS = 48
_MODES = ("noise", "nan", "drop")


def synthetic_panel(hours: int, seed: int = 0) -> pd.DataFrame:
    """Return a synthetic two-arc panel of ``hours`` hours (daily pattern, gaps, missing values).

    Parameters
    ----------
    hours : int
        Number of hours, ending at 2023-10-30 12:00 UTC.
    seed : int, default 0
        Seed of the noise, the missing values and the removed rows.

    Returns
    -------
    pandas.DataFrame
        ``arc_id``, ``time``, ``flow``, ``occupancy``; about a tenth of the values missing and a
        twentieth of the rows absent.
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range(end=_PANEL_END, periods=hours, freq="h")
    phase = 2 * np.pi * np.arange(hours) / 24
    frames = []
    for arc, level in ((1, 300.0), (2, 900.0)):
        flow = level * (1.2 + np.sin(phase)) + rng.gamma(2.0, 20.0, hours)
        occ = flow / level * 6 + rng.gamma(2.0, 0.5, hours)
        flow[rng.random(hours) < 0.1] = np.nan
        occ[rng.random(hours) < 0.1] = np.nan
        frame = pd.DataFrame({"arc_id": arc, "time": times, "flow": flow, "occupancy": occ})
        frames.append(frame[rng.random(hours) >= 0.05])
    return pd.concat(frames, ignore_index=True)


def _fail(builder: object, lead: int, what: str, fix: str) -> ConfigurationError:
    return ConfigurationError(f"feature builder {builder!r} at lead {lead}: {what}; {fix}")


def _check_declaration(builder: Any, spec: FeatureSpec) -> None:
    """Check the declared columns and the serialisation through the registry."""
    lead = spec.lead
    columns = builder.columns(lead)
    if not isinstance(columns, tuple) or not columns:
        raise _fail(builder, lead, f"columns() returned {columns!r}", "return a non-empty tuple")
    early = [c.name for c in columns if c.lag is not None and int(c.lag) < lead]
    if early:
        raise _fail(
            builder,
            lead,
            f"the columns {early} declare a lag below the lead",
            "a feature of hour t may only read values at t - lead or earlier",
        )
    lookback = builder.lookback(lead)
    lags = [int(c.lag) for c in columns if c.lag is not None]
    if lookback is not None and lags and int(lookback) < max(lags):
        raise _fail(
            builder,
            lead,
            f"lookback {lookback} h is shorter than the lag {max(lags)} h it declares",
            "return at least the oldest hour its values read",
        )
    if BUILDERS.get(builder.kind) is not type(builder):
        raise _fail(
            builder,
            lead,
            f"its kind {builder.kind!r} is not registered to {type(builder).__qualname__}",
            "decorate the class with @infotrafic.features.register_builder",
        )
    back = FeatureSpec.from_json(spec.to_json())
    if back != spec:
        raise _fail(
            builder,
            lead,
            f"the spec read back from JSON differs: {back.builders!r}",
            "keep every constructor parameter a JSON-ready field of the dataclass",
        )


def _compare(
    builder: object, lead: int, base: pd.DataFrame, other: pd.DataFrame, what: str, fix: str
) -> int:
    """Raise on the first feature value that differs (NaN equals NaN); return values compared."""
    names = [c for c in base.columns if c not in ("arc_id", "time", "y")]
    a = base[names].to_numpy(dtype=np.float64)
    b = other[names].to_numpy(dtype=np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if not same.all():
        i, j = (int(k[0]) for k in np.nonzero(~same))
        row = base.iloc[i]
        raise _fail(
            builder,
            lead,
            f"{names[j]} of arc {row['arc_id']} at {row['time']} changed from {a[i, j]} to "
            f"{b[i, j]} {what}",
            fix,
        )
    return int(a.size)


def check_builder(
    builder: Any, *, lead: int = 1, panel: pd.DataFrame | None = None, seed: int = 0
) -> int:
    """Check that a feature builder keeps its contract; return the number of values compared.

    Parameters
    ----------
    builder : FeatureBuilder
        An instance of a registered builder class.
    lead : int, default 1
        ``horizon + delay`` in hours.
    panel : pandas.DataFrame, optional
        Canonical panel to build on (default: a synthetic two-arc panel long enough for the
        builder's lookback, ending just after a daylight-saving change). The targets are its
        last 48 hours.
    seed : int, default 0
        Seed of the synthetic panel and of the perturbations.

    Returns
    -------
    int
        Number of feature values compared (non-zero when the check is meaningful).

    Raises
    ------
    ConfigurationError
        Naming the builder, the lead, the column, the arc and hour that moved, and the fix.

    Examples
    --------
    >>> from infotrafic.features import Rolling
    >>> check_builder(Rolling(windows=(3,)), lead=2) > 0
    True
    """
    lead = int(lead)
    spec = FeatureSpec((builder,), lead=lead)
    _check_declaration(builder, spec)
    lookback = builder.lookback(lead)
    if panel is None:
        span = 24 * 21 if lookback is None else min(int(lookback), 24 * 100)
        panel = synthetic_panel(span + _TARGET_HOURS + 72, seed=seed)
    times = np.sort(panel["time"].unique())[-_TARGET_HOURS:]
    arcs = np.sort(panel["arc_id"].unique())
    targets = pd.DataFrame(
        {"arc_id": np.repeat(arcs, len(times)), "time": np.tile(times, len(arcs))}
    )
    full = build_features(panel, spec, targets=targets)
    grid = build_grid(panel, columns=spec.required_columns(), targets=targets)
    checked = _compare(
        builder,
        lead,
        full,
        build_on_grid(grid, spec, sparse=True),
        "when only the target hours are computed",
        "compute the same values on a sparse HistoryView (view.columns) as on the whole grid",
    )
    rng = np.random.default_rng(seed + 1)
    for t in pd.DatetimeIndex(times[[0, len(times) // 2, -1]]):
        rows = (targets["time"] == t).to_numpy()
        base = full[rows].reset_index(drop=True)
        future = (panel["time"] > t - lead * _H).to_numpy()
        for mode in _MODES:
            changed = panel[~future] if mode == "drop" else panel.copy()
            for col in ("flow", "occupancy") if mode != "drop" else ():
                values = changed[col].to_numpy(dtype=np.float64).copy()
                values[future] = (
                    rng.gamma(2.0, 500.0, int(future.sum())) if mode == "noise" else np.nan
                )
                changed[col] = values
            other = build_features(changed, spec, targets=targets[rows].reset_index(drop=True))
            checked += _compare(
                builder,
                lead,
                base,
                other,
                f"when the data after {t - lead * _H} (t - lead) were changed ({mode})",
                "read the panel only through HistoryView with lags >= view.lead",
            )
    if lookback is not None:
        first = pd.Timestamp(times[0])
        cut = panel[panel["time"] >= first - int(lookback) * _H]
        checked += _compare(
            builder,
            lead,
            full,
            build_features(cut, spec, targets=targets),
            f"when the rows before {first} - lookback ({lookback} h) were removed",
            "return a larger lookback(lead), or None when the values read the whole history",
        )
    return checked
