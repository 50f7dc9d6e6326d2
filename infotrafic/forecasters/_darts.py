"""Adapter running any Darts forecasting model under the infotrafic forecaster contract.

Darts (``pip install infotrafic[darts]``) works on ``TimeSeries`` objects with a timezone-naive
regular index; infotrafic works on the canonical long panel with UTC-aware end-of-hour times. The
conversions are :func:`infotrafic.interop.to_darts` and :func:`~infotrafic.interop.from_darts`
(and the per-arc hourly grids this adapter feeds its models from):

* **Index.** ``time`` (tz-aware, end of the counting hour) becomes a naive UTC
  ``DatetimeIndex`` with ``freq="h"``; predictions come back as tz-aware UTC again.
* **Grid.** Each arc's rows are put on the regular hourly grid from its first to its last hour;
  absent hours become NaN.
* **Missing values** (``fill=`` and ``missing=``). Darts fits on whole series and most of its
  models reject NaN, while real arcs miss hours every week (arc 191 misses about 2 % of them). A
  global model with a weekly lag reads a whole week of input before each target, so requiring it
  all observed leaves most targets unpredicted. With ``fill="seasonal"`` (default) a missing
  *input* hour takes the last observed value at the same hour of the week before it (168 h back,
  then 336 h, ...), else the last observed value before it. The fill is causal — a filled value
  only ever comes from an earlier hour, and at predict time the history is cut at the origin
  first — so it cannot leak the future. Only inputs are filled: a training row whose *target*
  is missing is not learned from (each stretch of observed targets becomes one training series,
  preceded by its filled input window). Local models see their filled history as a whole (it is
  their only input). With ``fill=None`` every arc's series is cut at missing hours into fully
  observed segments: training uses the segments at least as long as the model needs, and a
  prediction is made only when the model's whole input window (target lags and past covariate
  lags) is observed, NaN otherwise. ``missing="keep"`` hands the NaN to Darts untouched, for
  models that cope with them (e.g. ``NaiveSeasonal``, which then predicts NaN exactly when the
  value one season back is missing — the same as the built-in ``seasonal_naive``); ``fill`` is
  then not applied.

The two kinds run as two small strategies, chosen once from the fitted model (``_Global``,
``_Local``): each gives the input window of a target and forecasts a batch of them.
Local models (``NaiveSeasonal``, ``ExponentialSmoothing``, ...) are fitted once per arc in
:meth:`DartsForecaster.fit` (``models_``) and, since Darts local models forecast only from the end
of their training series, **refitted on the history up to every origin** in ``predict`` (what
Darts' ``historical_forecasts(retrain=True)`` does). Global models (``LightGBMModel``,
``LinearRegressionModel``, ...) are fitted once over all arcs' series (``model_``) and predict from
the input window ending at each origin. In both cases the input ends at ``t - horizon - delay``:
data at later times are cut away before Darts sees them, so the contract's no-leakage rule holds
whatever the wrapped model does.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from infotrafic._schema import validate_panel
from infotrafic.exceptions import ConfigurationError, DataValidationError, NotFittedError
from infotrafic.features import CALENDAR_FIELDS, Calendar, calendar_frame
from infotrafic.forecasters._base import (
    Forecaster,
    LeadMixin,
    check_lead,
    check_targets,
    register_forecaster,
)
from infotrafic.forecasters._fill import seasonal_fill
from infotrafic.forecasters._tags import ForecasterTags
from infotrafic.interop import _arc_grids, _import_darts, _naive_utc, from_darts, to_darts

__all__ = ["DartsForecaster", "frame_to_series", "make_darts_forecaster", "series_to_frame"]

_HOUR = pd.Timedelta(hours=1)
_PAST_COLUMNS = ("occupancy",)
MissingPolicy = Literal["segments", "keep"]
FillPolicy = Literal["seasonal"]


_darts = _import_darts


def _forecasting_model_module() -> Any:
    _darts()
    return importlib.import_module("darts.models.forecasting.forecasting_model")


def frame_to_series(
    panel: pd.DataFrame, *, column: str = "flow", arcs: Sequence[int] | None = None
) -> dict[int, Any]:
    """Convert one panel column to one Darts ``TimeSeries`` per arc.

    Shorthand for :func:`infotrafic.interop.to_darts` with one column.

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel.
    column : str, default "flow"
        The panel column to convert.
    arcs : sequence of int, optional
        Restrict to these arcs.

    Returns
    -------
    dict of int to darts.TimeSeries
        One univariate series per arc, in ascending arc order.
    """
    return to_darts(panel, columns=column, arcs=arcs)


def series_to_frame(series: Mapping[int, Any], *, column: str = "flow") -> pd.DataFrame:
    """Convert per-arc univariate Darts ``TimeSeries`` back to a long frame.

    Shorthand for :func:`infotrafic.interop.from_darts` without validation.

    Parameters
    ----------
    series : mapping of int to darts.TimeSeries
        Univariate series keyed by arc.
    column : str, default "flow"
        Name of the value column.

    Returns
    -------
    pandas.DataFrame
        Columns ``arc_id`` (int64), ``time`` (``datetime64[ns, UTC]``) and ``column``.
    """
    return from_darts(series, columns=[column], validate=False)


def _segments(observed: NDArray[np.bool_], min_length: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of the runs of True at least ``min_length`` long."""
    padded = np.concatenate(([False], observed, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [
        (int(a), int(b))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
        if b - a >= min_length
    ]


def _finite_rows(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows of a 2-D array whose values are all finite."""
    return np.asarray(np.isfinite(values).all(axis=1), dtype=np.bool_)


def _all_finite_windows(finite: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
    """Whether ``finite[p - length : p + 1]`` is all True, per position ``p`` (False if early)."""
    bad = np.concatenate(([0], np.cumsum(~finite)))
    out = np.zeros(len(finite), dtype=bool)
    p = np.arange(length, len(finite))
    out[p] = bad[p + 1] - bad[p - length] == 0
    return out


class DartsForecaster(LeadMixin, BaseEstimator):  # type: ignore[misc]
    """Run any Darts forecasting model (local or global) as an infotrafic forecaster.

    Parameters
    ----------
    model : str or darts ForecastingModel, default "NaiveSeasonal"
        A class name of ``darts.models`` (built with ``model_params``) or an (unfitted) model
        instance, used as a template and never modified.
    horizon : int, default 1
        Hours between the last usable observation and the target, without the delay.
    delay : int, default 0
        Publication delay in hours; a prediction for ``t`` uses data at ``<= t - horizon - delay``.
    covariates : sequence of str or Calendar, optional
        Covariates handed to the model where it supports them: panel columns
        (``"occupancy"``) become Darts *past* covariates; calendar fields of
        :data:`infotrafic.features.CALENDAR_FIELDS` (or a :class:`~infotrafic.features.Calendar`
        builder) become *future* covariates (known in advance, Paris local time). Configure the
        model's covariate lags accordingly (e.g. ``lags_past_covariates``).
    model_params : mapping, optional
        Keyword arguments of the model class when ``model`` is a name.
    missing : {"segments", "keep"}, default "segments"
        How missing hours reach Darts: ``"segments"`` gives Darts only complete inputs (filled
        by ``fill``, else cut at missing hours); ``"keep"`` passes the NaN untouched (``fill`` is
        then not applied).
    fill : {"seasonal"} or None, default "seasonal"
        Fill policy of missing *input* hours (with ``missing="segments"``): ``"seasonal"``
        takes the last observed value at the same hour of the week before the missing hour
        (168 h back, then 336 h, ...), else the last observed value before it
        (:func:`~infotrafic.forecasters._fill.seasonal_fill`); past values only, so no
        leakage. Training targets are never filled: a row whose target is missing is not
        learned from. ``None`` keeps the strict policy: a prediction needs the whole input
        window observed, NaN otherwise. On arc 191 (real, ``lags=[-1, -2, -3, -24, -168]``,
        1 h ahead) the fill raises the share of targets predicted from 54 % to 100 %.

    Attributes
    ----------
    model_ : darts model or None
        The fitted global model (None for local models).
    models_ : dict of int to darts model
        Local models: one copy per arc fitted on its training series.
    arcs_ : numpy.ndarray
        Arcs seen in training.
    is_global_ : bool
        Whether the wrapped model is a Darts global model.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> times = pd.date_range("2024-01-01 01:00", periods=72, freq="h", tz="UTC")
    >>> panel = pd.DataFrame({"arc_id": 1, "time": times, "flow": np.arange(72.0) % 24})
    >>> f = DartsForecaster(model="NaiveSeasonal", model_params={"K": 24}).fit(panel)
    >>> targets = pd.DataFrame({"arc_id": [1], "time": [times[-1]]})
    >>> f.predict(panel, targets).tolist()
    [23.0]
    """

    def __init__(
        self,
        *,
        model: Any = "NaiveSeasonal",
        horizon: int = 1,
        delay: int = 0,
        covariates: Sequence[str] | Calendar | None = None,
        model_params: Mapping[str, Any] | None = None,
        missing: MissingPolicy = "segments",
        fill: FillPolicy | None = "seasonal",
    ) -> None:
        self.model = model
        self.horizon = horizon
        self.delay = delay
        self.covariates = covariates
        self.model_params = model_params
        self.missing = missing
        self.fill = fill

    # ------------------------------------------------------------------ configuration
    def _template(self) -> Any:
        models = importlib.import_module("darts.models")
        params = dict(self.model_params or {})
        if isinstance(self.model, str):
            cls = getattr(models, self.model, None)
            base = _forecasting_model_module().ForecastingModel
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise ConfigurationError(
                    f"darts:{self.model} is not a Darts forecasting model class of darts.models "
                    "(e.g. NaiveSeasonal, ExponentialSmoothing, LinearRegressionModel, "
                    "LightGBMModel)"
                )
            try:
                return cls(**params)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"darts:{self.model}({params}): {exc}") from exc
        if params:
            raise ConfigurationError("model_params is only used when model is a class name")
        if not hasattr(self.model, "untrained_model"):
            raise ConfigurationError(
                f"model must be a Darts model or a class name, got {type(self.model).__name__}"
            )
        return self.model.untrained_model()

    def _check_params(self) -> tuple[list[str], list[str]]:
        check_lead(type(self).__name__, self.horizon, self.delay)
        if self.missing not in ("segments", "keep"):
            raise ConfigurationError(f"missing must be 'segments' or 'keep', got {self.missing!r}")
        if self.fill not in ("seasonal", None):
            raise ConfigurationError(f"fill must be 'seasonal' or None, got {self.fill!r}")
        covs: Sequence[str]
        if self.covariates is None:
            covs = ()
        elif isinstance(self.covariates, Calendar):
            covs = self.covariates.fields
        elif isinstance(self.covariates, str):
            covs = (self.covariates,)
        else:
            covs = tuple(self.covariates)
        past = [c for c in covs if c in _PAST_COLUMNS]
        future = [c for c in covs if c in CALENDAR_FIELDS]
        bad = [c for c in covs if c not in past and c not in future]
        if bad:
            raise ConfigurationError(
                f"unknown covariate(s) {bad}: use panel columns {list(_PAST_COLUMNS)} (past "
                f"covariates) or calendar fields {list(CALENDAR_FIELDS)} (future covariates)"
            )
        return past, future

    @property
    def requires_refit(self) -> bool:
        """False for Darts local models: they are refitted at every origin inside ``predict``.

        The backtest engine then fits the adapter once instead of once per refit block.
        """
        gfm = _forecasting_model_module().GlobalForecastingModel
        return isinstance(self._template(), gfm)

    def __infotrafic_tags__(self) -> ForecasterTags:
        """Capabilities: the flow only, on the panel path; local models are fitted once."""
        return ForecasterTags(requires_refit=self.requires_refit)

    # ------------------------------------------------------------------ helpers
    def _calendar(self, index: pd.DatetimeIndex, future: list[str]) -> Any:
        darts = _darts()
        aware = index.tz_localize("UTC")
        values = calendar_frame(aware)[future].to_numpy(dtype="float64")
        return darts.TimeSeries.from_times_and_values(index, values, columns=future)

    def _input_length(self, template: Any) -> int:
        lags = getattr(template, "extreme_lags", None)
        if self.is_global_ and lags is not None:
            mins = [lags[0]] + ([lags[2]] if lags[2] is not None else [])
            return max(1, -min(int(m) for m in mins if m is not None))
        return max(1, int(template.min_train_series_length))

    @property
    def _filling(self) -> bool:
        return self.missing == "segments" and self.fill is not None

    def _training_runs(
        self, values: NDArray[np.float64], min_len: int, length: int
    ) -> tuple[NDArray[np.float64], list[tuple[int, int]]]:
        """Return one arc's values as handed to Darts and the ``[start, stop)`` spans to fit on."""
        if self.missing == "keep":
            obs = np.flatnonzero(np.isfinite(values[:, 0]))
            runs = [(int(obs[0]), int(obs[-1]) + 1)] if len(obs) else []
            return values, [r for r in runs if r[1] - r[0] >= min_len]
        if not self._filling:
            return values, _segments(_finite_rows(values), min_len)
        filled = seasonal_fill(values)
        finite = _finite_rows(filled)
        if not self.is_global_:
            return filled, _segments(finite, min_len)
        # a target is learned from only if observed; its filled input window precedes it
        learnable = np.isfinite(values[:, 0]) & _all_finite_windows(finite, length)
        runs = [(a - length, b) for a, b in _segments(learnable, 1)]
        return filled, [(a, b) for a, b in runs if b - a >= min_len]

    def _wrap(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            name = self.model if isinstance(self.model, str) else type(self.model).__name__
            raise ConfigurationError(f"darts:{name} could not {what}: {exc}") from exc

    # ------------------------------------------------------------------ contract
    def fit(self, panel: pd.DataFrame) -> DartsForecaster:
        """Fit the wrapped Darts model on the panel's flows.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel; every observed hour is a training target.

        Returns
        -------
        DartsForecaster
            ``self``, fitted.

        Raises
        ------
        DataValidationError
            When no arc has a fully observed stretch as long as the model needs.
        ConfigurationError
            When the model or the covariates are misconfigured (Darts' message included).
        """
        darts = _darts()
        past, future = self._check_params()
        panel = validate_panel(panel)
        template = self._template()
        gfm = _forecasting_model_module().GlobalForecastingModel
        self.is_global_ = isinstance(template, gfm)
        for kind, names, ok in (
            ("past", past, template.supports_past_covariates),
            ("future", future, template.supports_future_covariates),
        ):
            if names and not ok:
                raise ConfigurationError(f"{type(template).__name__} takes no {kind} covariates")
        min_len = max(1, int(template.min_train_series_length))
        grids = _arc_grids(panel, ["flow", *past])
        series, past_series = [], []
        per_arc: dict[int, tuple[Any, Any]] = {}
        length = self._input_length(template)
        for arc, (index, raw) in grids.items():
            values, runs = self._training_runs(raw, min_len, length)
            for a, b in runs:
                s = darts.TimeSeries.from_times_and_values(index[a:b], values[a:b, :1])
                pc = (
                    darts.TimeSeries.from_times_and_values(index[a:b], values[a:b, 1:])
                    if past
                    else None
                )
                series.append(s)
                past_series.append(pc)
                per_arc[arc] = (s, pc)  # local models: the latest usable stretch
        if not series:
            raise DataValidationError(
                f"no arc has {min_len} consecutive observed hours, the minimum "
                f"{type(template).__name__} needs to train (missing={self.missing!r}, "
                f"fill={self.fill!r})",
                field="flow",
            )
        cal = None
        if future:
            first = min(s.start_time() for s in series) - pd.Timedelta(hours=1000)
            last = max(s.end_time() for s in series) + pd.Timedelta(hours=self.lead + 1000)
            cal = self._calendar(pd.date_range(first, last, freq="h"), future)
        self.model_: Any = None
        self.models_: dict[int, Any] = {}
        self.past_covariates_ = past
        self.future_covariates_ = future
        strategy = _Global if self.is_global_ else _Local
        strategy.fit(self, template, _Training(series, past_series, per_arc, cal))
        self.arcs_ = np.array(sorted(grids), dtype="int64")
        self.input_length_ = length
        self.min_train_length_ = min_len
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> NDArray[np.float64]:
        """Predict the flow at each target from the history up to ``time - horizon - delay``.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel of history; rows after each target's origin are never read.
        targets : pandas.DataFrame
            Rows to predict, with columns ``arc_id`` and ``time`` (tz-aware).

        Returns
        -------
        numpy.ndarray
            float64 predictions aligned with ``targets``; NaN where the input is missing.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        if not hasattr(self, "arcs_"):
            raise NotFittedError("DartsForecaster is not fitted yet; call fit(panel) first")
        darts = _darts()
        panel = validate_panel(panel)
        check_targets(targets)
        t_time = targets["time"]
        out = np.full(len(targets), np.nan)
        if len(targets) == 0:
            return out
        lead = self.lead
        t_arc = targets["arc_id"].to_numpy(dtype="int64")
        origins = _naive_utc(t_time) - lead * _HOUR
        past, future = self.past_covariates_, self.future_covariates_
        ends = {int(a): (origins[t_arc == a].max()).tz_localize("UTC") for a in np.unique(t_arc)}
        grids = _arc_grids(panel, ["flow", *past], end=ends)
        if self._filling:  # causal, on the history already cut at the latest origin
            grids = {arc: (index, seasonal_fill(values)) for arc, (index, values) in grids.items()}
        cal = None
        if future:
            first = min([idx[0] for idx, _ in grids.values()], default=origins.min())
            first = min(first, origins.min()) - pd.Timedelta(hours=1000)
            cal = self._calendar(
                pd.date_range(first, origins.max() + pd.Timedelta(hours=lead + 1000), freq="h"),
                future,
            )
        strategy = _Global if self.is_global_ else _Local
        jobs: list[tuple[int, Any, Any]] = []  # (target row, series, past covariates)
        for row in range(len(targets)):
            arc = int(t_arc[row])
            if arc not in grids:
                continue
            index, values = grids[arc]
            stop = int((origins[row] - index[0]) // _HOUR) + 1  # grid position after the origin
            if stop <= 0 or stop > len(index):
                continue
            window = strategy.window(self, values, stop)
            if window is None:
                continue
            idx = index[stop - len(window) : stop]
            s = darts.TimeSeries.from_times_and_values(idx, window[:, :1])
            pc = darts.TimeSeries.from_times_and_values(idx, window[:, 1:]) if past else None
            jobs.append((row, s, pc))
        if jobs:
            strategy.forecast(self, jobs, cal, out)
        return out


@dataclasses.dataclass(frozen=True)
class _Training:
    """What :meth:`DartsForecaster.fit` hands a strategy: the series and their covariates."""

    series: list[Any]  # every training stretch of every arc
    past: list[Any]  # their past covariates (None each without)
    per_arc: dict[int, tuple[Any, Any]]  # each arc's latest usable stretch (local models)
    calendar: Any  # the future covariates' series, or None


class _Global:
    """A Darts global model: fitted once over every arc, predicting from a fixed input window."""

    @staticmethod
    def fit(f: DartsForecaster, template: Any, data: _Training) -> None:
        """Fit one model on every training stretch of every arc (``model_``)."""
        kwargs: dict[str, Any] = {}
        if f.past_covariates_:
            kwargs["past_covariates"] = data.past
        if f.future_covariates_:
            kwargs["future_covariates"] = [data.calendar] * len(data.series)
        f.model_ = f._wrap("fit", template.untrained_model().fit, data.series, **kwargs)

    @staticmethod
    def window(f: DartsForecaster, values: NDArray[np.float64], stop: int) -> Any:
        """Return the ``input_length_`` hours before ``stop`` (None: too short or incomplete)."""
        start = stop - f.input_length_
        if start < 0:
            return None
        window = values[start:stop]
        if f.missing == "segments" and not np.isfinite(window).all():
            return None
        return window

    @staticmethod
    def forecast(
        f: DartsForecaster, jobs: list[tuple[int, Any, Any]], cal: Any, out: NDArray[np.float64]
    ) -> None:
        """One batched ``predict`` of the fitted model over every job's input series."""
        kwargs: dict[str, Any] = {"n": f.lead, "series": [j[1] for j in jobs]}
        if f.past_covariates_:
            kwargs["past_covariates"] = [j[2] for j in jobs]
        if f.future_covariates_:
            kwargs["future_covariates"] = [cal] * len(jobs)
        preds = f._wrap("predict", f.model_.predict, show_warnings=False, **kwargs)
        for (row, _, _), p in zip(jobs, preds, strict=True):
            out[row] = float(p.values(copy=False)[-1, 0])


class _Local:
    """A Darts local model: refitted on each arc's history up to every origin."""

    @staticmethod
    def fit(f: DartsForecaster, template: Any, data: _Training) -> None:
        """Fit one model per arc on its latest usable stretch (``models_``)."""
        kwargs = {"future_covariates": data.calendar} if f.future_covariates_ else {}
        for arc, (s, _) in data.per_arc.items():
            f.models_[arc] = f._wrap("fit", template.untrained_model().fit, s, **kwargs)

    @staticmethod
    def window(f: DartsForecaster, values: NDArray[np.float64], stop: int) -> Any:
        """Return the usable history before ``stop`` (None: shorter than the model needs)."""
        window = values[:stop]
        ok = np.isfinite(window)
        if f.missing == "segments":  # trailing fully observed stretch
            bad = np.flatnonzero(~ok.all(axis=1))
            window = window[int(bad[-1]) + 1 if len(bad) else 0 :]
        else:  # from the first observed flow on
            obs = np.flatnonzero(ok[:, 0])
            window = window[int(obs[0]) :] if len(obs) else window[:0]
        return None if len(window) < f.min_train_length_ else window

    @staticmethod
    def forecast(
        f: DartsForecaster, jobs: list[tuple[int, Any, Any]], cal: Any, out: NDArray[np.float64]
    ) -> None:
        """Fit a fresh copy of the model on each job's series, then forecast ``lead`` ahead."""
        template = f._template()
        kwargs: dict[str, Any] = {"future_covariates": cal} if f.future_covariates_ else {}
        for row, s, _ in jobs:
            model = template.untrained_model()
            f._wrap("fit", model.fit, s, **kwargs)
            pred = f._wrap("predict", model.predict, f.lead, show_warnings=False, **kwargs)
            out[row] = float(pred.values(copy=False)[-1, 0])


def make_darts_forecaster(name: str, **params: Any) -> DartsForecaster:
    """Build a :class:`DartsForecaster` from a registry name ``darts:<ModelClass>``.

    Keyword arguments ``horizon``, ``delay``, ``covariates``, ``missing``, ``fill`` and
    ``model_params`` configure the adapter; any other keyword goes to the Darts model class.

    Parameters
    ----------
    name : str
        ``"darts:NaiveSeasonal"`` or just ``"NaiveSeasonal"``.
    **params
        Adapter and model parameters.

    Returns
    -------
    DartsForecaster
        The unfitted adapter.

    Examples
    --------
    >>> f = make_darts_forecaster("darts:NaiveSeasonal", K=168)
    >>> f.model, f.model_params
    ('NaiveSeasonal', {'K': 168})
    """
    cls_name = name.split(":", 1)[1] if ":" in name else name
    own = {
        k: params.pop(k)
        for k in ("horizon", "delay", "covariates", "missing", "fill")
        if k in params
    }
    model_params = dict(params.pop("model_params", None) or {})
    model_params.update(params)
    return DartsForecaster(model=cls_name, model_params=model_params or None, **own)


register_forecaster(
    "darts:", cast("Callable[..., Forecaster]", make_darts_forecaster), overwrite=True
)
