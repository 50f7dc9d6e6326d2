"""Adapters running Nixtla's mlforecast and statsforecast models as infotrafic forecasters.

Both packages are optional (``pip install 'infotrafic[nixtla]'``) and imported on first use;
the registry names are ``mlforecast:<dotted.Regressor>`` and ``statsforecast:<Model>``. The
panel reaches them through :func:`infotrafic.interop.to_nixtla` (``unique_id``, ``ds`` naive
UTC at the end of the hour, ``y``), on each arc's regular hourly grid.

**Missing values.** Nixtla's tools count rows, not hours, and reject a missing ``y``, so each
arc's grid is filled *causally* with :func:`~infotrafic.forecasters._fill.seasonal_fill`
(same hour of the previous week, else the last observed value): a filled value only uses
earlier observations, so a history cut at an issue time never reads later data. Only observed
hours are training targets; hours before an arc's first observation are dropped.

**mlforecast: one fit, one batched prediction, direct at the lead.** The forecaster is
configured for one lead ``L = horizon + delay``: every lag it uses is at least ``L`` hours old
(mlforecast's ``lags`` and ``lag_transforms`` keys counted from the target hour, all ``>= L``).
One regressor is trained once by mlforecast's ``preprocess`` + ``fit_models`` on the training
panel; prediction builds the same features for every target row in one ``preprocess`` call over
the history (target hours appended) and calls the fitted regressor once. This is mlforecast's
*direct* strategy for the single step ``L`` (what ``max_horizon=L`` would train as its last
model) rather than its recursive mode: the recursive mode would feed ``L - 1`` predictions back
as lags (errors compound) and, like ``max_horizon``, only forecasts from the end of a series,
i.e. one ``predict(new_df=...)`` call per issue time.

**statsforecast: fit once per arc, then ``forward``.** A local model is fitted once per arc on
the training panel (its parameters estimated there); each target is then predicted with the
fitted model's ``forward(y, h=L)`` -- the same parameters applied to the history up to the
target's issue time, without re-estimation. Only models that implement ``forward`` are accepted
(AutoARIMA, ARIMA, AutoETS, AutoCES, AutoTheta, Naive, SeasonalNaive, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from infotrafic._schema import validate_panel
from infotrafic.exceptions import ConfigurationError, DataValidationError, NotFittedError
from infotrafic.features import CALENDAR_FIELDS, TARGETS, calendar_frame
from infotrafic.forecasters._base import (
    Forecaster,
    LeadMixin,
    check_lead,
    check_targets,
    register_forecaster,
)
from infotrafic.forecasters._fill import SEASON_HOURS, seasonal_fill
from infotrafic.forecasters._sklearn import _allows_nan, _seed, resolve_regressor
from infotrafic.forecasters._tags import ForecasterTags
from infotrafic.interop import _arc_grids, _naive_utc, to_nixtla

__all__ = [
    "MLForecastForecaster",
    "StatsForecastForecaster",
    "make_mlforecast_forecaster",
    "make_statsforecast_forecaster",
]

_HOUR = pd.Timedelta(hours=1)
_EXTRA = "nixtla"
_DEFAULT_REGRESSOR = "lightgbm.LGBMRegressor"
_DEFAULT_REGRESSOR_PARAMS: dict[str, Any] = {"n_estimators": 200}


def _import(package: str) -> Any:
    """Import a Nixtla package, naming the extra to install when it is absent."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise ConfigurationError(
            f"{package}: models need the {package} package ({exc}); install it with "
            f"pip install 'infotrafic[{_EXTRA}]'"
        ) from exc


def _filled_frame(panel: pd.DataFrame, target: str) -> pd.DataFrame:
    """Nixtla frame on every arc's hourly grid, ``y`` filled causally, plus ``observed``."""
    df = to_nixtla(panel, target=target, fill_gaps=True)
    observed = np.isfinite(df["y"].to_numpy())
    y = df["y"].to_numpy(dtype="float64").copy()
    ids = df["unique_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(df)], strict=True):
        y[a:b] = seasonal_fill(y[a:b], SEASON_HOURS)
    df["y"] = y
    df["observed"] = observed
    kept: pd.DataFrame = df.loc[np.isfinite(y)].reset_index(drop=True)
    return kept


# ====================================================================== mlforecast
def default_lags(lead: int) -> list[int]:
    """Lags of :class:`MLForecastForecaster` by default: the last 3 usable hours, a day, a week.

    Parameters
    ----------
    lead : int
        ``horizon + delay``; every lag is at least this old.

    Returns
    -------
    list of int
        Sorted mlforecast lags counted from the target hour.

    Examples
    --------
    >>> default_lags(1), default_lags(30)
    ([1, 2, 3, 24, 168], [30, 31, 32, 48, 168])
    """
    day = -(-lead // 24) * 24
    week = -(-lead // SEASON_HOURS) * SEASON_HOURS
    return sorted({lead, lead + 1, lead + 2, day, week})


def default_lag_transforms(lead: int) -> dict[int, list[Any]]:
    """Return the default rolling means of :class:`MLForecastForecaster` (lag transforms).

    A 24-hour mean of the newest usable hours, the mean of the same hour over the last 7 days
    and over the last 4 weeks.

    Parameters
    ----------
    lead : int
        ``horizon + delay``; each transform starts from a lag at least this old.

    Returns
    -------
    dict of int to list
        ``lag_transforms`` for :class:`mlforecast.MLForecast`.
    """
    lt = _import("mlforecast.lag_transforms")
    day = -(-lead // 24) * 24
    week = -(-lead // SEASON_HOURS) * SEASON_HOURS
    out: dict[int, list[Any]] = {lead: [lt.RollingMean(window_size=24)]}
    out.setdefault(day, []).append(lt.SeasonalRollingMean(season_length=24, window_size=7))
    out.setdefault(week, []).append(
        lt.SeasonalRollingMean(season_length=SEASON_HOURS, window_size=4)
    )
    return out


class MLForecastForecaster(LeadMixin, BaseEstimator):  # type: ignore[misc]
    """A regressor trained by mlforecast on lags at least ``horizon + delay`` hours old.

    Parameters
    ----------
    model : str, regressor or None, default None
        The regressor: its dotted import path (``"lightgbm.LGBMRegressor"``,
        ``"sklearn.linear_model.Ridge"``; see
        :func:`~infotrafic.forecasters._sklearn.resolve_regressor`), an instance (copied at
        every fit) or None for ``lightgbm.LGBMRegressor(n_estimators=200)``. A LightGBM
        regressor named by its path gets ``verbose=-1`` unless ``model_params`` sets it.
    model_params : dict, optional
        Parameters of the regressor (with a path or None).
    lags : sequence of int, optional
        mlforecast lags counted from the target hour, each ``>= horizon + delay``; by default
        :func:`default_lags` of the lead.
    lag_transforms : dict, optional
        mlforecast ``lag_transforms`` (``{lag: [RollingMean(24), ...]}``), keys ``>= horizon +
        delay``; by default :func:`default_lag_transforms` of the lead. ``{}`` for none.
    date_features : sequence, optional
        mlforecast ``date_features`` (pandas attributes of the naive UTC ``ds``, or functions).
    calendar : sequence of str, default ("hour_of_week", "day_off")
        infotrafic calendar fields (:data:`~infotrafic.features.CALENDAR_FIELDS`: Paris local
        time, holidays) added as dynamic exogenous features.
    horizon : int, default 1
        Hours ahead of the newest usable value.
    delay : int, default 0
        Publication delay in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column forecast.
    random_state : int, default 0
        Given to every ``random_state`` of the regressor left at None.

    Attributes
    ----------
    mlf_ : mlforecast.MLForecast
        The fitted mlforecast object (``mlf_.models_`` holds the regressor).
    features_ : list of str
        The model matrix's columns.
    allows_nan_ : bool
        Whether the regressor accepts NaN features (else such rows are neither learned from nor
        predicted).
    n_train_rows_ : int
        Rows learned from.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample
    >>> panel = load_sample()
    >>> f = MLForecastForecaster(model="sklearn.linear_model.Ridge", horizon=2)
    >>> f = f.fit(panel[panel.time < "2023-06-01"])
    >>> f.features_[:3]
    ['hour_of_week', 'day_off', 'lag2']
    >>> targets = panel.loc[panel.time >= "2023-06-01", ["arc_id", "time"]].head(3)
    >>> f.predict(panel, targets).shape
    (3,)
    """

    def __init__(
        self,
        *,
        model: Any = None,
        model_params: Mapping[str, Any] | None = None,
        lags: Sequence[int] | None = None,
        lag_transforms: Mapping[int, Sequence[Any]] | None = None,
        date_features: Sequence[str | Callable[..., Any]] | None = None,
        calendar: Sequence[str] = ("hour_of_week", "day_off"),
        horizon: int = 1,
        delay: int = 0,
        target: str = "flow",
        random_state: int = 0,
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.lags = lags
        self.lag_transforms = lag_transforms
        self.date_features = date_features
        self.calendar = calendar
        self.horizon = horizon
        self.delay = delay
        self.target = target
        self.random_state = random_state

    def _regressor(self) -> Any:
        from sklearn.base import clone

        params = dict(self.model_params or {})
        if self.model is None:
            model = resolve_regressor(
                _DEFAULT_REGRESSOR, {**_DEFAULT_REGRESSOR_PARAMS, **params}, prefix="mlforecast"
            )
        elif isinstance(self.model, str):
            model = resolve_regressor(self.model, params, prefix="mlforecast")
        else:
            model = clone(self.model)
            if params:
                model.set_params(**params)
        named = self.model is None or isinstance(self.model, str)
        if named and type(model).__module__.startswith("lightgbm") and "verbose" not in params:
            # LightGBM prints its training log to stdout unless told otherwise
            model.set_params(verbose=-1)
        return _seed(model, self.random_state)

    def _engine(self, model: Any) -> Any:
        """Build a new ``MLForecast`` with this forecaster's features, checked against the lead."""
        mlforecast = _import("mlforecast")
        lead = self.lead
        lags = default_lags(lead) if self.lags is None else [int(k) for k in self.lags]
        transforms = (
            default_lag_transforms(lead)
            if self.lag_transforms is None
            else {int(k): list(v) for k, v in self.lag_transforms.items()}
        )
        early = sorted(k for k in [*lags, *transforms] if k < lead)
        if early:
            raise ConfigurationError(
                f"mlforecast: lag(s) {early} are newer than horizon + delay = {lead} hours; "
                "the data would not be known at the issue time"
            )
        bad = [c for c in self.calendar if c not in CALENDAR_FIELDS]
        if bad:
            raise ConfigurationError(
                f"mlforecast: unknown calendar field(s) {bad}; choose from {list(CALENDAR_FIELDS)}"
            )
        if self.target not in ("flow", "occupancy"):
            raise ConfigurationError(
                f"mlforecast: target must be 'flow' or 'occupancy', got {self.target!r}"
            )
        return mlforecast.MLForecast(
            models={"model": model},
            freq="h",
            lags=lags or None,
            lag_transforms=transforms or None,
            date_features=list(self.date_features) if self.date_features else None,
            num_threads=1,
        )

    def _features(self, engine: Any, df: pd.DataFrame) -> pd.DataFrame:
        """Build mlforecast's feature table of ``df`` (calendar columns added), row for row."""
        times = pd.DatetimeIndex(df["ds"]).tz_localize("UTC")
        cal = calendar_frame(times)[list(self.calendar)].to_numpy(dtype="float64")
        frame = df[["unique_id", "ds", "y"]].copy()
        for j, name in enumerate(self.calendar):
            frame[name] = cal[:, j]
        try:
            X = engine.preprocess(frame, static_features=[], dropna=False)
        except ValueError as exc:
            raise ConfigurationError(f"mlforecast could not build features: {exc}") from exc
        return cast(pd.DataFrame, X)

    def __infotrafic_tags__(self) -> ForecasterTags:
        """Capabilities: a global model learning at each refit; flow or occupancy."""
        return ForecasterTags(targets=tuple(TARGETS))

    def fit(self, panel: pd.DataFrame) -> MLForecastForecaster:
        """Train the regressor once on every observed hour of the panel.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel.

        Returns
        -------
        MLForecastForecaster
            ``self``, fitted.

        Raises
        ------
        DataValidationError
            When no row has all its features (for a regressor rejecting NaN) or a target.
        ConfigurationError
            For a lag newer than the lead, an unknown calendar field or regressor.
        """
        model = self._regressor()
        engine = self._engine(model)
        df = _filled_frame(validate_panel(panel), self.target)
        X = self._features(engine, df)
        features = [c for c in X.columns if c not in ("unique_id", "ds", "y")]
        allows_nan = _allows_nan(model)
        keep = df["observed"].to_numpy(dtype=bool, copy=True)  # writable under copy-on-write
        if not allows_nan:
            keep &= np.isfinite(X[features].to_numpy(dtype="float64")).all(axis=1)
        if not keep.any():
            raise DataValidationError(
                "mlforecast: no observed hour has all its features (history too short for the "
                f"lags {engine.ts.lags} and lag transforms)",
                field=self.target,
            )
        engine.fit_models(X.loc[keep, features], X.loc[keep, "y"].to_numpy(dtype="float64"))
        self.mlf_ = engine
        self.features_ = features
        self.allows_nan_ = allows_nan
        self.n_train_rows_ = int(keep.sum())
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> NDArray[np.float64]:
        """Predict every target from the history up to ``time - horizon - delay``, in one batch.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel of history.
        targets : pandas.DataFrame
            Rows with ``arc_id`` and ``time`` (tz-aware).

        Returns
        -------
        numpy.ndarray
            float64 predictions aligned with ``targets``; NaN where the arc has no history (or,
            for a regressor rejecting NaN, where a feature is missing).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        if not hasattr(self, "mlf_"):
            raise NotFittedError("MLForecastForecaster is not fitted yet; call fit(panel) first")
        check_targets(targets)
        out = np.full(len(targets), np.nan)
        if len(targets) == 0:
            return out
        panel = validate_panel(panel)
        cols = ["arc_id", "time", "flow", "occupancy"]  # a panel needs flow, even for occupancy
        extra = targets[["arc_id", "time"]].drop_duplicates()
        known = pd.MultiIndex.from_frame(panel[["arc_id", "time"]])
        extra = extra[~pd.MultiIndex.from_frame(extra).isin(known)].assign(
            flow=np.nan, occupancy=np.nan
        )
        df = _filled_frame(pd.concat([panel[cols], extra], ignore_index=True), self.target)
        X = self._features(self._engine(self.mlf_.models["model"]), df)
        values = X[self.features_].to_numpy(dtype="float64")
        ok = np.isfinite(values).all(axis=1) if not self.allows_nan_ else np.ones(len(X), bool)
        lag_cols = [c for c in self.features_ if c.startswith("lag")]
        if lag_cols:  # no usable history at all: no forecast
            ok &= np.isfinite(X[lag_cols].to_numpy(dtype="float64")).any(axis=1)
        key = pd.MultiIndex.from_arrays([X["unique_id"], X["ds"]])
        want = pd.MultiIndex.from_arrays(
            [targets["arc_id"].to_numpy(dtype="int64"), _naive_utc(targets["time"])]
        )
        pos = key.get_indexer(want)
        rows = np.flatnonzero(pos >= 0)
        rows = rows[ok[pos[rows]]]
        if len(rows):
            model = self.mlf_.models_["model"]
            out[rows] = model.predict(X.iloc[pos[rows]][self.features_])
        return out


def make_mlforecast_forecaster(name: str, **params: Any) -> MLForecastForecaster:
    """Build a :class:`MLForecastForecaster` from ``mlforecast:<dotted.Regressor>``.

    Keyword arguments of the adapter (``horizon``, ``delay``, ``target``, ``lags``,
    ``lag_transforms``, ``date_features``, ``calendar``, ``random_state``) configure it; any
    other keyword goes to the regressor.

    Parameters
    ----------
    name : str
        ``"mlforecast:lightgbm.LGBMRegressor"`` or just the dotted path; empty for the default.
    **params
        Adapter and regressor parameters.

    Returns
    -------
    MLForecastForecaster
        The unfitted adapter.

    Raises
    ------
    ConfigurationError
        When mlforecast is not installed or the regressor cannot be built.

    Examples
    --------
    >>> f = make_mlforecast_forecaster("mlforecast:sklearn.linear_model.Ridge", alpha=2.0)
    >>> f.model, f.model_params
    ('sklearn.linear_model.Ridge', {'alpha': 2.0})
    """
    _import("mlforecast")
    path = name.split(":", 1)[1] if name.startswith("mlforecast:") else name
    own_names = set(MLForecastForecaster().get_params()) - {"model", "model_params"}
    own = {k: params.pop(k) for k in list(params) if k in own_names}
    model_params = dict(params.pop("model_params", None) or {})
    model_params.update(params)
    forecaster = MLForecastForecaster(model=path or None, model_params=model_params or None, **own)
    forecaster._regressor()  # fail now on a bad path or parameter
    return forecaster


# ====================================================================== statsforecast
def _statsforecast_model(model: Any, params: Mapping[str, Any] | None) -> Any:
    """Build a new, unfitted statsforecast model (by class name or instance) with ``forward``."""
    models = _import("statsforecast.models")
    if isinstance(model, str):
        cls = getattr(models, model, None)
        if not (isinstance(cls, type) and hasattr(cls, "fit") and hasattr(cls, "forecast")):
            raise ConfigurationError(
                f"statsforecast:{model} is not a model class of statsforecast.models (e.g. "
                "SeasonalNaive, AutoETS, AutoARIMA, AutoTheta)"
            )
        try:
            instance = cls(**dict(params or {}))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"statsforecast:{model}({dict(params or {})}): {exc}") from exc
    else:
        if params:
            raise ConfigurationError("model_params is only used when model is a class name")
        if not hasattr(model, "new"):
            raise ConfigurationError(
                f"model must be a statsforecast model or a class name, got {type(model).__name__}"
            )
        instance = model.new()
    if not hasattr(instance, "forward"):
        name = type(instance).__name__
        raise ConfigurationError(
            f"statsforecast:{name} has no forward(): it cannot apply fitted parameters to new "
            "history without refitting; use a model that has one (SeasonalNaive, Naive, "
            "AutoETS, AutoARIMA, ARIMA, AutoCES, AutoTheta)"
        )
    return instance


class StatsForecastForecaster(LeadMixin, BaseEstimator):  # type: ignore[misc]
    """A statsforecast local model fitted once per arc, applied with ``forward`` at each issue time.

    Parameters
    ----------
    model : str or statsforecast model, default "SeasonalNaive"
        A class name of :mod:`statsforecast.models` (with ``model_params``) or an instance
        (copied with ``new()``); the model must implement ``forward``.
    model_params : dict, optional
        Parameters of the model class (``{"season_length": 168}``).
    horizon : int, default 1
        Hours ahead of the newest usable value.
    delay : int, default 0
        Publication delay in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column forecast.

    Attributes
    ----------
    models_ : dict of int to object
        The fitted model of each arc.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample
    >>> panel = load_sample()
    >>> f = StatsForecastForecaster(model="SeasonalNaive", model_params={"season_length": 168})
    >>> f = f.fit(panel[panel.time < "2023-06-01"])
    >>> sorted(f.models_)
    [191, 4264, 5672]
    >>> targets = panel.loc[panel.time >= "2023-06-01", ["arc_id", "time"]].head(2)
    >>> week_before = panel.set_index(["arc_id", "time"]).loc[
    ...     [(a, t - pd.Timedelta(hours=168)) for a, t in targets.itertuples(index=False)], "flow"]
    >>> bool((f.predict(panel, targets) == week_before.to_numpy()).all())
    True
    """

    def __init__(
        self,
        *,
        model: Any = "SeasonalNaive",
        model_params: Mapping[str, Any] | None = None,
        horizon: int = 1,
        delay: int = 0,
        target: str = "flow",
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.horizon = horizon
        self.delay = delay
        self.target = target

    def _wrap(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            name = self.model if isinstance(self.model, str) else type(self.model).__name__
            raise ConfigurationError(f"statsforecast:{name} could not {what}: {exc}") from exc

    def _filled(
        self, panel: pd.DataFrame, end: Mapping[int, pd.Timestamp] | None = None
    ) -> dict[int, tuple[pd.DatetimeIndex, NDArray[np.float64]]]:
        """Per arc: hourly grid and causally filled values, cut at its first observation."""
        out = {}
        for arc, (index, values) in _arc_grids(panel, self.target, end=end).items():
            filled = seasonal_fill(values, SEASON_HOURS)
            first = int(np.argmax(np.isfinite(filled)))
            if np.isfinite(filled[first]):
                out[arc] = (index[first:], filled[first:])
        return out

    def __infotrafic_tags__(self) -> ForecasterTags:
        """Capabilities: parameters estimated at each refit; flow or occupancy."""
        return ForecasterTags(targets=tuple(TARGETS))

    def fit(self, panel: pd.DataFrame) -> StatsForecastForecaster:
        """Fit one model per arc on its (causally filled) training history.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel.

        Returns
        -------
        StatsForecastForecaster
            ``self``, fitted.

        Raises
        ------
        DataValidationError
            When no arc has a history the model can be fitted on.
        ConfigurationError
            For an unknown model, a model without ``forward`` or bad parameters.
        """
        check_lead(type(self).__name__, self.horizon, self.delay)
        template = _statsforecast_model(self.model, self.model_params)
        models: dict[int, Any] = {}
        errors: list[str] = []
        for arc, (_, y) in self._filled(validate_panel(panel)).items():
            try:
                models[arc] = template.new().fit(y=y)
            except (ValueError, ZeroDivisionError) as exc:  # e.g. a series too short
                errors.append(f"arc {arc}: {exc}")
        if not models:
            raise DataValidationError(
                f"statsforecast: the model could not be fitted on any arc ({'; '.join(errors)})",
                field=self.target,
            )
        self.models_ = models
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> NDArray[np.float64]:
        """Predict each target with its arc's fitted model from the history up to its issue time.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel of history; rows after each target's issue time are never read.
        targets : pandas.DataFrame
            Rows with ``arc_id`` and ``time`` (tz-aware).

        Returns
        -------
        numpy.ndarray
            float64 predictions aligned with ``targets``; NaN for arcs without a fitted model or
            without history before the issue time.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError("StatsForecastForecaster is not fitted yet; call fit(panel) first")
        check_targets(targets)
        out = np.full(len(targets), np.nan)
        if len(targets) == 0:
            return out
        lead = self.lead
        t_arc = targets["arc_id"].to_numpy(dtype="int64")
        origins = _naive_utc(targets["time"]) - lead * _HOUR
        ends = {
            int(a): origins[t_arc == a].max().tz_localize("UTC")
            for a in np.unique(t_arc)
            if int(a) in self.models_
        }
        grids = self._filled(validate_panel(panel), end=ends)
        for row in range(len(targets)):
            arc = int(t_arc[row])
            if arc not in grids:
                continue
            index, y = grids[arc]
            stop = int((origins[row] - index[0]) // _HOUR) + 1
            if stop <= 0:
                continue
            fitted = self.models_[arc]
            mean = self._wrap("forecast", fitted.forward, y=y[:stop], h=lead)["mean"]
            out[row] = float(mean[-1])
        return out


def make_statsforecast_forecaster(name: str, **params: Any) -> StatsForecastForecaster:
    """Build a :class:`StatsForecastForecaster` from ``statsforecast:<Model>``.

    ``horizon``, ``delay`` and ``target`` configure the adapter; any other keyword goes to the
    model class.

    Parameters
    ----------
    name : str
        ``"statsforecast:AutoETS"`` or just ``"AutoETS"``.
    **params
        Adapter and model parameters.

    Returns
    -------
    StatsForecastForecaster
        The unfitted adapter.

    Raises
    ------
    ConfigurationError
        When statsforecast is not installed or the model is unknown or has no ``forward``.

    Examples
    --------
    >>> f = make_statsforecast_forecaster("statsforecast:SeasonalNaive", season_length=168)
    >>> f.model, f.model_params
    ('SeasonalNaive', {'season_length': 168})
    """
    cls_name = name.split(":", 1)[1] if ":" in name else name
    own = {k: params.pop(k) for k in ("horizon", "delay", "target") if k in params}
    model_params = dict(params.pop("model_params", None) or {})
    model_params.update(params)
    _statsforecast_model(cls_name, model_params)  # fail now on a bad name or parameter
    return StatsForecastForecaster(model=cls_name, model_params=model_params or None, **own)


register_forecaster(
    "mlforecast:",
    cast("Callable[..., Forecaster]", make_mlforecast_forecaster),
    overwrite=True,
)
register_forecaster(
    "statsforecast:",
    cast("Callable[..., Forecaster]", make_statsforecast_forecaster),
    overwrite=True,
)
