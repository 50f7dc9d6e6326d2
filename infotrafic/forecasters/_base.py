"""The forecaster contract: a ``Protocol``, a scikit-learn style base class and a registry.

Every forecaster is global (one model over many arcs), stores its keyword-only
hyper-parameters as is, learns state in attributes ending with ``_`` and offers two equivalent
paths:

* panel path: ``fit(panel)`` / ``predict(panel, targets)``;
* tabular fast path used by the backtest engine: ``build_features(panel)`` once, then
  ``fit_features(X)`` / ``predict_features(X)`` on row subsets of it.

``lead = horizon + delay``: a prediction for target hour ``t`` only uses data at ``t - lead`` or
earlier. Built-in forecasters get this guarantee from :mod:`infotrafic.features`, whose builders
cannot read newer values.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from infotrafic.exceptions import ConfigurationError, DataValidationError, NotFittedError
from infotrafic.features import TARGETS, FeatureSpec
from infotrafic.forecasters._protocols import Forecaster, TabularForecaster
from infotrafic.forecasters._tags import ForecasterTags, requires_refit

__all__ = [
    "BaseForecaster",
    "Forecaster",
    "TabularForecaster",
    "available_forecasters",
    "make_forecaster",
    "register_forecaster",
    "requires_refit",
]


def check_int(
    owner: str,
    name: str,
    value: Any,
    low: int,
    high: int | None = None,
    *,
    optional: bool = False,
    unit: str = "",
) -> None:
    """Check an integer hyper-parameter (booleans refused) against its bounds.

    Parameters
    ----------
    owner : str
        Who asks (a class name), for the error message.
    name : str
        The parameter.
    value : object
        Its value.
    low, high : int
        The smallest and, optionally, the largest accepted value.
    optional : bool, default False
        Accept None.
    unit : str, default ""
        What the integer counts (``"hours"``), for the message.

    Raises
    ------
    ConfigurationError
        Naming the parameter, its value and the bounds.

    Examples
    --------
    >>> check_int("GBMForecaster", "max_bins", 63, 2, 255)
    >>> check_int("GBMForecaster", "max_iter", 0, 1)
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ConfigurationError: GBMForecaster: max_iter must be an integer >= 1, got 0
    """
    if value is None and optional:
        return
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if whole and value >= low and (high is None or value <= high):
        return
    kind = "an integer" + (f" number of {unit}" if unit else "")
    bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
    none = "None or " if optional else ""
    raise ConfigurationError(f"{owner}: {name} must be {none}{kind} {bounds}, got {value!r}")


def check_lead(owner: str, horizon: Any, delay: Any) -> int:
    """Return ``horizon + delay`` after checking both are whole hours (horizon >= 1, delay >= 0).

    Parameters
    ----------
    owner : str
        Who asks (a class name), for the error message.
    horizon, delay : int
        The forecaster's parameters.

    Returns
    -------
    int

    Raises
    ------
    ConfigurationError
        Naming the parameter, its value and the bound.

    Examples
    --------
    >>> check_lead("GBMForecaster", 6, 1)
    7
    """
    check_int(owner, "horizon", horizon, 1, unit="hours")
    check_int(owner, "delay", delay, 0, unit="hours")
    return int(horizon) + int(delay)


class LeadMixin:
    """The validated ``lead`` (``horizon + delay``) of a forecaster with those parameters."""

    horizon: int
    delay: int

    @property
    def lead(self) -> int:
        """``horizon + delay`` in hours (validated)."""
        return check_lead(type(self).__name__, self.horizon, self.delay)


class BaseForecaster(LeadMixin, BaseEstimator):  # type: ignore[misc]
    """Base class of the built-in forecasters (scikit-learn estimator contract).

    Subclasses implement :meth:`feature_spec`, :meth:`fit_features` and
    :meth:`predict_features`; :meth:`fit` and :meth:`predict` are derived from them so the
    panel path and the tabular path always agree.

    Parameters
    ----------
    horizon : int, default 1
        Hours ahead of the newest usable value.
    delay : int, default 0
        Publication delay in hours (data of the last ``delay`` hours is not yet known).
    target : {"flow", "occupancy"}, default "flow"
        The panel column to forecast (the ``y`` of the feature table).
    """

    #: Whether fitting learns from the training rows (False: fitted once, see the tags).
    requires_refit: bool = True

    def __init__(self, *, horizon: int = 1, delay: int = 0, target: str = "flow") -> None:
        self.horizon = horizon
        self.delay = delay
        self.target = target

    def __infotrafic_tags__(self) -> ForecasterTags:
        """Return the capabilities the backtest engine and training read (:func:`get_tags`).

        Derived from the forecaster itself: the tabular fast path (building exactly the rows
        asked for), the feature spec's ``lookback`` and column count, the class attribute
        ``requires_refit``, the targets and horizons its parameters fit (:meth:`_serves`), and
        training-row sampling when the forecaster has an
        integer ``max_train_rows`` hyper-parameter (seeded by ``random_state``). A subclass
        overrides this method (``dataclasses.replace`` on the parent's tags) to declare more.

        Returns
        -------
        ForecasterTags

        Raises
        ------
        ConfigurationError
            When the hyper-parameters do not give a feature spec.
        """
        spec = self.feature_spec()
        target = self.target_column
        params = self.get_params(deep=False)
        max_rows = params.get("max_train_rows")
        seed = params.get("random_state")
        whole = isinstance(max_rows, int | np.integer) and not isinstance(max_rows, bool)
        return ForecasterTags(
            requires_refit=bool(self.requires_refit),
            tabular=True,
            accepts_targets=True,
            lookback=spec.lookback(),
            n_features=len(spec.feature_names()),
            max_train_rows=max(1, int(max_rows)) if whole else None,
            random_state=int(seed) if isinstance(seed, int | np.integer) and seed else 0,
            targets=tuple(t for t in TARGETS if t == target or self._serves(target=t)),
            horizons=self._horizons(),
        )

    def _serves(self, **params: Any) -> bool:
        """Say whether the hyper-parameters, with ``params`` changed, still make a model.

        The base class accepts any; a subclass whose features may not serve another target or
        horizon (a user's ``features``) checks them.
        """
        return True

    def _horizons(self) -> tuple[int, ...] | None:
        """Return the horizons of the next day it supports (None: any horizon)."""
        return None

    # -- features ---------------------------------------------------------------------------
    @property
    def target_column(self) -> str:
        """The validated ``target`` (a column of :data:`~infotrafic.features.TARGETS`)."""
        target = getattr(self, "target", "flow")  # forecasters saved before targets existed
        if target not in TARGETS:
            raise ConfigurationError(
                f"{type(self).__name__}: target must be one of {list(TARGETS)}, got {target!r}"
            )
        return str(target)

    def feature_spec(self) -> FeatureSpec:
        """Return the :class:`~infotrafic.features.FeatureSpec` this forecaster needs."""
        raise NotImplementedError

    # -- hyper-parameters -------------------------------------------------------------------
    def check_params(self) -> Self:
        """Check every hyper-parameter without data, as :meth:`fit` does first.

        A service calls it when a request arrives, so that a bad value is refused at once
        rather than when a job fits.

        Returns
        -------
        self

        Raises
        ------
        ConfigurationError
            Naming the parameter, its value and what is accepted.

        Examples
        --------
        >>> from infotrafic.forecasters import GBMForecaster
        >>> GBMForecaster(max_iter=-5).check_params()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        infotrafic.exceptions.ConfigurationError: GBMForecaster: max_iter must be an integer >= 1...
        """
        _ = self.lead, self.target_column
        self._check_params()
        self.feature_spec()
        return self

    def _check_params(self) -> None:
        """Check the subclass' own hyper-parameters (raise ``ConfigurationError``)."""

    def build_features(
        self, panel: pd.DataFrame, *, targets: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Build the feature table of ``panel`` (leakage-free by construction).

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel; never mutated.
        targets : pandas.DataFrame, optional
            Build exactly these ``arc_id``/``time`` rows (in order) instead of the panel's grid.

        Returns
        -------
        pandas.DataFrame
            ``arc_id``, ``time``, ``y`` and float32 feature columns.
        """
        return self.feature_spec().build(panel, targets=targets)

    # -- fitted state -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        fitted = [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]
        if not fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(panel) or "
                "fit_features(X) before predicting"
            )

    def _check_columns(self, X: pd.DataFrame, needed: list[str]) -> None:
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise DataValidationError(
                f"{type(self).__name__}: feature table lacks {missing}; build it with "
                "this forecaster's build_features(panel) (same horizon and delay)",
                field=missing[0],
            )

    # -- the tabular path -------------------------------------------------------------------
    def fit_features(self, X: pd.DataFrame) -> Self:
        """Learn from rows of :meth:`build_features` output (uses column ``y``)."""
        raise NotImplementedError

    def predict_features(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Predict rows of :meth:`build_features` output (float64, NaN where impossible)."""
        raise NotImplementedError

    # -- the panel path ---------------------------------------------------------------------
    def fit(self, panel: pd.DataFrame) -> Self:
        """Learn from a canonical panel.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel; its rows are the training targets.

        Returns
        -------
        self
        """
        return self.fit_features(self.build_features(panel))

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> NDArray[np.float64]:
        """Predict the flow at ``targets`` rows using ``panel`` as history.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel; rows at or after ``t - lead + 1 h`` are never used for target ``t``.
        targets : pandas.DataFrame
            Rows with ``arc_id`` and ``time`` (end of the target hour).

        Returns
        -------
        numpy.ndarray
            float64 predictions aligned with ``targets`` (NaN where impossible).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        self._check_fitted()
        X = self.build_features(panel, targets=targets)
        return np.asarray(self.predict_features(X), dtype=np.float64)


# -- registry -------------------------------------------------------------------------------
Factory = Callable[..., Forecaster]

_REGISTRY: dict[str, Factory] = {}
_PREFIXES: dict[str, Callable[..., Forecaster]] = {}
_DEFAULT_PLACEHOLDER = "<Model>"


class _LazyPrefix(NamedTuple):
    """A prefix family whose factory lives in an optional module imported on first use."""

    module: str
    extra: str  # the ``infotrafic[<extra>]`` that installs its dependencies
    placeholder: str = _DEFAULT_PLACEHOLDER  # what follows the colon in available_forecasters


_LAZY_PREFIXES: dict[str, _LazyPrefix] = {
    "darts": _LazyPrefix("infotrafic.forecasters._darts", "darts"),
    "mlforecast": _LazyPrefix("infotrafic.forecasters._nixtla", "nixtla", "<dotted.Regressor>"),
    "statsforecast": _LazyPrefix("infotrafic.forecasters._nixtla", "nixtla"),
}
#: Placeholders given to :func:`register_forecaster`.
_PLACEHOLDERS: dict[str, str] = {}


def _placeholder(prefix: str) -> str:
    """Return what follows the colon of a prefix family in :func:`available_forecasters`."""
    lazy = _LAZY_PREFIXES.get(prefix)
    return _PLACEHOLDERS.get(prefix, lazy.placeholder if lazy else _DEFAULT_PLACEHOLDER)


def register_forecaster(
    name: str,
    factory: Callable[..., Forecaster],
    *,
    prefix: bool = False,
    overwrite: bool = False,
    placeholder: str | None = None,
) -> None:
    """Register a forecaster factory under ``name`` (or a ``prefix:`` family).

    Parameters
    ----------
    name : str
        A plain name (``"gbm"``) or a prefix ending with ``":"`` (``"darts:"``), in which case
        ``make_forecaster("darts:NaiveSeasonal", **p)`` calls ``factory("NaiveSeasonal", **p)``.
    factory : callable
        Returns a :class:`Forecaster` (a class works).
    prefix : bool, default False
        Treat ``name`` as a prefix even without the trailing colon.
    overwrite : bool, default False
        Replace an existing registration instead of failing.
    placeholder : str, optional
        For a prefix family, how :func:`available_forecasters` shows the part after the colon
        (``"sklearn:<dotted.path>"``; default: the lazy family's, else ``"<Model>"``).

    Raises
    ------
    ConfigurationError
        When the name is taken and ``overwrite`` is false.

    Examples
    --------
    >>> from infotrafic.forecasters import NaiveForecaster
    >>> register_forecaster("my_naive", NaiveForecaster)
    >>> make_forecaster("my_naive", horizon=2).lead
    2
    """
    is_prefix = prefix or name.endswith(":")
    key = name.rstrip(":")
    table = _PREFIXES if is_prefix else _REGISTRY
    if not key or (key in table and not overwrite):
        raise ConfigurationError(
            f"forecaster {'prefix' if is_prefix else 'name'} {key!r} is empty or already "
            "registered (pass overwrite=True to replace it)"
        )
    table[key] = factory
    if is_prefix and placeholder is not None:
        _PLACEHOLDERS[key] = placeholder


def make_forecaster(name: str, **params: Any) -> Forecaster:
    """Build a registered forecaster by name.

    Parameters
    ----------
    name : str
        ``naive``, ``seasonal_naive``, ``historical_average``, ``gbm`` or ``prefix:Model``
        (e.g. ``darts:NaiveSeasonal``, ``sklearn:sklearn.linear_model.Ridge``).
    **params
        Hyper-parameters passed to the factory.

    Returns
    -------
    Forecaster
        A new, unfitted forecaster.

    Raises
    ------
    ConfigurationError
        For an unknown name (the message lists the known ones).

    Examples
    --------
    >>> make_forecaster("seasonal_naive", season=24)
    SeasonalNaiveForecaster(season=24)
    """
    if ":" in name:
        prefix, _, rest = name.partition(":")
        if prefix not in _PREFIXES and prefix in _LAZY_PREFIXES:
            lazy = _LAZY_PREFIXES[prefix]
            try:
                importlib.import_module(lazy.module)
            except ImportError as exc:
                raise ConfigurationError(
                    f"forecaster {name!r} needs an optional dependency that failed to import "
                    f"({exc}); install it, e.g. pip install 'infotrafic[{lazy.extra}]'"
                ) from exc
        if prefix in _PREFIXES:
            return _PREFIXES[prefix](rest, **params)
    elif name in _REGISTRY:
        return _REGISTRY[name](**params)
    raise ConfigurationError(
        f"unknown forecaster {name!r}; available: {', '.join(available_forecasters())}"
    )


def available_forecasters() -> list[str]:
    """Names accepted by :func:`make_forecaster` (prefix families end with ``:<Model>``).

    Returns
    -------
    list of str

    Examples
    --------
    >>> [n for n in available_forecasters() if n in ("naive", "gbm")]
    ['gbm', 'naive']
    """
    prefixes = set(_PREFIXES) | set(_LAZY_PREFIXES)
    return sorted(_REGISTRY) + sorted(f"{p}:{_placeholder(p)}" for p in prefixes)


def check_targets(targets: pd.DataFrame) -> None:
    """Check that ``targets`` has ``arc_id`` and tz-aware ``time`` columns.

    Parameters
    ----------
    targets : pandas.DataFrame
        The rows to forecast.

    Raises
    ------
    DataValidationError
        Naming the missing column or the naive ``time``.
    """
    if not {"arc_id", "time"} <= set(targets.columns):
        raise DataValidationError("targets needs columns arc_id and time", field="arc_id/time")
    if not isinstance(targets["time"].dtype, pd.DatetimeTZDtype):
        raise DataValidationError("targets.time must be tz-aware (UTC)", field="time")


def align_targets(
    X: pd.DataFrame,
    targets: pd.DataFrame,
) -> NDArray[np.intp]:
    """Positions of ``targets`` rows in a feature table (-1 when absent).

    Parameters
    ----------
    X : pandas.DataFrame
        A feature table with ``arc_id`` and ``time``.
    targets : pandas.DataFrame
        Rows with ``arc_id`` and ``time``.

    Returns
    -------
    numpy.ndarray
        One index into ``X`` per target row.
    """
    key = pd.MultiIndex.from_arrays([X["arc_id"], X["time"]])
    want = pd.MultiIndex.from_arrays([targets["arc_id"], targets["time"]])
    return np.asarray(key.get_indexer(want), dtype=np.intp)
