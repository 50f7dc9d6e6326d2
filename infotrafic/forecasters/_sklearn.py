"""Any scikit-learn regressor as a global forecaster on the feature builders.

:class:`SklearnForecaster` learns one regressor over every arc, on the same feature table and the
same normalisation as the ``gbm`` forecaster (:func:`~infotrafic.forecasters.default_gbm_features`
by default; flows divided by the arc's level over the week ending at ``t - lead``, the log level
added as a feature, predictions scaled back and clipped to the target's range). The regressor is
given as an instance (cloned at every fit), a dotted import path or, by name,
``make_forecaster("sklearn:sklearn.linear_model.Ridge", alpha=1.0)``.

**Missing values.** The features have gaps (loop sensors go silent; lags before an arc's first
hour do not exist) and most scikit-learn regressors reject NaN. The ``missing`` policy says what
to do:

* ``"auto"`` (default): ``"passthrough"`` when the regressor declares that it accepts NaN (its
  scikit-learn tag ``input_tags.allow_nan``, e.g. ``HistGradientBoostingRegressor``), else
  ``"impute"``. A :class:`~sklearn.pipeline.Pipeline` declares ``allow_nan=False``, so it gets
  the imputer too (harmless when it imputes itself);
* ``"impute"``: the regressor is fitted behind a
  ``SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)``: each
  missing value is replaced by the training median of its feature, and a 0/1 indicator column is
  added for every feature that had gaps in training, so the model can still tell "missing" from
  "median";
* ``"passthrough"``: NaN are handed to the regressor as they are;
* ``"drop"``: learn from, and predict, only the rows whose features are all known (as Darts and
  mlforecast do); other rows get NaN predictions.

The regressor sees a float64 matrix (float32 leaves linear solvers ill-conditioned). Regressors
that need standardised inputs (SVR, k-nearest neighbours, SGD, neural networks) should be given
as a pipeline, e.g. ``make_pipeline(StandardScaler(), SVR())``: the features mix ratios near 1,
hours of the week (0-167) and ages in hours.

Whatever the policy, a row whose arc level is unknown (normalisation on, no flow over the last
week) is neither learned from nor predicted (NaN), as with ``gbm``.

The level normalisation reuses the ``gbm`` forecaster's private helpers (``_design``,
``_anchor``, ``_encode``/``_decode``) through a ``GBMForecaster`` twin with the same lead,
target and features, so both forecasters always see the same model matrix.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
from collections.abc import Mapping
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import clone, is_regressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from infotrafic.exceptions import ConfigurationError
from infotrafic.features import FeatureSpec, lag_column, last_value_column
from infotrafic.forecasters._base import BaseForecaster
from infotrafic.forecasters._gbm import (
    _CEILINGS,
    _TARGET_FORMS,
    GBMForecaster,
    TargetForm,
    _decode,
    _encode,
)

__all__ = ["MissingPolicy", "SklearnForecaster", "make_sklearn_forecaster", "resolve_regressor"]

MissingPolicy = Literal["auto", "impute", "passthrough", "drop"]
_MISSING: tuple[str, ...] = ("auto", "impute", "passthrough", "drop")
_EXAMPLE = "{prefix}:sklearn.linear_model.Ridge"


@functools.cache
def _regressors_by_name() -> dict[str, type]:
    """scikit-learn's regressor classes by class name (imports every submodule: ~2 s once)."""
    from sklearn.utils import all_estimators

    return dict(all_estimators(type_filter="regressor"))


def _public_path(cls: type) -> str:
    """Return the shortest importable dotted path of ``cls`` (``sklearn.linear_model.Ridge``)."""
    parts = cls.__module__.split(".")
    for n in range(1, len(parts) + 1):
        module = ".".join(parts[:n])
        try:
            if getattr(importlib.import_module(module), cls.__qualname__, None) is cls:
                return f"{module}.{cls.__qualname__}"
        except ImportError:  # pragma: no cover - a parent package that cannot import alone
            continue
    return f"{cls.__module__}.{cls.__qualname__}"


def _import(path: str, prefix: str = "sklearn") -> type:
    """Import the class named by a dotted path (or a bare scikit-learn regressor name)."""
    example = _EXAMPLE.format(prefix=prefix)
    if not path or not isinstance(path, str):
        raise ConfigurationError(
            f"a scikit-learn regressor must be named by its dotted import path, got {path!r}; "
            f"e.g. {example}"
        )
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        known = _regressors_by_name()
        if path in known:
            return known[path]
        close = difflib.get_close_matches(path, list(known), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigurationError(
            f"{prefix}:{path}: no scikit-learn regressor of that name{hint}; give the dotted "
            f"import path of a regressor class, e.g. {example}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"{prefix}:{path}: cannot import module {module_name!r} ({exc}); give the dotted "
            f"import path of an installed regressor class, e.g. {example}"
        ) from exc
    obj = getattr(module, attr, None)
    if obj is None:
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3)
        hint = f" (did you mean {', '.join(f'{module_name}.{c}' for c in close)}?)" if close else ""
        raise ConfigurationError(
            f"{prefix}:{path}: module {module_name!r} has no {attr!r}{hint}; give the dotted "
            f"import path of a regressor class, e.g. {example}"
        )
    if not isinstance(obj, type):
        raise ConfigurationError(
            f"{prefix}:{path}: is a {type(obj).__name__}, not a class; give the dotted import "
            f"path of a regressor class, e.g. {example}"
        )
    return obj


def _check_regressor(model: Any, name: str, prefix: str = "sklearn") -> None:
    """Raise unless ``model`` is a scikit-learn style regressor (by its tags)."""
    try:
        ok = bool(is_regressor(model))
    except Exception:  # objects without scikit-learn tags: not a regressor
        ok = False
    if not ok or not callable(getattr(model, "fit", None)):
        kind = "an estimator" if callable(getattr(model, "fit", None)) else "not an estimator"
        raise ConfigurationError(
            f"{name} is {kind} but not a scikit-learn regressor (its tags do not say "
            f"estimator_type='regressor'); give a regressor, e.g. {prefix}:sklearn.linear_model."
            f"Ridge or {prefix}:sklearn.ensemble.HistGradientBoostingRegressor"
        )


def resolve_regressor(
    path: str, params: Mapping[str, Any] | None = None, *, prefix: str = "sklearn"
) -> Any:
    """Build a regressor from its dotted import path and parameters.

    Parameters
    ----------
    path : str
        ``"sklearn.linear_model.Ridge"``, any importable ``"package.module.Class"`` following
        the scikit-learn estimator API (e.g. ``"lightgbm.LGBMRegressor"``), or the bare name of
        a scikit-learn regressor (``"Ridge"``; slower: it imports all of scikit-learn once).
    params : mapping, optional
        Keyword arguments of the regressor.
    prefix : str, default "sklearn"
        The registry prefix the regressor was named under (``"sklearn"``, ``"mlforecast"``),
        which error messages start with.

    Returns
    -------
    object
        A new, unfitted regressor.

    Raises
    ------
    ConfigurationError
        When the path does not import, names no class, a class that is not a regressor, or
        the class rejects ``params``.

    Examples
    --------
    >>> resolve_regressor("sklearn.linear_model.Ridge", {"alpha": 2.0})
    Ridge(alpha=2.0)
    >>> resolve_regressor("sklearn.preprocessing.StandardScaler")
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ConfigurationError: sklearn:sklearn.preprocessing.StandardScaler is ...
    >>> resolve_regressor("sklearn.linear_model.Rigde", prefix="mlforecast")
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ConfigurationError: mlforecast:sklearn.linear_model.Rigde: module ...
    """
    cls = _import(path, prefix)
    try:
        model = cls(**dict(params or {}))
    except TypeError as exc:
        raise ConfigurationError(
            f"{prefix}:{path}: {exc}; pass only parameters of {cls.__name__} (see its "
            "documentation)"
        ) from exc
    _check_regressor(model, f"{prefix}:{path}", prefix)
    return model


def _allows_nan(model: Any) -> bool:
    """Return the regressor's ``allow_nan`` tag (False when it has no tags)."""
    try:
        return bool(get_tags(model).input_tags.allow_nan)
    except Exception:  # no scikit-learn tags: assume NaN are rejected
        return False


def _seed(model: Any, seed: int) -> Any:
    """Give every ``random_state`` left at None (also inside pipelines) the forecaster's seed."""
    try:
        params = model.get_params(deep=True)
    except Exception:  # not a scikit-learn estimator: leave it alone
        return model
    unset = {
        k: seed
        for k, v in params.items()
        if (k == "random_state" or k.endswith("__random_state")) and v is None
    }
    if unset:
        model.set_params(**unset)
    return model


class SklearnForecaster(BaseForecaster):
    """Any scikit-learn regressor on lag, rolling and calendar features (global over arcs).

    Parameters
    ----------
    estimator : regressor, str or None, default None
        The regressor: an instance (cloned at every fit; its nested parameters are reachable
        with ``set_params(estimator__alpha=...)``), the dotted import path of its class
        (``"sklearn.linear_model.Ridge"``, ``"lightgbm.LGBMRegressor"``; see
        :func:`resolve_regressor`), or None for ``sklearn.linear_model.Ridge()``.
    estimator_params : dict, optional
        Parameters set on the regressor before each fit (``make_forecaster`` puts there every
        parameter that is not the forecaster's own).
    features : FeatureSpec, optional
        Feature set; by default :func:`~infotrafic.forecasters.default_gbm_features` for the
        lead. Its lead is replaced by this forecaster's.
    normalize : bool, default True
        Learn values relative to each arc's level over the last week, as ``gbm`` does: the
        target and the flow-valued features are divided by it (occupancy features by the
        occupancy level) and its log is appended as the last column of the model matrix.
    target_form : {"ratio", "change", "log", "log_change"}, default "ratio"
        The form in which ``y`` is learned (as ``gbm``'s ``target_forms``; with ``s`` the level
        and ``a`` the last observed value): ``y / s``, ``(y - a) / s``,
        ``log(1 + y) - log(1 + s)`` or ``log(1 + y) - log(1 + a)``. A squared-error regressor
        estimates the mean of that form.
    missing : {"auto", "impute", "passthrough", "drop"}, default "auto"
        Missing-value policy (see the module notes): ``"auto"`` imputes (median plus missing
        indicators) unless the regressor's tags say it accepts NaN.
    max_train_rows : int, optional, default 500_000
        Subsample (seeded) training rows beyond this count, to bound time and memory (the
        backtest engine and :func:`~infotrafic.forecasting.train` draw the same sample before
        building features).
    random_state : int, default 0
        Seed of the training-row subsample; also given to every ``random_state`` of the
        regressor left at None, so that fits are reproducible.
    n_jobs : int, optional, default 1
        Threads (OpenMP and BLAS, through ``threadpoolctl``) while fitting and predicting; all
        cores when None. One thread is the default, as for ``gbm``, because the backtest engine
        parallelises over refits and OpenMP threads contending for busy cores are very slow. A
        regressor's own ``n_jobs`` (processes of a random forest) is set through
        ``estimator_params``.
    horizon : int, default 1
        Hours ahead.
    delay : int, default 0
        Publication delay in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column to forecast (predictions of the occupancy are clipped to [0, 100]).

    Attributes
    ----------
    estimator_ : object
        The fitted regressor (a ``Pipeline`` ending with it when imputing).
    missing_ : str
        The policy applied: ``"impute"``, ``"passthrough"`` or ``"drop"``.
    feature_names_ : list of str
        The features, in the order of the model matrix (the log level comes last when
        ``normalize``).
    n_train_rows_ : int
        Rows learned from.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from infotrafic.datasets import load_sample
    >>> from infotrafic.forecasters import SklearnForecaster
    >>> panel = load_sample()
    >>> model = SklearnForecaster(Ridge(alpha=10.0)).fit(panel[panel.time < "2023-06-01"])
    >>> model.missing_, model.estimator_[-1]
    ('impute', Ridge(alpha=10.0, random_state=0))
    >>> targets = panel.loc[panel.time >= "2023-06-01", ["arc_id", "time"]].head(3)
    >>> model.predict(panel, targets).shape
    (3,)
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        estimator_params: dict[str, Any] | None = None,
        features: FeatureSpec | None = None,
        normalize: bool = True,
        target_form: TargetForm = "ratio",
        missing: MissingPolicy = "auto",
        max_train_rows: int | None = 500_000,
        random_state: int = 0,
        n_jobs: int | None = 1,
        horizon: int = 1,
        delay: int = 0,
        target: str = "flow",
    ) -> None:
        super().__init__(horizon=horizon, delay=delay, target=target)
        self.estimator = estimator
        self.estimator_params = estimator_params
        self.features = features
        self.normalize = normalize
        self.target_form = target_form
        self.missing = missing
        self.max_train_rows = max_train_rows
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        """Return the scikit-learn tags: NaN accepted (the ``missing`` policy handles them)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        with contextlib.suppress(Exception):  # an invalid regressor is reported by fit
            tags.non_deterministic = get_tags(self._regressor()).non_deterministic
        return tags

    # -- configuration ----------------------------------------------------------------------
    def _regressor(self) -> Any:
        """Return a new, unfitted regressor with ``estimator_params`` and the seed applied."""
        params = dict(self.estimator_params or {})
        if self.estimator is None:
            model = resolve_regressor("sklearn.linear_model.Ridge", params)
        elif isinstance(self.estimator, str):
            model = resolve_regressor(self.estimator, params)
        else:
            _check_regressor(self.estimator, f"estimator {self.estimator!r}")
            model = clone(self.estimator)
            try:
                model.set_params(**params)
            except ValueError as exc:
                raise ConfigurationError(f"estimator_params {params!r}: {exc}") from exc
        return _seed(model, int(self.random_state))

    def _policy(self, model: Any) -> str:
        if self.missing not in _MISSING:
            raise ConfigurationError(
                f"missing must be one of {list(_MISSING)}, got {self.missing!r}"
            )
        if self.missing == "auto":
            return "passthrough" if _allows_nan(model) else "impute"
        return str(self.missing)

    def _twin(self, *, dropna: bool = False) -> GBMForecaster:
        """Return a ``gbm`` twin holding the shared features, row selection and normalisation."""
        return GBMForecaster(
            features=self.features,
            normalize=self.normalize,
            target_forms=self.target_form,
            horizon=self.horizon,
            delay=self.delay,
            target=self.target,
            dropna=dropna,
            max_train_rows=self.max_train_rows,
            random_state=self.random_state,
        )

    def _form(self) -> str:
        if self.target_form not in _TARGET_FORMS:
            raise ConfigurationError(
                f"target_form must be one of {list(_TARGET_FORMS)}, got {self.target_form!r}"
            )
        return str(self.target_form)

    def feature_spec(self) -> FeatureSpec:
        """Return the feature spec for this forecaster's lead (``gbm``'s by default)."""
        return self._twin().feature_spec()

    def _serves(self, **params: Any) -> bool:
        """Say whether the ``features``, with ``params`` changed, still fit (as its twin)."""
        return self._twin()._serves(**params)

    def _horizons(self) -> tuple[int, ...] | None:
        """Return the horizons of the next day the ``features`` allow (as its twin)."""
        return self._twin()._horizons()

    def _check_features(self, twin: GBMForecaster, names: list[str], form: str) -> None:
        level = twin._level_columns()[0]
        if self.normalize and level not in names:
            raise ConfigurationError(
                f"normalize=True needs the feature {level!r} (Rolling({self.target_column!r}, "
                "windows=(168,))); add it or set normalize=False"
            )
        if form in ("change", "log_change") and twin._last_column(names) is None:
            raise ConfigurationError(
                f"target_form={form!r} needs the last {self.target_column} among the features "
                f"({last_value_column(self.target_column, self.lead)!r} or "
                f"{lag_column(self.target_column, self.lead)!r}); add one or use 'ratio' or 'log'"
            )

    # -- learning ---------------------------------------------------------------------------
    def fit_features(self, X: pd.DataFrame) -> Self:
        """Learn from rows of :meth:`build_features` output with a known ``y``.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature table rows (training targets).

        Returns
        -------
        self

        Raises
        ------
        ConfigurationError
            For an invalid regressor or option, or when no row can be learned from.
        """
        model = self._regressor()
        policy = self._policy(model)
        twin, form = self._twin(dropna=policy == "drop"), self._form()
        spec = twin.feature_spec()
        names, units = spec.feature_names(), spec.units()
        self._check_features(twin, names, form)
        self._check_columns(X, ["time", "y", *names])
        rows = twin._training_rows(X, names)
        if len(rows) == 0:
            hint = "; missing='drop' keeps only complete rows" if policy == "drop" else ""
            raise ConfigurationError(
                f"SklearnForecaster: no training row has both a {self.target_column} value and "
                "its features; give a longer history (the level feature needs 168 h before "
                f"the first target){hint}"
            )
        sub = X.iloc[rows]
        mat, scale = twin._design(sub, names, units)
        mat64 = mat.astype(np.float64)  # float32 leaves linear solvers ill-conditioned
        anchor = twin._anchor(sub, names, scale)
        label = _encode(form, sub["y"].to_numpy(dtype=np.float64), scale, anchor)
        if policy == "impute":
            imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
            model = Pipeline([("impute", imputer), ("model", model)])
        try:
            with threadpool_limits(limits=self.n_jobs):
                model.fit(mat64, label)
        except ValueError as exc:
            if "nan" in str(exc).lower() and policy == "passthrough":
                raise ConfigurationError(
                    f"{type(model).__name__} rejected missing feature values ({exc}); use "
                    "missing='impute' (or 'drop')"
                ) from exc
            raise
        self.estimator_ = model
        self.missing_ = policy
        self.target_form_ = form
        self.feature_names_ = names
        self.units_ = units
        self.n_train_rows_ = len(rows)
        return self

    def predict_features(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Predict rows of :meth:`build_features` output.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature table rows.

        Returns
        -------
        numpy.ndarray
            float64 predictions clipped to the target's range; NaN when the arc level is
            unknown (with ``normalize``) or, with ``missing="drop"``, a feature is missing.
        """
        self._check_fitted()
        out = np.full(len(X), np.nan)
        if len(X) == 0:
            return out
        twin = self._twin(dropna=self.missing_ == "drop")
        mat, scale = twin._design(X, self.feature_names_, self.units_)
        ok = twin._predictable(X, self.feature_names_)
        if ok.any():
            anchor = twin._anchor(X, self.feature_names_, scale)[ok]
            with threadpool_limits(limits=self.n_jobs):
                raw = np.asarray(
                    self.estimator_.predict(mat[ok].astype(np.float64)), dtype=np.float64
                ).reshape(-1)
            pred = _decode(self.target_form_, raw, scale[ok], anchor)
            out[ok] = np.clip(pred, 0.0, _CEILINGS[self.target_column])
        return out


def make_sklearn_forecaster(path: str, **params: Any) -> SklearnForecaster:
    """Build a :class:`SklearnForecaster` from a regressor's dotted path (``sklearn:`` names).

    The forecaster's own parameters (``horizon``, ``delay``, ``target``, ``features``,
    ``normalize``, ``target_form``, ``missing``, ``max_train_rows``, ``random_state``,
    ``n_jobs``) go to the
    forecaster; every other one goes to the regressor (also when both have it, set the
    regressor's through ``estimator_params={...}``). The regressor is built once here, so that
    a bad path or parameter fails at once.

    Parameters
    ----------
    path : str
        The part after ``sklearn:``: a dotted import path (see :func:`resolve_regressor`).
    **params
        Parameters of the forecaster and of the regressor.

    Returns
    -------
    SklearnForecaster
        With ``estimator`` the path (the public one for a bare scikit-learn name) and
        ``estimator_params`` the regressor's parameters.

    Raises
    ------
    ConfigurationError
        For a bad path or parameter.

    Examples
    --------
    >>> from infotrafic.forecasters import make_forecaster
    >>> make_forecaster("sklearn:sklearn.linear_model.Ridge", alpha=3.0, horizon=2)
    SklearnForecaster(estimator='sklearn.linear_model.Ridge', estimator_params={'alpha': 3.0},
                      horizon=2)
    >>> make_forecaster("sklearn:sklearn.linear_model.Rigde")
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ConfigurationError: sklearn:sklearn.linear_model.Rigde: module ...
    """
    if "estimator" in params:
        raise ConfigurationError(
            f"sklearn:{path}: the regressor is named by the path; pass its parameters directly "
            "or as estimator_params={...}, not estimator="
        )
    own = set(SklearnForecaster().get_params(deep=False)) - {"estimator", "estimator_params"}
    mine = {k: v for k, v in params.items() if k in own}
    theirs = {k: v for k, v in params.items() if k not in own and k != "estimator_params"}
    explicit = params.get("estimator_params") or {}
    if not isinstance(explicit, Mapping):
        raise ConfigurationError(
            f"sklearn:{path}: estimator_params must be a dict, got {explicit!r}"
        )
    estimator_params = {**dict(explicit), **theirs}
    cls = type(resolve_regressor(path, estimator_params))
    public = path if "." in path else _public_path(cls)
    return SklearnForecaster(estimator=public, estimator_params=estimator_params or None, **mine)
