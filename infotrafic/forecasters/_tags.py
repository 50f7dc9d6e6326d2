"""Forecaster capabilities declared as tags, the way scikit-learn declares estimator tags.

Every tool that must know what a forecaster can do — the backtest engine (refit per block or
fit once, the tabular fast path, how much history the features read, training-row sampling),
:func:`~infotrafic.forecasting.train`, :func:`~infotrafic.testing.check_forecaster` — reads it
from one place, :func:`get_tags`, never from the forecaster's class or by probing attribute
names.

A forecaster declares its tags with a ``__infotrafic_tags__()`` method returning a
:class:`ForecasterTags` (a separate method rather than scikit-learn's ``__sklearn_tags__``:
scikit-learn's tags describe a regressor's inputs, ours the forecasting contract, and the
scikit-learn wrappers keep both). :class:`~infotrafic.forecasters.BaseForecaster` derives them
from its feature spec and hyper-parameters; a subclass overrides the method, usually by
``dataclasses.replace`` on ``super().__infotrafic_tags__()``. The tags of a configured forecaster
(its ``horizon``, ``delay`` and ``target`` set) are the ones that count: ``lookback`` and
``n_features`` may depend on them.

An object without the method (a user's forecaster written against the
:class:`~infotrafic.forecasters.Forecaster` protocol only) gets :func:`default_tags`: the
capabilities its declared protocol and its ``target`` hyper-parameter imply, nothing more (no
sampling, unknown lookback).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Literal

from infotrafic.exceptions import ConfigurationError
from infotrafic.forecasters._protocols import Forecaster, TabularForecaster

__all__ = ["ForecasterTags", "default_tags", "get_tags", "requires_refit"]

#: Horizons (hours) every built-in forecaster supports: the next day.
DAY_HORIZONS: tuple[int, ...] = tuple(range(1, 25))


@dataclasses.dataclass(frozen=True)
class ForecasterTags:
    """What a forecaster can do, as the backtest engine and the training code read it.

    Parameters
    ----------
    requires_refit : bool, default True
        Whether the forecaster learns from its training rows. False (the naive baselines, a
        Darts local model that refits itself inside ``predict``) lets the engine fit it once
        instead of once per refit block, and training fit it on one hour of rows.
    tabular : bool, default False
        Whether it has the tabular fast path of
        :class:`~infotrafic.forecasters.TabularForecaster` (``build_features``,
        ``fit_features``, ``predict_features``): the engine then builds every feature row once
        and fits on row subsets.
    accepts_targets : bool, default False
        With ``tabular``: whether ``build_features(panel, targets=rows)`` builds exactly the
        given rows (else the engine builds the panel's grid and selects rows).
    lookback : int, optional
        Hours before a target hour (beyond ``horizon + delay``) its features may read; None
        when unknown or unbounded (the whole history is then given).
    n_features : int, optional
        Number of feature columns the fast path builds (sizes the engine's feature chunks);
        None when unknown (the engine then assumes 64).
    max_train_rows : int, optional
        Learn from a deterministic uniform sample of at most this many training rows
        (bottom-k of a hash of arc, hour and ``random_state``); None learns from every row.
    random_state : int, default 0
        Seed of that sample.
    targets : tuple of str, default ("flow",)
        Panel columns it can forecast (``flow``, ``occupancy``).
    intervals : {"conformal", "native"}, default "conformal"
        Where prediction intervals come from: conformal calibration on past errors (every
        built-in) or the model itself.
    horizons : tuple of int, optional
        Horizons (hours) supported; None for any horizon >= 1.
    deterministic : bool, default True
        Whether two fits on the same data (same seed) give the same predictions.

    Examples
    --------
    >>> from infotrafic.forecasters import GBMForecaster, get_tags
    >>> tags = get_tags(GBMForecaster())
    >>> tags.requires_refit, tags.tabular, tags.max_train_rows, tags.targets
    (True, True, 500000, ('flow', 'occupancy'))
    """

    requires_refit: bool = True
    tabular: bool = False
    accepts_targets: bool = False
    lookback: int | None = None
    n_features: int | None = None
    max_train_rows: int | None = None
    random_state: int = 0
    targets: tuple[str, ...] = ("flow",)
    intervals: Literal["conformal", "native"] = "conformal"
    horizons: tuple[int, ...] | None = None
    deterministic: bool = True

    def __post_init__(self) -> None:
        """Refuse values no tool could act on (naming the tag)."""
        for name in ("lookback", "n_features", "max_train_rows"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigurationError(f"tag {name} must be None or an integer >= 0: {value!r}")
        if not self.targets:
            raise ConfigurationError("tag targets must name at least one column (e.g. 'flow')")
        if self.intervals not in ("conformal", "native"):
            raise ConfigurationError(
                f"tag intervals must be 'conformal' or 'native': {self.intervals!r}"
            )
        if self.accepts_targets and not self.tabular:
            raise ConfigurationError("tag accepts_targets needs tabular=True")

    def supports_horizon(self, horizon: int) -> bool:
        """Say whether ``horizon`` hours ahead is supported.

        Parameters
        ----------
        horizon : int
            Hours ahead.

        Returns
        -------
        bool
        """
        return horizon >= 1 and (self.horizons is None or horizon in self.horizons)


def default_tags(est: Forecaster) -> ForecasterTags:
    """Return the tags of a forecaster that declares none (no ``__infotrafic_tags__``).

    They follow from what the object declares through the contract: the tabular fast path
    when it implements :class:`~infotrafic.forecasters.TabularForecaster` (and
    ``accepts_targets`` when its ``build_features`` takes ``targets``), the occupancy when it
    has a ``target`` hyper-parameter, and ``requires_refit = False`` when it sets that class
    attribute (the declaration used before tags existed). No sampling, unknown lookback.

    Parameters
    ----------
    est : Forecaster
        A forecaster.

    Returns
    -------
    ForecasterTags

    Examples
    --------
    >>> class Last:
    ...     horizon, delay = 1, 0
    ...     def fit(self, panel): return self
    ...     def predict(self, panel, targets): ...
    ...     def get_params(self, deep=True): return {"horizon": 1, "delay": 0}
    ...     def set_params(self, **p): return self
    >>> default_tags(Last()).tabular, default_tags(Last()).targets
    (False, ('flow',))
    """
    tabular = accepts = False
    if isinstance(est, TabularForecaster):
        tabular = True
        try:
            params = inspect.signature(est.build_features).parameters
        except (TypeError, ValueError):  # a builtin or C callable: no signature to read
            params = {}  # type: ignore[assignment]
        accepts = "targets" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    # an object short of the protocol (no get_params) has no hyper-parameters to set
    has_target = isinstance(est, Forecaster) and "target" in est.get_params(deep=False)
    return ForecasterTags(
        requires_refit=getattr(est, "requires_refit", True) is not False,
        tabular=tabular,
        accepts_targets=accepts,
        targets=("flow", "occupancy") if has_target else ("flow",),
    )


def get_tags(est: Forecaster) -> ForecasterTags:
    """Return a forecaster's capabilities (its ``__infotrafic_tags__()``, else the defaults).

    Parameters
    ----------
    est : Forecaster
        A forecaster, configured (``horizon``, ``delay`` and ``target`` set as it will run).

    Returns
    -------
    ForecasterTags

    Raises
    ------
    ConfigurationError
        When ``__infotrafic_tags__`` does not return a :class:`ForecasterTags`, or when the
        forecaster's hyper-parameters are invalid (tags derived from them cannot be computed).

    Examples
    --------
    >>> from infotrafic.forecasters import SeasonalNaiveForecaster, get_tags
    >>> get_tags(SeasonalNaiveForecaster()).requires_refit
    False
    >>> get_tags(SeasonalNaiveForecaster(season=24)).lookback
    24
    """
    method = getattr(est, "__infotrafic_tags__", None)
    if method is None:
        return default_tags(est)
    tags = method()
    if not isinstance(tags, ForecasterTags):
        raise ConfigurationError(
            f"{type(est).__name__}.__infotrafic_tags__() returned {type(tags).__name__}; it must "
            "return an infotrafic.forecasters.ForecasterTags"
        )
    return tags


def requires_refit(model: Forecaster) -> bool:
    """Say whether a forecaster learns from its training data (its ``requires_refit`` tag).

    A forecaster that learns nothing (the naive baselines read one lag; a Darts local model
    refits itself at every origin inside ``predict``) declares ``requires_refit=False`` in its
    tags. The backtest engine then fits it once instead of once per refit block, and
    :func:`~infotrafic.forecasting.train` fits it on a handful of rows.

    Parameters
    ----------
    model : Forecaster
        A forecaster.

    Returns
    -------
    bool

    Examples
    --------
    >>> from infotrafic.forecasters import GBMForecaster, SeasonalNaiveForecaster, requires_refit
    >>> requires_refit(SeasonalNaiveForecaster()), requires_refit(GBMForecaster())
    (False, True)
    """
    return get_tags(model).requires_refit
