"""A global gradient-boosted forecaster on the feature builders.

One model serves every arc. To let arcs of very different sizes share it, the target and every
flow-valued feature are divided by the arc's recent level (its mean flow over the week ending at
``t - lead``; occupancy features by the occupancy level), and the model learns with an absolute
error loss on that relative scale. Predictions are multiplied back. Calendar features,
missing-value indicators and the (log) level itself are kept as they are.

With ``weight_by_level=True`` each row is weighted by its level, which makes the loss exactly
the MAE in vehicles/hour: busy arcs count more. It is about three times slower per boosting
round on LightGBM (a weighted median per leaf instead of a plain one), and on the real Paris
arcs it was not more accurate than the unweighted relative loss with more rounds, so it is off
by default. Uniform weights are never passed to the booster (they would only cost time).
"""

from __future__ import annotations

import contextlib
import importlib.util
from contextlib import AbstractContextManager
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from infotrafic.exceptions import ConfigurationError
from infotrafic.features import (
    Calendar,
    FeatureSpec,
    Lags,
    LastValue,
    MissingIndicator,
    ProfileDeviation,
    Rolling,
    SameHourOfWeek,
    SeasonalDiff,
    seasonal_lag,
)
from infotrafic.forecasters._base import BaseForecaster

__all__ = ["GBMForecaster", "default_gbm_features"]

_LEVEL_WINDOW = 168


def default_gbm_features(lead: int = 1) -> FeatureSpec:
    """Return the default feature set of :class:`GBMForecaster` for a lead.

    Recent flow and occupancy lags, the same hours one day and one and two weeks earlier (and
    the hours around them), daily and weekly seasonal differences, rolling means and spreads,
    the mean of the same hour over four weeks and the recent deviation from it, occupancy lags
    and levels, missing-value indicators and the calendar.

    Parameters
    ----------
    lead : int, default 1
        ``horizon + delay`` in hours.

    Returns
    -------
    FeatureSpec

    Examples
    --------
    >>> spec = default_gbm_features(1)
    >>> "flow_lag168" in spec.feature_names() and "occupancy_lag1" in spec.feature_names()
    True
    """
    day = seasonal_lag(24, lead)
    week = seasonal_lag(168, lead)
    seasonal = sorted({day, week - 1, week, week + 1, week + 168})
    seasonal = [k for k in seasonal if k >= lead]
    recent = [lead, lead + 1, lead + 2]
    flow_lags = tuple(sorted(set(recent) | set(seasonal)))
    builders = (
        Lags("flow", lags=flow_lags),
        LastValue("flow", max_age=168),
        SeasonalDiff("flow", season=168),
        SeasonalDiff("flow", season=24),
        Rolling("flow", windows=(3, 24), stats=("mean", "std")),
        Rolling("flow", windows=(_LEVEL_WINDOW,), stats=("mean",), min_periods=24),
        SameHourOfWeek("flow", weeks=(4,)),
        ProfileDeviation("flow", weeks=4, hours=(1, 3)),
        Lags("occupancy", lags=(lead, lead + 1, week)),
        Rolling("occupancy", windows=(24, _LEVEL_WINDOW), stats=("mean",), min_periods=12),
        MissingIndicator("flow"),
        Calendar(),
    )
    return FeatureSpec(builders, lead=lead)


def _complete(X: pd.DataFrame, names: list[str]) -> NDArray[np.bool_]:
    """Rows whose features ``names`` are all known (``dropna``)."""
    return X[names].notna().all(axis=1).to_numpy()


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
    max_iter : int, default 400
        Boosting rounds.
    learning_rate : float, default 0.1
        Shrinkage.
    max_leaf_nodes : int, default 63
        Leaves per tree.
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
        Average this many boosters that differ only in their seed, hence in the row and
        feature sampling above (without sampling they would be identical). Each learns from
        every training row, so fitting and predicting cost ``n_models`` times as much; the
        average has less variance than one booster (see the benchmarks page for measured
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
        Seed (subsampling and the booster).
    n_jobs : int, optional, default 1
        Threads (OpenMP) for fitting and predicting; all cores when None. One thread is the
        default because the backtest engine parallelises over refits.
    horizon : int, default 1
        Hours ahead.
    delay : int, default 0
        Publication delay in hours.

    Examples
    --------
    >>> from infotrafic.forecasters import GBMForecaster
    >>> GBMForecaster(backend="sklearn", max_iter=50).feature_spec().lead
    1
    """

    def __init__(
        self,
        *,
        features: FeatureSpec | None = None,
        backend: Literal["auto", "sklearn", "lightgbm"] = "auto",
        normalize: bool = True,
        max_iter: int = 400,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 63,
        min_samples_leaf: int = 50,
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
    ) -> None:
        super().__init__(horizon=horizon, delay=delay)
        self.features = features
        self.backend = backend
        self.normalize = normalize
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
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
        if self.features is None:
            return default_gbm_features(self.lead)
        return self.features.with_lead(self.lead)

    def _level_columns(self) -> tuple[str, str]:
        lag = self.lead
        return (
            f"flow_rolling_mean_lag{lag}_window{_LEVEL_WINDOW}",
            f"occupancy_rolling_mean_lag{lag}_window{_LEVEL_WINDOW}",
        )

    def _design(
        self,
        X: pd.DataFrame,
        names: list[str],
        units: dict[str, str | None],
    ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        """Model matrix and per-row flow scale (ones without normalisation)."""
        self._check_columns(X, names)
        mat = np.empty((len(X), len(names) + (1 if self.normalize else 0)), dtype=np.float32)
        scale = np.ones(len(X))
        if not self.normalize:
            for i, n in enumerate(names):
                mat[:, i] = X[n].to_numpy(dtype=np.float32)
            return mat, scale
        flow_level, occ_level = self._level_columns()
        scale = X[flow_level].to_numpy(dtype=np.float64)
        fallback = f"flow_last_lag{self.lead}"
        if fallback in X.columns:
            scale = np.where(np.isnan(scale), X[fallback].to_numpy(dtype=np.float64), scale)
        scale = np.maximum(scale, 1.0)
        occ = X[occ_level].to_numpy(dtype=np.float64) if occ_level in X.columns else None
        occ_scale = np.ones(len(X)) if occ is None else np.maximum(occ, 0.1)
        for i, n in enumerate(names):
            col = X[n].to_numpy(dtype=np.float64)
            if units.get(n) == "flow":
                col = col / scale
            elif units.get(n) == "occupancy":
                col = col / occ_scale
            mat[:, i] = col
        mat[:, -1] = np.log(scale)
        return mat, scale

    def _check_params(self) -> None:
        for name in ("subsample", "colsample"):
            value = float(getattr(self, name))
            if not 0.0 < value <= 1.0:
                raise ConfigurationError(f"{name} must be in (0, 1], got {value!r}")
        n = self.n_models
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ConfigurationError(f"n_models must be an integer >= 1, got {n!r}")
        if self.weight_by_level and not self.normalize:
            raise ConfigurationError(
                "weight_by_level=True weights rows by the arc level, which needs normalize=True"
            )

    def _check_level_features(self, names: list[str]) -> None:
        if self.normalize and self._level_columns()[0] not in names:
            raise ConfigurationError(
                f"normalize=True needs the feature {self._level_columns()[0]!r} "
                f"(Rolling('flow', windows=({_LEVEL_WINDOW},))); add it or set normalize=False"
            )

    # -- learning ---------------------------------------------------------------------------
    def _threads(self, backend: str) -> AbstractContextManager[Any]:
        """Limit OpenMP threads for scikit-learn (LightGBM takes ``n_jobs`` as a parameter)."""
        if backend == "lightgbm":
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_jobs, user_api="openmp")  # type: ignore[no-any-return]

    def _new_model(self, backend: str, seed: int) -> Any:
        if backend == "lightgbm":
            import lightgbm

            return lightgbm.LGBMRegressor(
                objective="l1",
                n_estimators=int(self.max_iter),
                learning_rate=float(self.learning_rate),
                num_leaves=int(self.max_leaf_nodes),
                min_child_samples=int(self.min_samples_leaf),
                reg_lambda=float(self.l2_regularization),
                subsample=float(self.subsample),
                subsample_freq=1 if float(self.subsample) < 1.0 else 0,
                colsample_bytree=float(self.colsample),
                random_state=seed,
                n_jobs=self.n_jobs if self.n_jobs is not None else -1,
                deterministic=True,
                force_row_wise=True,
                verbosity=-1,
            )
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=int(self.max_iter),
            learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes),
            min_samples_leaf=int(self.min_samples_leaf),
            l2_regularization=float(self.l2_regularization),
            max_features=float(self.colsample),
            early_stopping=False,
            random_state=seed,
        )

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
        rng = np.random.default_rng(self.random_state)
        if self.max_train_rows is not None and len(rows) > int(self.max_train_rows):
            rows = np.sort(rng.choice(rows, size=int(self.max_train_rows), replace=False))
        if len(rows) == 0:
            hint = (
                "; dropna=True keeps only rows with every feature known: set dropna=False"
                if self.dropna
                else ""
            )
            raise ConfigurationError(
                "GBMForecaster: no training row has both a flow and its features; give a longer "
                f"history (the level feature needs {_LEVEL_WINDOW} h before the first target)"
                + hint
            )
        sub = X.iloc[rows]
        mat, scale = self._design(sub, names, spec.units())
        target = sub["y"].to_numpy(dtype=np.float64) / scale
        weight = scale if self.weight_by_level else None  # _check_params: normalized
        models = []
        for i in range(int(self.n_models)):
            model = self._new_model(backend, seed=int(self.random_state) + i)
            with self._threads(backend):
                model.fit(mat, target, sample_weight=weight)
            models.append(model)
        self.models_ = models
        self.model_ = models[0]
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
        ok = np.ones(len(X), dtype=bool)
        if self.normalize:
            level = X[self._level_columns()[0]].to_numpy(dtype=np.float64)
            last = X.get(f"flow_last_lag{self.lead}")
            ok = ~np.isnan(level)
            if last is not None:
                ok |= ~np.isnan(last.to_numpy(dtype=np.float64))
        if getattr(self, "dropna", False):  # a model saved before dropna existed: False
            ok &= _complete(X, self.feature_names_)
        if ok.any():
            rows = mat[ok]
            with self._threads(self.backend_):
                models = getattr(self, "models_", [self.model_])  # saved before n_models
                pred = np.mean(
                    [np.asarray(m.predict(rows), dtype=np.float64) for m in models], axis=0
                )
            out[ok] = np.maximum(pred * scale[ok], 0.0)
        return out
