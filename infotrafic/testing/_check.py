"""The forecaster contract as checks a user can run: :func:`check_forecaster`.

Like scikit-learn's ``check_estimator``, each check is a small function that takes an
unfitted forecaster and a :class:`CheckData` (a slice of the bundled real data of
:mod:`infotrafic.datasets`), works on clones of the forecaster, and raises
:class:`ForecasterCheckError` naming itself when the forecaster breaks the contract. The
project's own contract tests run the same checks over every built-in forecaster
(``tests/forecasters/test_contract.py``).
"""

from __future__ import annotations

import dataclasses
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import clone

from infotrafic.exceptions import ForecasterCheckError, NotFittedError
from infotrafic.forecasters import (
    Forecaster,
    ForecasterTags,
    TabularForecaster,
    get_tags,
    load_forecaster,
    save_forecaster,
)

__all__ = ["CHECKS", "CheckData", "check_forecaster", "forecaster_checks"]

_HOUR = pd.Timedelta(hours=1)
#: The bundled real-data slice: five weeks of the three sample arcs, with their gaps.
SLICE = ("2023-09-11T00:00Z", "2023-10-16T00:00Z")
#: Leads (``horizon``, ``delay``) the leakage check runs at.
LEADS = ((1, 0), (2, 1))
#: Share of targets of the slice a forecaster must predict (finite values).
MIN_FINITE = 0.5


@dataclasses.dataclass(frozen=True)
class CheckData:
    """The data the checks run on: a panel, its training part and the targets after it.

    Attributes
    ----------
    panel : pandas.DataFrame
        Canonical panel (history for predictions).
    train : pandas.DataFrame
        Its rows up to three days before its end.
    targets : pandas.DataFrame
        ``arc_id``, ``time`` of the rows after that, shuffled (any order must work).
    """

    panel: pd.DataFrame
    train: pd.DataFrame
    targets: pd.DataFrame

    @classmethod
    def from_panel(cls, panel: pd.DataFrame) -> CheckData:
        """Split a panel: train on all but its last three days, predict those (shuffled).

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel of a few weeks.

        Returns
        -------
        CheckData
        """
        panel = panel.reset_index(drop=True)
        cut = panel["time"].max() - pd.Timedelta(days=3)
        train = panel[panel["time"] <= cut].reset_index(drop=True)
        targets = (
            panel.loc[(panel["time"] > cut) & panel["flow"].notna(), ["arc_id", "time"]]
            .sample(frac=1.0, random_state=0)
            .reset_index(drop=True)
        )
        return cls(panel=panel, train=train, targets=targets)

    def copy(self) -> CheckData:
        """Return a deep copy (each check gets its own: a forecaster may modify its inputs).

        Returns
        -------
        CheckData
        """
        return CheckData(self.panel.copy(), self.train.copy(), self.targets.copy())

    @classmethod
    def bundled(cls) -> CheckData:
        """Return the checks' default data: :data:`SLICE` of the bundled real sample.

        Returns
        -------
        CheckData
        """
        from infotrafic.datasets import load_sample

        panel = load_sample()
        lo, hi = (pd.Timestamp(t) for t in SLICE)
        return cls.from_panel(panel[(panel["time"] >= lo) & (panel["time"] < hi)])


def _fail(check: str, est: object, message: str) -> ForecasterCheckError:
    return ForecasterCheckError(f"{type(est).__name__} failed check {check!r}: {message}")


def _configured(est: Forecaster, **params: Any) -> Forecaster:
    m: Forecaster = clone(est, safe=False)
    return m.set_params(**params) if params else m


def _fitted(est: Forecaster, data: CheckData, **params: Any) -> Forecaster:
    return _configured(est, **params).fit(data.train)


def _same(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def _predict(m: Forecaster, panel: pd.DataFrame, targets: pd.DataFrame) -> NDArray[np.float64]:
    return np.asarray(m.predict(panel, targets))


# -- the checks -------------------------------------------------------------------------------
def check_tags(est: Forecaster, data: CheckData) -> None:
    """``get_tags`` gives a :class:`ForecasterTags` the forecaster's interface backs."""
    tags = get_tags(est)
    if not isinstance(tags, ForecasterTags):  # pragma: no cover - get_tags refuses it first
        raise _fail("tags", est, "get_tags did not return a ForecasterTags")
    if tags.tabular and not isinstance(est, TabularForecaster):
        raise _fail(
            "tags",
            est,
            "tagged tabular=True but lacks build_features/fit_features/predict_features",
        )
    params = est.get_params(deep=False)
    missing = {"horizon", "delay"} - set(params)
    if missing:
        raise _fail("tags", est, f"hyper-parameters {sorted(missing)} missing from get_params")
    if set(tags.targets) - {"flow"} and "target" not in params:
        raise _fail(
            "tags", est, f"tags list targets {tags.targets} but there is no 'target' parameter"
        )


def check_not_fitted(est: Forecaster, data: CheckData) -> None:
    """``predict`` before ``fit`` raises :class:`~infotrafic.exceptions.NotFittedError`."""
    m = _configured(est)
    for what, call in _unfitted_calls(m, data):
        try:
            call()
        except NotFittedError:
            continue
        raise _fail("not_fitted", est, f"{what} before fit must raise NotFittedError")


def _unfitted_calls(m: Forecaster, data: CheckData) -> Iterator[tuple[str, Callable[[], Any]]]:
    yield "predict", lambda: m.predict(data.panel, data.targets)
    if get_tags(m).tabular and isinstance(m, TabularForecaster):
        X = m.build_features(data.panel)
        yield "predict_features", lambda: m.predict_features(X)


def check_fit_returns_self(est: Forecaster, data: CheckData) -> None:
    """``fit`` returns ``self`` and learns state only in attributes ending with ``_``."""
    m = _configured(est)
    before = set(vars(m))
    if m.fit(data.train) is not m:
        raise _fail("fit_returns_self", est, "fit must return self")
    learned = set(vars(m)) - before
    if not learned:
        raise _fail("fit_returns_self", est, "fit must store what it learns (attributes_)")
    bad = sorted(k for k in learned if not k.endswith("_"))
    if bad:
        raise _fail("fit_returns_self", est, f"learned attributes must end with '_': {bad}")


def check_clone(est: Forecaster, data: CheckData) -> None:
    """``sklearn.clone`` copies the hyper-parameters and none of the learned state."""
    before = set(vars(_configured(est)))
    fitted = _fitted(est, data)
    twin = clone(fitted, safe=False)
    if set(vars(twin)) - before:
        raise _fail("clone", est, f"clone carried learned state {sorted(set(vars(twin)) - before)}")
    if twin.get_params() != fitted.get_params():
        raise _fail("clone", est, "clone changed the hyper-parameters")
    if twin.set_params(horizon=3) is not twin or fitted.get_params()["horizon"] == 3:
        raise _fail("clone", est, "set_params must return self and not touch the original")


def check_predict_shape(est: Forecaster, data: CheckData) -> None:
    """``predict`` returns float64, one value per target row, aligned with any row order."""
    m = _fitted(est, data)
    pred = m.predict(data.panel, data.targets)
    if not isinstance(pred, np.ndarray) or pred.dtype != np.float64:
        raise _fail("predict_shape", est, f"predict must return float64 ndarray, got {pred!r:.80}")
    if pred.shape != (len(data.targets),):
        raise _fail("predict_shape", est, f"shape {pred.shape}, want ({len(data.targets)},)")
    share = float(np.isfinite(pred).mean())
    if share < MIN_FINITE:
        raise _fail("predict_shape", est, f"only {share:.0%} of the targets predicted")
    backwards = data.targets.iloc[::-1].reset_index(drop=True)
    if not _same(_predict(m, data.panel, backwards), pred[::-1]):
        raise _fail("predict_shape", est, "predictions must follow the targets' row order")


def check_no_mutation(est: Forecaster, data: CheckData) -> None:
    """``fit`` and ``predict`` leave their input frames untouched."""
    copies = [data.panel.copy(), data.train.copy(), data.targets.copy()]
    m = _fitted(est, data)
    m.predict(data.panel, data.targets)
    for name, frame, copy in zip(
        ("panel", "train", "targets"), dataclasses.astuple(data), copies, strict=True
    ):
        try:
            pd.testing.assert_frame_equal(frame, copy)
        except AssertionError as exc:
            raise _fail("no_mutation", est, f"the {name} frame was modified: {exc}") from None


def check_no_future(est: Forecaster, data: CheckData) -> None:
    """No use of the future: data after a target's origin ``t - lead`` changes nothing."""
    rng = np.random.default_rng(0)
    for horizon, delay in LEADS:
        m = _fitted(est, data, horizon=horizon, delay=delay)
        lead = (horizon + delay) * _HOUR
        times = np.sort(data.targets["time"].unique())
        for t in (pd.Timestamp(times[i]) for i in (0, len(times) // 2, -1)):
            at_t = data.targets[data.targets["time"] == t].reset_index(drop=True)
            future = (data.panel["time"] > t - lead).to_numpy()
            scrambled = data.panel.copy()
            scrambled.loc[future, "flow"] = rng.uniform(0, 5000, int(future.sum()))
            scrambled.loc[future, "occupancy"] = rng.uniform(0, 90, int(future.sum()))
            want = _predict(m, data.panel, at_t)
            for what, panel in (("scrambled", scrambled), ("dropped", data.panel[~future])):
                if not _same(_predict(m, panel, at_t), want):
                    raise _fail(
                        "no_future",
                        est,
                        f"predictions for {t} (horizon={horizon}, delay={delay}) change when "
                        f"the data after t - {horizon + delay} h are {what}: it reads the future",
                    )


def check_deterministic(est: Forecaster, data: CheckData) -> None:
    """Two fits on the same data give the same predictions (when tagged deterministic)."""
    if not get_tags(est).deterministic:
        return
    a = _predict(_fitted(est, data), data.panel, data.targets)
    b = _predict(_fitted(est, data), data.panel, data.targets)
    if not _same(a, b):
        raise _fail("deterministic", est, "two fits differ; seed its randomness (random_state)")


def check_persistence(est: Forecaster, data: CheckData) -> None:
    """Check that pickling and :func:`~infotrafic.forecasters.save_forecaster` keep predictions."""
    m = _fitted(est, data)
    want = _predict(m, data.panel, data.targets)
    if not _same(_predict(pickle.loads(pickle.dumps(m)), data.panel, data.targets), want):
        raise _fail("persistence", est, "a pickled copy predicts differently")
    with tempfile.TemporaryDirectory() as tmp:
        path = save_forecaster(m, Path(tmp) / "model.joblib")
        loaded = load_forecaster(path)
    if not _same(_predict(loaded, data.panel, data.targets), want):
        raise _fail("persistence", est, "save_forecaster/load_forecaster changes the predictions")


def check_tabular_paths(est: Forecaster, data: CheckData) -> None:
    """With the fast path: ``fit`` = ``fit_features(build_features)``, same predictions."""
    if not (get_tags(est).tabular and isinstance(est, TabularForecaster)):
        return
    m = _fitted(est, data)
    want = _predict(m, data.panel, data.targets)
    d: Any = _configured(est)
    d.fit_features(d.build_features(data.train))
    if not _same(_predict(d, data.panel, data.targets), want):
        raise _fail("tabular_paths", est, "fit_features(build_features(panel)) != fit(panel)")
    assert isinstance(m, TabularForecaster)
    table = m.build_features(data.panel)
    key = pd.MultiIndex.from_frame(table[["arc_id", "time"]])
    rows = table.iloc[key.get_indexer(pd.MultiIndex.from_frame(data.targets))]
    if not _same(np.asarray(m.predict_features(rows)), want):
        raise _fail("tabular_paths", est, "predict_features(rows) != predict(panel, targets)")


def check_tags_consistent(est: Forecaster, data: CheckData) -> None:
    """Check that the tags match the behaviour: refit needs, lookback, targets, horizons."""
    tags = get_tags(est)
    m = _fitted(est, data)
    want = _predict(m, data.panel, data.targets)
    if not tags.requires_refit:
        short = data.train[data.train["time"] > data.train["time"].max() - pd.Timedelta(days=10)]
        other = _configured(est).fit(short)
        if not _same(_predict(other, data.panel, data.targets), want):
            raise _fail(
                "tags_consistent", est, "requires_refit=False but the training data change it"
            )
    if tags.lookback is not None:
        lead = int(m.horizon) + int(m.delay)
        first = data.targets["time"].min() - (tags.lookback + lead) * _HOUR
        cut = data.panel[data.panel["time"] >= first]
        if not _same(_predict(m, cut, data.targets), want):
            raise _fail(
                "tags_consistent",
                est,
                f"lookback={tags.lookback} but history older than that changes the predictions",
            )
    for target in tags.targets:
        if target != "flow":
            _must_predict(est, data, f"target={target!r}", target=target)
    horizons = (24,) if tags.horizons is None else tags.horizons
    if horizons:
        _must_predict(est, data, f"horizon={max(horizons)}", horizon=max(horizons))


def _must_predict(est: Forecaster, data: CheckData, what: str, **params: Any) -> None:
    pred = _predict(_fitted(est, data, **params), data.panel, data.targets)
    if pred.shape != (len(data.targets),) or float(np.isfinite(pred).mean()) < MIN_FINITE:
        raise _fail("tags_consistent", est, f"its tags allow {what} but it predicts too little")


#: Every check, by name, in the order :func:`check_forecaster` runs them.
CHECKS: dict[str, Callable[[Forecaster, CheckData], None]] = {
    "tags": check_tags,
    "not_fitted": check_not_fitted,
    "fit_returns_self": check_fit_returns_self,
    "clone": check_clone,
    "predict_shape": check_predict_shape,
    "no_mutation": check_no_mutation,
    "no_future": check_no_future,
    "deterministic": check_deterministic,
    "persistence": check_persistence,
    "tabular_paths": check_tabular_paths,
    "tags_consistent": check_tags_consistent,
}


def forecaster_checks(
    est: Forecaster, checks: Iterable[str] | None = None
) -> Iterator[tuple[str, Callable[[Forecaster, CheckData], None]]]:
    """Yield ``(name, check)`` pairs to run on ``est`` (all of :data:`CHECKS` by default).

    Parameters
    ----------
    est : Forecaster
        The forecaster (unused today: every check applies, skipping itself when the tags
        say it does not apply).
    checks : iterable of str, optional
        Names of the checks to yield.

    Yields
    ------
    (str, callable)
        Each check takes the forecaster and a :class:`CheckData`.

    Raises
    ------
    ForecasterCheckError
        For an unknown check name.
    """
    names = list(CHECKS) if checks is None else list(checks)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ForecasterCheckError(f"unknown check(s) {unknown}; known: {list(CHECKS)}")
    for name in names:
        yield name, CHECKS[name]


def check_forecaster(
    est: Forecaster, *, checks: Iterable[str] | None = None, data: CheckData | None = None
) -> None:
    """Check that a forecaster meets the infotrafic forecaster contract.

    Runs, on clones of ``est`` and a five-week slice of the bundled real data
    (:func:`infotrafic.datasets.load_sample`): its tags (:func:`~infotrafic.forecasters.get_tags`)
    are backed by its interface; ``predict`` before ``fit`` raises ``NotFittedError``; ``fit``
    returns ``self`` and learns only ``_`` attributes; ``sklearn.clone`` works; ``predict``
    gives one float64 per target, in the targets' order; inputs are never modified; the future
    is never used (data after a target's origin scrambled or dropped: predictions unchanged, at
    two leads); two fits agree; pickling and ``save_forecaster`` round trips keep the
    predictions; the tabular fast path agrees with ``fit``/``predict``; and the tags match the
    behaviour (refit needs, lookback, targets, the longest horizon).

    Parameters
    ----------
    est : Forecaster
        An unfitted forecaster (never modified).
    checks : iterable of str, optional
        Run only these checks (names of :data:`CHECKS`).
    data : CheckData, optional
        Other data to check on (default :meth:`CheckData.bundled`).

    Raises
    ------
    ForecasterCheckError
        At the first failed check, naming it and what is wrong (the forecaster's own
        exception, if one escaped, is chained).

    Examples
    --------
    >>> from infotrafic.forecasters import SeasonalNaiveForecaster
    >>> from infotrafic.testing import check_forecaster
    >>> check_forecaster(SeasonalNaiveForecaster(season=24), checks=["not_fitted", "no_future"])
    >>> class Leaky(SeasonalNaiveForecaster):
    ...     def predict(self, panel, targets):
    ...         return panel["flow"].to_numpy()[-len(targets):].astype("float64")
    >>> check_forecaster(Leaky(), checks=["no_future"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ForecasterCheckError: Leaky failed check 'no_future': ...
    """
    data = CheckData.bundled() if data is None else data
    for name, check in forecaster_checks(est, checks):
        try:
            check(est, data.copy())
        except ForecasterCheckError:
            raise
        except Exception as exc:  # the forecaster's own failure: named with the check
            raise _fail(name, est, f"{type(exc).__name__}: {exc}") from exc
