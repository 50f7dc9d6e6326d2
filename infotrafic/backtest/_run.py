"""The public entry point of backtesting: options in, a local or a Dask run, a result out.

:func:`backtest` builds the :class:`~infotrafic.backtest.BacktestConfig` from its options,
names the models, and runs the work here (:func:`infotrafic.backtest._engine.run_local`) or
on a Dask cluster (:func:`infotrafic.backtest._distributed.run_distributed`), which runs the
same local engine on its workers: both give the same result.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._engine import model_names, run_local
from infotrafic.backtest._result import BacktestResult
from infotrafic.exceptions import ConfigurationError
from infotrafic.forecasters import Forecaster

if TYPE_CHECKING:
    from infotrafic.etl import ParquetStore

__all__ = ["backtest"]

#: The keyword options of :meth:`BacktestConfig.create`, which :func:`backtest` passes on.
_OPTIONS = tuple(inspect.signature(BacktestConfig.create).parameters)


def backtest(
    panel: pd.DataFrame | ParquetStore,
    models: Mapping[str, Forecaster] | Sequence[Forecaster],
    config: BacktestConfig | None = None,
    *,
    scheduler: Any = None,
    **options: Any,
) -> BacktestResult:
    """Backtest forecasters with a rolling origin and score them.

    Every target hour ``t`` in ``[start, end)`` with an observed flow is forecast at each
    horizon ``h`` (issued at ``t - h``) using only data with ``time <= t - h - delay`` (its
    origin). Models are refit at each cutoff ``start, start + refit, ...`` on the targets with
    ``time <= cutoff - h - delay`` (expanding window) or on the last ``train_size`` of them
    (sliding window), then predict the whole block ``[cutoff, cutoff + refit)``. Each horizon
    has its own models (direct multi-horizon forecasting: a forecaster cloned with that
    ``horizon``).

    With ``levels``, every model's forecasts get conformal prediction intervals calibrated on
    its own past errors known at each origin (:class:`~infotrafic.intervals.ConformalIntervals`);
    with ``state``, every model able to (``occupancy`` in its ``targets`` tag) also forecasts the
    occupancy, from which the traffic state and its probability follow, scored against
    persistence of the last state. Both run the models on a calibration warm-up before
    ``start`` (``calibration``, rounded up to whole refit blocks), which is not scored: the
    flow models with ``levels``, the occupancy models with ``state``.

    What a model can do is read from its tags (:func:`~infotrafic.forecasters.get_tags`).
    Models tagged ``tabular`` (the fast path ``build_features``, ``fit_features``,
    ``predict_features``) get their features streamed: built once per row, chunk by chunk (one
    refit block, or a month of history, at a time) from the panel slice their ``lookback``
    tag needs (a small table is built once and sliced); the training rows are kept in a pool
    (a deterministic uniform sample of at most ``max_train_rows`` rows when that tag is set),
    then one fit and one vectorised prediction per block. Models tagged
    ``requires_refit=False`` (baselines that learn nothing) are fitted once and predict block
    by block. Other models are cloned, fitted on the panel rows available at each cutoff and
    asked to ``predict`` the block. Each model's ``horizon``, ``delay`` and ``target``
    hyper-parameters are set to the backtest's.

    With ``scheduler``, the work runs on a Dask cluster (:mod:`infotrafic.backtest._distributed`):
    cut by horizon, model and runs of refit blocks, each shard reading its data from the store
    on its worker; the result is the local run's.

    Parameters
    ----------
    panel : pandas.DataFrame or ParquetStore
        Canonical panel (validated on entry; never mutated), or a local store (read once here;
        with ``scheduler``, read by the workers themselves, only the arcs and times they need).
    models : mapping of str to forecaster, or sequence of forecasters
        The models to compare; mapping keys name them in the output.
    config : BacktestConfig, optional
        All options at once (see :meth:`BacktestConfig.create`); then give no ``**options``.
    scheduler : str or distributed.Client, optional
        Run on a Dask cluster: a scheduler address (``tcp://HOST:PORT``), a scheduler file,
        ``local:N`` (N worker processes here) or a ``distributed.Client``; ``n_jobs`` is then
        unused. Needs the ``dask`` extra. The result is the same as without it.
    **options
        Without ``config``: the options of :meth:`BacktestConfig.create`, with their defaults
        there (written once): ``start`` and ``end`` (required; the scoring window ``[start,
        end)``, naive values in Paris wall-clock time), ``horizon``, ``refit``, ``window``,
        ``train_size``, ``delay``, ``arcs``, ``n_jobs`` (refit blocks at once, each in a worker
        process; 1 runs them inline; the predictions do not depend on it), ``progress``,
        ``levels``, ``state`` and ``calibration``.

    Returns
    -------
    BacktestResult
        ``.predictions`` (``arc_id, time, horizon, model, origin, fitted_at, y_true, y_pred``
        and ``lo_<L>, hi_<L>`` per level), ``.states`` with ``state`` and ``.report``.

    Raises
    ------
    ConfigurationError
        Invalid options.
    BacktestError
        Nothing to score in the window, or a model failed (the message names model and block).
    ClusterError
        With ``scheduler``: the cluster cannot be reached or has no worker.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from infotrafic.backtest import backtest
    >>> class Last:  # a minimal forecaster: the value ``lead`` hours before
    ...     horizon, delay = 1, 0
    ...     def fit(self, panel):
    ...         return self
    ...     def predict(self, panel, targets):
    ...         s = panel.set_index(["arc_id", "time"])["flow"]
    ...         lead = pd.Timedelta(hours=self.horizon + self.delay)
    ...         keys = pd.MultiIndex.from_arrays([targets["arc_id"], targets["time"] - lead])
    ...         return s.reindex(keys).to_numpy()
    >>> times = pd.date_range("2023-01-01", periods=24 * 21, freq="h", tz="UTC")
    >>> panel = pd.DataFrame({"arc_id": 1, "time": times, "flow": np.arange(24 * 21.0)})
    >>> res = backtest(panel, {"last": Last()}, start="2023-01-15T00:00Z",
    ...                end="2023-01-22T00:00Z")
    >>> float(res.report.comparison.loc["last", "mae"])
    1.0
    """
    if config is None:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"unknown backtest option(s) {unknown}; the options are {list(_OPTIONS)}"
            )
        if "start" not in options or "end" not in options:
            raise ConfigurationError("backtest needs start and end (or a BacktestConfig)")
        config = BacktestConfig.create(**options)
    elif options:
        raise ConfigurationError(
            f"give either config or options, not both (got config and {sorted(options)}); "
            "change the config with dataclasses.replace"
        )
    cfg = config
    named = model_names(models)
    if not isinstance(panel, pd.DataFrame):
        from infotrafic.etl import ParquetStore

        if not isinstance(panel, ParquetStore):
            raise ConfigurationError(
                f"panel must be a pandas.DataFrame or a ParquetStore, got {type(panel).__name__}"
            )
    if scheduler is not None:
        from infotrafic.backtest._distributed import run_distributed

        return run_distributed(panel, named, cfg, scheduler)
    return run_local(panel, named, cfg)
