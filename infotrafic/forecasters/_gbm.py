"""A global gradient-boosted forecaster on the feature builders.

One model serves every arc. To let arcs of very different sizes share it, the target and every
flow-valued feature are divided by the arc's recent level (its mean flow over the week ending at
``t - lead``; occupancy features by the occupancy level), and the model learns with an absolute
error loss on that relative scale. Predictions are multiplied back. Calendar features,
missing-value indicators and the (log) level itself are kept as they are.

The target (the flow, or the occupancy with ``target="occupancy"``) can be learned in several
forms (``target_forms``), each relative to the arc: its ratio to
the level, its change since the last observed value, or either of those on a log scale. Each
form gets its own booster on the same features, and the predictions are averaged in
vehicles/hour. The absolute error loss estimates the median of each form, and the median commutes
with the monotone log and shift maps, so every booster estimates the same conditional median of
the flow; they differ in how their piecewise-constant trees approximate it. On the real Paris
arcs, the average of two forms of 200 rounds each was more accurate than one booster of 400
rounds, and three forms of 135 rounds more accurate than two of 200, for about the same cost
(see the benchmarks page of the documentation).

With ``weight_by_level=True`` each row is weighted by its level, which makes the loss exactly
the MAE in vehicles/hour: busy arcs count more. It is about three times slower per boosting
round on LightGBM (a weighted median per leaf instead of a plain one), and on the real Paris
arcs it was not more accurate than the unweighted relative loss with more rounds, so it is off
by default. Uniform weights are never passed to the booster (they would only cost time).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import clone
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from infotrafic._schema import empty_panel
from infotrafic.exceptions import ConfigurationError
from infotrafic.features import (
    Calendar,
    FeatureSpec,
    Lags,
    LastValue,
    MissingIndicator,
    ProfileDeviation,
    Rolling,
    SameDayType,
    SameHourOfWeek,
    SeasonalDiff,
    lag_column,
    last_value_column,
    seasonal_lag,
)
from infotrafic.forecasters._base import BaseForecaster, check_int

__all__ = ["GBMForecaster", "TargetForm", "default_gbm_features"]

_LEVEL_WINDOW = 168
#: Smallest level of each series used as a scale (vehicles/hour; % of occupancy).
_FLOORS: dict[str, float] = {"flow": 1.0, "occupancy": 0.1}
#: Largest possible value of each series (occupancy is a percentage).
_CEILINGS: dict[str, float] = {"flow": np.inf, "occupancy": 100.0}

TargetForm = Literal["ratio", "change", "log", "log_change"]
_TARGET_FORMS: tuple[str, ...] = ("ratio", "change", "log", "log_change")


def default_gbm_features(lead: int = 1, target: str = "flow") -> FeatureSpec:
    """Return the default feature set of :class:`GBMForecaster` for a lead and a target.

    Written here for the flow (with ``target="occupancy"`` the roles of flow and occupancy
    swap: the same builders read the occupancy, and the flow gives the secondary lags and
    levels). Recent flow and occupancy lags; the same hours one and two days and one and two weeks
    earlier (and the hours around them); daily and weekly seasonal differences, the weekly one
    also as a ratio; the same hour on the last and the last five days of the same type (working
    day, Saturday, Sunday or holiday) and those values scaled by the recent change; rolling
    means and spreads; the mean of the same hour over four weeks, the recent deviation from it
    and that profile scaled by it; occupancy lags and levels, missing-value indicators and the
    calendar.

    Parameters
    ----------
    lead : int, default 1
        ``horizon + delay`` in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column to forecast.

    Returns
    -------
    FeatureSpec

    Examples
    --------
    >>> default_gbm_features(6, target="occupancy").feature_names()[:2]
    ['occupancy_lag6', 'occupancy_lag7']
    >>> spec = default_gbm_features(1)
    >>> "flow_lag168" in spec.feature_names() and "occupancy_lag1" in spec.feature_names()
    True
    >>> "flow_daytype_mul_lag1_days5_max35" in spec.feature_names()
    True
    """
    day = seasonal_lag(24, lead)
    week = seasonal_lag(168, lead)
    seasonal = sorted({day - 1, day, day + 1, 2 * day, week - 1, week, week + 1, week + 168})
    seasonal = [k for k in seasonal if k >= lead]
    recent = [lead, lead + 1, lead + 2]
    flow_lags = tuple(sorted(set(recent) | set(seasonal)))
    other = _other(target)
    builders = (
        Lags(target, lags=flow_lags),
        LastValue(target, max_age=168),
        SeasonalDiff(target, season=168, multiplicative=True),
        SeasonalDiff(target, season=24),
        SameDayType(target, days=(1, 5)),
        Rolling(target, windows=(3, 24), stats=("mean", "std")),
        Rolling(target, windows=(_LEVEL_WINDOW,), stats=("mean",), min_periods=24),
        SameHourOfWeek(target, weeks=(4,)),
        ProfileDeviation(target, weeks=4, hours=(1, 3), multiplicative=True),
        Lags(other, lags=(lead, lead + 1, week)),
        Rolling(other, windows=(24, _LEVEL_WINDOW), stats=("mean",), min_periods=12),
        MissingIndicator(target),
        Calendar(),
    )
    return FeatureSpec(builders, lead=lead, target=target)


def _other(target: str) -> str:
    """Return the secondary series of a target (flow <-> occupancy)."""
    if target not in _FLOORS:
        raise ConfigurationError(f"target must be one of {list(_FLOORS)}, got {target!r}")
    return "occupancy" if target == "flow" else "flow"


def _complete(X: pd.DataFrame, names: list[str]) -> NDArray[np.bool_]:
    """Rows whose features ``names`` are all known (``dropna``)."""
    return X[names].notna().all(axis=1).to_numpy()


def _encode(
    form: str, y: NDArray[np.float64], scale: NDArray[np.float64], anchor: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Flow -> the value a booster learns for target ``form`` (see ``GBMForecaster``)."""
    if form == "ratio":
        return y / scale
    if form == "change":
        return (y - anchor) / scale
    if form == "log":
        return np.log1p(np.maximum(y, 0.0)) - np.log1p(scale)
    return np.log1p(np.maximum(y, 0.0)) - np.log1p(anchor)  # log_change


def _decode(
    form: str, p: NDArray[np.float64], scale: NDArray[np.float64], anchor: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Inverse of :func:`_encode`: a booster's output -> flow."""
    if form == "ratio":
        return p * scale
    if form == "change":
        return p * scale + anchor
    if form == "log":
        return np.expm1(p + np.log1p(scale))
    return np.expm1(p + np.log1p(anchor))  # log_change


def _resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "lightgbm" if importlib.util.find_spec("lightgbm") is not None else "sklearn"
    if backend not in ("sklearn", "lightgbm"):
        raise ConfigurationError(
            f"backend must be 'auto', 'sklearn' or 'lightgbm', got {backend!r}"
        )
    if backend == "lightgbm" and importlib.util.find_spec("lightgbm") is None:
        raise ConfigurationError(
            "backend='lightgbm' needs LightGBM: pip install 'infotrafic[lightgbm]'"
        )
    return backend


class GBMForecaster(BaseForecaster):
    """Gradient boosting (scikit-learn or LightGBM) on lag, rolling and calendar features.

    Parameters
    ----------
    features : FeatureSpec, optional
        Feature set; by default :func:`default_gbm_features` for the lead. Its lead is
        replaced by this forecaster's.
    backend : {"auto", "sklearn", "lightgbm"}, default "auto"
        ``auto`` picks LightGBM when installed, else scikit-learn's
        ``HistGradientBoostingRegressor``.
    normalize : bool, default True
        Learn flows relative to each arc's level over the last week (see the module notes).
    target_forms : "auto", str or sequence of str, default "auto"
        The forms in which the target ``y`` is learned, one booster each; their predictions
        are averaged in vehicles/hour. With ``s`` the arc's level (1 without ``normalize``)
        and ``a`` the last observed value (feature ``flow_last_lag{lead}``, else
        ``flow_lag{lead}``, for the flow; the level, or 0 without ``normalize``, when it is
        missing):

        * ``"ratio"``: ``y / s``;
        * ``"change"``: ``(y - a) / s``;
        * ``"log"``: ``log(1 + y) - log(1 + s)``;
        * ``"log_change"``: ``log(1 + y) - log(1 + a)``.

        The change forms need the last value among the features
        (:class:`~infotrafic.features.LastValue` or the lag ``lead`` of the target). ``"auto"``
        is ``("log", "log_change", "change")`` when it is there, else ``("log", "ratio")``.
        Each booster runs ``max_iter`` rounds, so the cost grows with the number of forms
        (LightGBM bins the features once for all of them).
    max_iter : int, default 135
        Boosting rounds of each booster.
    learning_rate : float, default 0.2
        Shrinkage.
    max_leaf_nodes : int, default 63
        Leaves per tree.
    max_bins : int, default 255
        Histogram bins per feature (LightGBM's ``max_bin``, scikit-learn's ``max_bins``; 2 to
        255). Fewer bins make every boosting round cheaper.
    min_samples_leaf : int, default 50
        Minimum rows per leaf.
    l2_regularization : float, default 0.0
        L2 penalty on leaf values.
    subsample : float, default 0.7
        Fraction of the training rows drawn (seeded) for each boosting round (LightGBM
        bagging). scikit-learn's ``HistGradientBoostingRegressor`` has no row subsampling and
        ignores it.
    colsample : float, default 0.7
        Fraction of the features each tree may use (LightGBM ``colsample_bytree``; with
        scikit-learn, ``max_features``, drawn at each split).
    n_models : int, default 1
        Fit this many boosters per target form; they differ in their seed, hence in the row
        and feature sampling above (without sampling they would be identical). Each learns
        from every training row, so fitting and predicting cost ``n_models`` times as much;
        the average has less variance than one booster (see the benchmarks page for measured
        gains).
    weight_by_level : bool, default False
        Weight each row by its arc's level, so that the loss is the MAE in vehicles/hour rather
        than relative to each arc's level (needs ``normalize``; see the module notes).
    dropna : bool, default False
        Learn from, and predict, only the rows whose features are all known, as Darts and
        mlforecast do (their models cannot take missing lags); other rows get NaN predictions.
        By default the boosters route missing values themselves: every row with a known
        target is learned and every row with a level is predicted. It also makes LightGBM
        fits faster (no missing-value search in the splits).
    train_window : int, optional
        Only learn from the last ``train_window`` hours of the training rows.
    max_train_rows : int, optional, default 500_000
        Subsample (seeded) training rows beyond this count, to bound time and memory (the
        backtest engine draws the same sample while streaming).
    random_state : int, default 0
        Seed of the training-row subsample and of the first booster; the ``k``-th booster
        (``models_[k]``, learning ``model_targets_[k]``) has seed ``random_state + k``, so
        that boosters of different forms also sample different rows and features.
    n_jobs : int, optional, default 1
        Threads (OpenMP) for fitting and predicting; all cores when None. One thread is the
        default because the backtest engine parallelises over refits.
    horizon : int, default 1
        Hours ahead.
    delay : int, default 0
        Publication delay in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column to forecast. For the occupancy the default features swap the roles
        of the two series (:func:`default_gbm_features`) and predictions are clipped to
        [0, 100] %.

    Attributes
    ----------
    models_ : list
        The fitted boosters (LightGBM ``Booster`` or scikit-learn estimators), ``n_models``
        per target form.
    model_targets_ : list of str
        The target form each booster of ``models_`` learned.
    model_ : object
        The first booster (``models_[0]``).
    backend_ : str
        ``"lightgbm"`` or ``"sklearn"``.
    feature_names_ : list of str
        The features, in the order of the model matrix (the log level comes last when
        ``normalize``).
    n_train_rows_ : int
        Rows learned from.

    Examples
    --------
    >>> from infotrafic.forecasters import GBMForecaster
    >>> GBMForecaster(backend="sklearn", max_iter=50).feature_spec().lead
    1
    >>> from infotrafic.datasets import load_sample
    >>> gbm = GBMForecaster(max_iter=20).fit(load_sample())
    >>> gbm.model_targets_
    ['log', 'log_change', 'change']
    """

    def __init__(
        self,
        *,
        features: FeatureSpec | None = None,
        backend: Literal["auto", "sklearn", "lightgbm"] = "auto",
        normalize: bool = True,
        target_forms: Literal["auto"] | TargetForm | Sequence[TargetForm] = "auto",
        max_iter: int = 135,
        learning_rate: float = 0.2,
        max_leaf_nodes: int = 63,
        min_samples_leaf: int = 50,
        max_bins: int = 255,
        l2_regularization: float = 0.0,
        subsample: float = 0.7,
        colsample: float = 0.7,
        n_models: int = 1,
        weight_by_level: bool = False,
        dropna: bool = False,
        train_window: int | None = None,
        max_train_rows: int | None = 500_000,
        random_state: int = 0,
        n_jobs: int | None = 1,
        horizon: int = 1,
        delay: int = 0,
        target: str = "flow",
    ) -> None:
        super().__init__(horizon=horizon, delay=delay, target=target)
        self.features = features
        self.backend = backend
        self.normalize = normalize
        self.target_forms = target_forms
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.max_bins = max_bins
        self.l2_regularization = l2_regularization
        self.subsample = subsample
        self.colsample = colsample
        self.n_models = n_models
        self.weight_by_level = weight_by_level
        self.dropna = dropna
        self.train_window = train_window
        self.max_train_rows = max_train_rows
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- features ---------------------------------------------------------------------------
    def feature_spec(self) -> FeatureSpec:
        """Return the feature spec for this forecaster's lead."""
        target = self.target_column
        if self.features is None:
            return default_gbm_features(self.lead, target)
        spec = self.features.with_lead(self.lead)
        return FeatureSpec(spec.builders, lead=spec.lead, target=target)

    def _level_columns(self) -> tuple[str, str]:
        """Return the level features of the target and of the other series (the scales)."""
        lag, target = self.lead, self.target_column
        return (
            Rolling(target, windows=(_LEVEL_WINDOW,)).names(lag)[0],
            Rolling(_other(target), windows=(_LEVEL_WINDOW,)).names(lag)[0],
        )

    def _design(
        self,
        X: pd.DataFrame,
        names: list[str],
        units: dict[str, str | None],
    ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        """Model matrix and per-row target scale (ones without normalisation)."""
        self._check_columns(X, names)
        mat = np.empty((len(X), len(names) + (1 if self.normalize else 0)), dtype=np.float32)
        scale = np.ones(len(X))
        if not self.normalize:
            for i, n in enumerate(names):
                mat[:, i] = X[n].to_numpy(dtype=np.float32)
            return mat, scale
        target, other = self.target_column, _other(self.target_column)
        level, other_level = self._level_columns()
        scale = X[level].to_numpy(dtype=np.float64)
        fallback = last_value_column(target, self.lead)
        if fallback in X.columns:
            scale = np.where(np.isnan(scale), X[fallback].to_numpy(dtype=np.float64), scale)
        scale = np.maximum(scale, _FLOORS[target])
        occ = X[other_level].to_numpy(dtype=np.float64) if other_level in X.columns else None
        occ_scale = np.ones(len(X)) if occ is None else np.maximum(occ, _FLOORS[other])
        for i, n in enumerate(names):
            col = X[n].to_numpy(dtype=np.float64)
            if units.get(n) == target:
                col = col / scale
            elif units.get(n) == other:
                col = col / occ_scale
            mat[:, i] = col
        mat[:, -1] = np.log(scale)
        return mat, scale

    def _check_params(self) -> None:
        owner = type(self).__name__
        for name, low in (("max_iter", 1), ("max_leaf_nodes", 2), ("min_samples_leaf", 1)):
            check_int(owner, name, getattr(self, name), low)
        for name in ("max_train_rows", "train_window"):
            check_int(owner, name, getattr(self, name), 1, optional=True)
        check_int(owner, "max_bins", self.max_bins, 2, 255)
        check_int(owner, "n_models", self.n_models, 1)
        for name, strict in (("learning_rate", True), ("l2_regularization", False)):
            value = getattr(self, name)
            ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
            if not ok or not np.isfinite(value) or value < 0 or (strict and value == 0):
                bound = "> 0" if strict else ">= 0"
                raise ConfigurationError(f"{owner}: {name} must be a number {bound}, got {value!r}")
        jobs = self.n_jobs
        if jobs is not None and (
            isinstance(jobs, bool) or not isinstance(jobs, int | np.integer) or jobs == 0
        ):
            raise ConfigurationError(
                f"{owner}: n_jobs must be None, a positive integer or -1 (all cores), got {jobs!r}"
            )
        for name in ("subsample", "colsample"):
            value = getattr(self, name)
            ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
            if not ok or not 0.0 < float(value) <= 1.0:
                raise ConfigurationError(f"{owner}: {name} must be in (0, 1], got {value!r}")
        if self.weight_by_level and not self.normalize:
            raise ConfigurationError(
                f"{owner}: weight_by_level=True weights rows by the arc level, which needs "
                "normalize=True"
            )
        if self.backend not in ("auto", "sklearn", "lightgbm"):
            raise ConfigurationError(
                f"{owner}: backend must be 'auto', 'sklearn' or 'lightgbm', got {self.backend!r}"
            )
        self._target_forms(self.feature_spec().feature_names())

    def _last_column(self, names: list[str]) -> str | None:
        """Name the feature giving each row's last observed target (the change forms' anchor)."""
        target = self.target_column
        for name in (last_value_column(target, self.lead), lag_column(target, self.lead)):
            if name in names:
                return name
        return None

    def _target_forms(self, names: list[str]) -> tuple[str, ...]:
        """Return the validated target forms, in order, for the feature ``names``."""
        raw = self.target_forms
        if isinstance(raw, str) and raw == "auto":
            if self._last_column(names):
                return ("log", "log_change", "change")
            return ("log", "ratio")
        forms = (raw,) if isinstance(raw, str) else tuple(raw)
        unknown = [f for f in forms if f not in _TARGET_FORMS]
        if not forms or unknown or len(set(forms)) != len(forms):
            raise ConfigurationError(
                f"{type(self).__name__}: target_forms must be one or more distinct forms "
                f"among {list(_TARGET_FORMS)}, got {raw!r}"
            )
        return forms

    def _anchor(
        self, X: pd.DataFrame, names: list[str], scale: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Return each row's last observed target (the level, or 0 without it, when unknown)."""
        last = self._last_column(names)
        if last is None:  # no change form (checked at fit)
            return np.full(len(X), np.nan)
        anchor = X[last].to_numpy(dtype=np.float64)
        return np.where(np.isnan(anchor), scale if self.normalize else 0.0, anchor)

    def _training_rows(self, X: pd.DataFrame, names: list[str]) -> NDArray[np.intp]:
        """Positions of the rows to learn from, sorted.

        A row is learned from when its ``y`` is known, it lies in ``train_window``, its arc
        level is known (``normalize``) and, with ``dropna``, every feature ``names`` is known;
        beyond ``max_train_rows`` a sample seeded by ``random_state`` is kept.
        """
        keep = X["y"].notna().to_numpy().copy()  # writable under pandas copy-on-write
        if self.train_window is not None and keep.any():
            newest = X.loc[keep, "time"].max()
            start = newest - pd.Timedelta(hours=int(self.train_window))
            keep &= (X["time"] > start).to_numpy()
        if self.normalize:
            keep &= X[self._level_columns()[0]].notna().to_numpy()
        if self.dropna:
            keep &= _complete(X, names)
        rows = np.flatnonzero(keep)
        if self.max_train_rows is not None and len(rows) > int(self.max_train_rows):
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(rows, size=int(self.max_train_rows), replace=False))
        return rows

    def _predictable(self, X: pd.DataFrame, names: list[str]) -> NDArray[np.bool_]:
        """Rows that get a prediction: arc level (or last value) known, complete with ``dropna``."""
        ok = np.ones(len(X), dtype=bool)
        if self.normalize:
            level = X[self._level_columns()[0]].to_numpy(dtype=np.float64)
            last = X.get(last_value_column(self.target_column, self.lead))
            ok = ~np.isnan(level)
            if last is not None:
                ok |= ~np.isnan(last.to_numpy(dtype=np.float64))
        if getattr(self, "dropna", False):  # a model saved before dropna existed: False
            ok &= _complete(X, names)
        return ok

    def _serves(self, **params: Any) -> bool:
        """Say whether the ``features``, with ``params`` changed, still fit (defaults do)."""
        if self.features is None:
            return True
        try:
            other = clone(self).set_params(**params)
            spec = other.feature_spec()
            other._check_level_features(spec.feature_names())
            spec.build(empty_panel())  # refuses a lag below the lead
        except ConfigurationError:  # the features cannot serve these parameters: not in the tags
            return False
        return True

    def _horizons(self) -> tuple[int, ...] | None:
        """Return the horizons of the next day the ``features`` allow (None: any, the defaults)."""
        if self.features is None:
            return None
        return tuple(h for h in range(1, 25) if self._serves(horizon=h))

    def _check_level_features(self, names: list[str]) -> None:
        if self.normalize and self._level_columns()[0] not in names:
            raise ConfigurationError(
                f"normalize=True needs the feature {self._level_columns()[0]!r} "
                f"(Rolling({self.target_column!r}, windows=({_LEVEL_WINDOW},))); add it or set "
                "normalize=False"
            )
        changes = [f for f in self._target_forms(names) if f in ("change", "log_change")]
        if changes and self._last_column(names) is None:
            raise ConfigurationError(
                f"target_forms {changes} need the last {self.target_column} among the features: "
                f"{last_value_column(self.target_column, self.lead)!r} (LastValue) or "
                f"{lag_column(self.target_column, self.lead)!r} (Lags); add one or use the forms "
                "'ratio' and 'log'"
            )

    # -- learning ---------------------------------------------------------------------------
    def _threads(self, backend: str) -> AbstractContextManager[Any]:
        """Limit OpenMP threads for scikit-learn (LightGBM takes ``n_jobs`` as a parameter)."""
        if backend == "lightgbm":
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_jobs, user_api="openmp")  # type: ignore[no-any-return]

    def _lightgbm_params(self, seed: int) -> dict[str, Any]:
        """LightGBM parameters (native names), as ``LGBMRegressor`` would pass them."""
        return {
            "objective": "l1",
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.max_leaf_nodes),
            "min_child_samples": int(self.min_samples_leaf),
            "max_bin": int(self.max_bins),
            "reg_lambda": float(self.l2_regularization),
            "subsample": float(self.subsample),
            "subsample_freq": 1 if float(self.subsample) < 1.0 else 0,
            "colsample_bytree": float(self.colsample),
            "seed": seed,
            "num_threads": self.n_jobs if self.n_jobs is not None else -1,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }

    def _fit_boosters(
        self,
        backend: str,
        mat: NDArray[np.float32],
        labels: list[NDArray[np.float64]],
        weight: NDArray[np.float64] | None,
    ) -> list[Any]:
        """Fit one booster per label, each with its own seed; LightGBM bins ``mat`` once."""
        seeds = [int(self.random_state) + i for i in range(len(labels))]
        if backend == "lightgbm":
            import lightgbm

            data = lightgbm.Dataset(
                mat, label=labels[0], weight=weight, params=self._lightgbm_params(seeds[0])
            )
            boosters = []
            for i, (label, seed) in enumerate(zip(labels, seeds, strict=True)):
                if i:
                    data.set_label(label)  # the binned features do not depend on the label
                params = self._lightgbm_params(seed)
                boosters.append(lightgbm.train(params, data, num_boost_round=int(self.max_iter)))
            return boosters
        from sklearn.ensemble import HistGradientBoostingRegressor

        models = []
        for label, seed in zip(labels, seeds, strict=True):
            model = HistGradientBoostingRegressor(
                loss="absolute_error",
                max_iter=int(self.max_iter),
                learning_rate=float(self.learning_rate),
                max_leaf_nodes=int(self.max_leaf_nodes),
                min_samples_leaf=int(self.min_samples_leaf),
                max_bins=int(self.max_bins),
                l2_regularization=float(self.l2_regularization),
                max_features=float(self.colsample),
                early_stopping=False,
                random_state=seed,
            )
            with self._threads(backend):
                model.fit(mat, label, sample_weight=weight)
            models.append(model)
        return models

    def fit_features(self, X: pd.DataFrame) -> Self:
        """Learn from rows of :meth:`build_features` output with a known ``y``.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature table rows (training targets).

        Returns
        -------
        self
        """
        spec = self.feature_spec()
        names = spec.feature_names()
        self._check_params()
        self._check_level_features(names)
        backend = _resolve_backend(self.backend)
        self._check_columns(X, ["time", "y", *names])
        rows = self._training_rows(X, names)
        if len(rows) == 0:
            hint = (
                "; dropna=True keeps only rows with every feature known: set dropna=False"
                if self.dropna
                else ""
            )
            raise ConfigurationError(
                f"GBMForecaster: no training row has both a {self.target_column} value and its "
                "features; give a longer "
                f"history (the level feature needs {_LEVEL_WINDOW} h before the first target)"
                + hint
            )
        sub = X.iloc[rows]
        mat, scale = self._design(sub, names, spec.units())
        y = sub["y"].to_numpy(dtype=np.float64)
        anchor = self._anchor(sub, names, scale)
        forms = self._target_forms(names)
        # n_models seeds of every form: booster k learns form k % len(forms), seed + k
        model_targets = list(forms) * int(self.n_models)
        labels = [_encode(form, y, scale, anchor) for form in model_targets]
        weight = scale if self.weight_by_level else None  # _check_params: normalized
        self.models_ = self._fit_boosters(backend, mat, labels, weight)
        self.model_targets_ = model_targets
        self.model_ = self.models_[0]
        self.backend_ = backend
        self.feature_names_ = names
        self.units_ = spec.units()
        self.n_train_rows_ = len(rows)
        return self

    def predict_features(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Predict rows of :meth:`build_features` output (NaN when the arc level is unknown).

        Parameters
        ----------
        X : pandas.DataFrame
            Feature table rows.

        Returns
        -------
        numpy.ndarray
            float64 predictions, clipped at 0.
        """
        self._check_fitted()
        out = np.full(len(X), np.nan)
        if len(X) == 0:
            return out
        mat, scale = self._design(X, self.feature_names_, self.units_)
        ok = self._predictable(X, self.feature_names_)
        if ok.any():
            anchor = self._anchor(X, self.feature_names_, scale)[ok]
            rows, scale = mat[ok], scale[ok]
            models = getattr(self, "models_", [self.model_])  # saved before n_models
            forms = getattr(self, "model_targets_", ["ratio"] * len(models))  # before forms
            with self._threads(self.backend_):
                pred = np.mean(
                    [
                        _decode(form, np.asarray(m.predict(rows), dtype=np.float64), scale, anchor)
                        for m, form in zip(models, forms, strict=True)
                    ],
                    axis=0,
                )
            out[ok] = np.clip(pred, 0.0, _CEILINGS[self.target_column])
        return out
