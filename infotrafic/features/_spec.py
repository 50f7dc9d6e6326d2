"""Compose feature builders into one serialisable :class:`FeatureSpec`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic.exceptions import ConfigurationError
from infotrafic.features._grid import HistoryView, HourlyGrid, build_grid
from infotrafic.features._registry import (
    BUILDERS,
    Column,
    FeatureBuilder,
    builder_class,
)

__all__ = [
    "BUILDERS",
    "SPARSE_SHARE",
    "TARGETS",
    "FeatureBuilder",
    "FeatureSpec",
    "build_features",
    "build_on_grid",
]

#: The panel columns a forecaster can learn and predict (the ``y`` of a feature table).
TARGETS: tuple[str, ...] = ("flow", "occupancy")


def _builder_to_dict(builder: FeatureBuilder) -> dict[str, Any]:
    if not dataclasses.is_dataclass(builder):
        raise ConfigurationError(f"builder {builder!r} is not a dataclass; cannot serialise it")
    params = {f.name: getattr(builder, f.name) for f in dataclasses.fields(builder)}
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return {"kind": builder.kind, **params}


def _builder_from_dict(data: dict[str, Any]) -> FeatureBuilder:
    data = dict(data)
    cls = builder_class(data.pop("kind", None))
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    builder: FeatureBuilder = cls(**params)
    return builder


@dataclass(frozen=True)
class FeatureSpec:
    """An ordered composition of feature builders for one lead.

    Parameters
    ----------
    builders : tuple of FeatureBuilder
        The builders, in column order (any registered with
        :func:`~infotrafic.features.register_builder` can be saved and read back).
    lead : int, default 1
        ``horizon + delay`` in hours: every feature of target ``t`` uses only data at
        ``t - lead`` or earlier.
    target : {"flow", "occupancy"}, default "flow"
        The panel column copied into ``y``, the value to forecast.

    Examples
    --------
    >>> import pandas as pd
    >>> from infotrafic.features import Calendar, FeatureSpec, Lags, Rolling
    >>> spec = FeatureSpec((Lags(lags=(1, 168)), Rolling(windows=(24,)), Calendar(("hour",))))
    >>> spec.feature_names()
    ['flow_lag1', 'flow_lag168', 'flow_rolling_mean_lag1_window24', 'hour']
    >>> spec.lookback()  # hours before a target that its features read
    168
    >>> FeatureSpec.from_json(spec.to_json()) == spec
    True
    >>> panel = pd.DataFrame({"arc_id": 1, "flow": [10.0, 20.0, 30.0],
    ...     "time": pd.date_range("2024-01-01 01:00", periods=3, freq="h", tz="UTC")})
    >>> spec.build(panel)[["y", "flow_lag1"]].to_numpy().tolist()
    [[10.0, nan], [20.0, 10.0], [30.0, 20.0]]
    """

    builders: tuple[FeatureBuilder, ...] = field(default_factory=tuple)
    lead: int = 1
    target: str = "flow"

    def __post_init__(self) -> None:
        if int(self.lead) < 1:
            raise ConfigurationError(f"lead must be >= 1 hour, got {self.lead}")
        if self.target not in TARGETS:
            raise ConfigurationError(
                f"target must be one of {list(TARGETS)} (the panel column to forecast), "
                f"got {self.target!r}"
            )
        names = self.feature_names()
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigurationError(f"feature builders produce duplicate columns {dup}")
        reserved = {"arc_id", "time", "y"} & set(names)
        if reserved:
            raise ConfigurationError(f"feature names {sorted(reserved)} are reserved")

    def columns(self) -> list[Column]:
        """Return the specs of the feature columns, in order (as the builders declare them)."""
        return [c for b in self.builders for c in b.columns(self.lead)]

    def feature_names(self) -> list[str]:
        """Names of the feature columns, in order."""
        return [c.name for c in self.columns()]

    def units(self) -> dict[str, str | None]:
        """Map each feature to the series whose unit it carries (``"flow"``, ...; None)."""
        return {c.name: c.unit for c in self.columns()}

    def with_lead(self, lead: int) -> FeatureSpec:
        """Return the same builders and target for another lead."""
        return FeatureSpec(self.builders, lead=lead, target=self.target)

    def required_columns(self) -> tuple[str, ...]:
        """Panel columns the builders read (always includes the target)."""
        cols = [self.target]
        for b in self.builders:
            cols += [c for c in b.required_columns() if c not in cols]
        return tuple(cols)

    def lookback(self) -> int | None:
        """Hours before a target hour that any feature can reach; None when unbounded.

        The features of targets ``t >= t0`` built from the panel rows with
        ``time >= t0 - lookback()`` are exactly those built from the whole panel (``EWM`` and
        ``LastValue`` without ``max_age`` read the whole history: None).

        Returns
        -------
        int or None
        """
        out = 0
        for b in self.builders:
            k = b.lookback(self.lead)
            if k is None:
                return None
            out = max(out, int(k))
        return out

    def build(self, panel: pd.DataFrame, *, targets: pd.DataFrame | None = None) -> pd.DataFrame:
        """Build the feature table (see :func:`build_features`)."""
        return build_features(panel, self, targets=targets)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "lead": int(self.lead),
            "target": self.target,
            "builders": [_builder_to_dict(b) for b in self.builders],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        try:
            builders = tuple(_builder_from_dict(b) for b in data["builders"])
            return cls(builders, lead=int(data["lead"]), target=str(data.get("target", "flow")))
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(f"not a feature spec description: {exc}") from exc

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        """Rebuild a spec from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


def build_features(
    panel: pd.DataFrame,
    spec: FeatureSpec | Sequence[FeatureBuilder],
    *,
    lead: int | None = None,
    targets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Build the feature table of a panel: one row per (arc, hour) on the hourly grid.

    Columns: ``arc_id`` (int64), ``time`` (UTC end of hour), ``y`` (the spec's target, flow
    by default, at ``time``; float64) and one float32 column per feature. Features of row
    ``t`` are computed only from values at ``t - lead`` or earlier (enforced by
    :class:`HistoryView`), so the same table serves training (rows before a cutoff) and
    prediction (rows after it).

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel (history; never mutated).
    spec : FeatureSpec or sequence of builders
        What to build.
    lead : int, optional
        Overrides ``spec.lead`` (required when passing a plain sequence; default 1).
    targets : pandas.DataFrame, optional
        ``arc_id``/``time`` rows to build instead of the panel's own grid (same order).

    Returns
    -------
    pandas.DataFrame
        The feature table.

    Examples
    --------
    >>> import pandas as pd
    >>> from infotrafic.features import Lags
    >>> p = pd.DataFrame({"arc_id": 5, "flow": [1.0, 2.0, 4.0],
    ...     "time": pd.date_range("2024-01-01 01:00", periods=3, freq="h", tz="UTC")})
    >>> build_features(p, [Lags(lags=(2,))], lead=2)["flow_lag2"].tolist()
    [nan, nan, 1.0]
    """
    if not isinstance(spec, FeatureSpec):
        spec = FeatureSpec(tuple(spec), lead=1 if lead is None else lead)
    elif lead is not None and lead != spec.lead:
        spec = spec.with_lead(lead)
    grid = build_grid(panel, columns=spec.required_columns(), targets=targets)
    return build_on_grid(grid, spec)


#: A build computes only the target hours when they are at most this share of the grid's hours.
SPARSE_SHARE = 0.125


def build_on_grid(
    grid: HourlyGrid, spec: FeatureSpec, *, sparse: bool | None = None
) -> pd.DataFrame:
    """Build the feature table of a grid's output rows (see :func:`build_features`).

    Several builds can share one grid (:meth:`HourlyGrid.with_rows`), e.g. one per horizon of
    a forecast. When the output rows fall on few hours of the grid (forecasts, a few targets),
    the builders compute those hours only: the values are the same, the cost is a few columns
    instead of the whole history.

    Parameters
    ----------
    grid : HourlyGrid
        Dense arrays holding ``spec.required_columns()``.
    spec : FeatureSpec
        What to build.
    sparse : bool, optional
        Compute only the output rows' hours (default: when they are at most an eighth of the
        grid's hours).

    Returns
    -------
    pandas.DataFrame
        ``arc_id``, ``time``, ``y`` and one float32 column per feature.
    """
    names = spec.feature_names()
    missing_cols = [c for c in spec.required_columns() if c not in grid.values]
    if missing_cols:
        raise ConfigurationError(f"the grid lacks the column(s) {missing_cols} of the spec")
    hours = np.unique(grid.row_hour)
    if sparse is None:
        sparse = len(hours) <= SPARSE_SHARE * grid.shape[1]
    view = HistoryView(grid, spec.lead, columns=hours if sparse else None)
    pos = np.searchsorted(hours, grid.row_hour) if sparse else None
    n = grid.n_rows
    block = np.empty((len(names), n), dtype=np.float32)
    index = {name: i for i, name in enumerate(names)}
    done = set()
    for builder in spec.builders:
        declared = builder.columns(spec.lead)
        for column, matrix in builder.compute(view):
            if column not in declared:
                raise ConfigurationError(
                    f"feature builder {builder!r} yielded {column!r}, which is not one of its "
                    f"columns(lead={spec.lead}); yield the Column objects columns() returns"
                )
            row = index[column.name]
            block[row] = grid.gather(matrix) if pos is None else _gather(grid, matrix, pos)
            done.add(column.name)
    missing = [n_ for n_ in names if n_ not in done]
    if missing:
        raise ConfigurationError(f"builders did not produce {missing}")
    out = pd.DataFrame(block.T, columns=pd.Index(names), copy=False)
    y = np.asarray(grid.gather_values(grid.values[spec.target]), dtype=np.float64)
    out.insert(0, "y", y)
    times_ns = np.take(grid.times.as_unit("ns").asi8, grid.row_hour)
    out.insert(0, "time", pd.DatetimeIndex(times_ns.view("M8[ns]"), tz="UTC", name="time"))
    out.insert(0, "arc_id", np.take(grid.arc_ids, grid.row_arc))
    return out


def _gather(
    grid: HourlyGrid, matrix: NDArray[np.floating] | NDArray[np.integer], pos: NDArray[np.intp]
) -> NDArray[np.float32]:
    """Pick the output rows of a matrix over the view's output columns, as float32."""
    m = np.asarray(matrix)
    if m.shape[0] == 1 and grid.shape[0] != 1:
        return np.asarray(m[0, pos], dtype=np.float32)
    return np.asarray(m[grid.row_arc, pos], dtype=np.float32)
