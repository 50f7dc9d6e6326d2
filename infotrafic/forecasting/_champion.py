"""Whether a newly trained model replaces the champion: compared on the same validation window.

The score of a model is its mean validation MAE over the new model's horizons. The new model
becomes champion when there is none yet, or when its score is not worse than the champion's on
the same validation window: the champion's stored metrics when it was validated on exactly that
window (same bounds, same data fingerprint, same delay), else its configuration re-run with
:func:`~infotrafic.backtest.backtest` on that window (given the training panel). Otherwise the
champion stays, and the decision says why.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import pandas as pd

from infotrafic import _defaults as defaults
from infotrafic.exceptions import ConfigurationError, InfotraficError
from infotrafic.forecasting._model import ForecastModel

__all__ = ["TAG", "ChampionDecision", "Comparison", "decide_champion", "training_data"]

Comparison = Literal["none", "stored", "re-evaluated", "impossible"]
#: Prefix of the tags recording the decision on MLflow runs and versions.
TAG = "infotrafic."


@dataclasses.dataclass(frozen=True)
class ChampionDecision:
    """Whether the alias ``champion`` moved to a new version, and why.

    Attributes
    ----------
    moved : bool
        The new version is the champion now.
    reason : str
        One sentence: the comparison made, or why none could be made.
    comparison : {"none", "stored", "re-evaluated", "impossible"}
        ``none``: there was no champion; ``stored``: both models' stored validation metrics on
        the same window and data; ``re-evaluated``: the champion's configuration backtested on
        the new model's window; ``impossible``: no fair comparison (the alias does not move).
    mae : float, optional
        The new model's mean validation MAE over its horizons.
    champion_mae : float, optional
        The previous champion's mean MAE over the same horizons and window.
    champion_version : str, optional
        The previous champion's version.
    """

    moved: bool
    reason: str
    comparison: Comparison
    mae: float | None = None
    champion_mae: float | None = None
    champion_version: str | None = None

    def tags(self) -> dict[str, str]:
        """Return the decision as MLflow tags (``infotrafic.champion.*``).

        Returns
        -------
        dict of str to str
        """
        out = {
            f"{TAG}champion.moved": str(self.moved).lower(),
            f"{TAG}champion.reason": self.reason,
            f"{TAG}champion.comparison": self.comparison,
        }
        if self.mae is not None:
            out[f"{TAG}champion.mae"] = repr(self.mae)
        if self.champion_mae is not None:
            out[f"{TAG}champion.previous_mae"] = repr(self.champion_mae)
        if self.champion_version is not None:
            out[f"{TAG}champion.previous_version"] = self.champion_version
        return out


def _mean_mae(metrics: Mapping[str, Any] | None, horizons: Iterable[int]) -> float | None:
    """Mean of the validation MAE per horizon over ``horizons`` (None when one is missing)."""
    per_h = (metrics or {}).get("mae_per_horizon") or {}
    values = [per_h.get(str(int(h))) for h in horizons]
    numbers = [float(v) for v in values if v is not None]
    if not numbers or len(numbers) < len(values) or not all(map(math.isfinite, numbers)):
        return None
    return math.fsum(numbers) / len(numbers)


def training_data(model: ForecastModel, panel: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of ``panel`` the model was trained on, checked by their fingerprint."""
    from infotrafic._schema import validate_panel
    from infotrafic.forecasting._train import fingerprint

    data = validate_panel(panel)
    data = data.loc[data["time"] < model.training_end].reset_index(drop=True)
    if fingerprint(data) != model.training.get("fingerprint"):
        raise ConfigurationError(
            "panel is not the data the model was trained on (its rows before the training end "
            "have another fingerprint); pass the training panel, or no panel"
        )
    return data


def _reevaluate(
    model: ForecastModel, champion: Mapping[str, Any], data: pd.DataFrame
) -> dict[str, Any]:
    """Backtest the champion's configuration exactly as the new model was validated."""
    from infotrafic.backtest import backtest
    from infotrafic.forecasters import make_forecaster
    from infotrafic.forecasting._train import _metrics

    metrics = model.metrics or {}
    config = (model.validation or {}).get("config") or {}
    name = str(champion["model"])
    result = backtest(
        data,
        {name: make_forecaster(name, **dict(champion.get("params") or {}))},
        start=metrics["validation_start"],
        end=metrics["validation_end"],
        horizon=list(model.horizons),
        refit=config.get("refit") or defaults.REFIT,
        window=config.get("window") or "expanding",
        train_size=config.get("train_size"),
        delay=model.delay,
    )
    return _metrics(result, name)


def _same_window(model: ForecastModel, champion: Mapping[str, Any]) -> bool:
    mine, theirs = model.metrics or {}, champion.get("metrics") or {}
    return (
        theirs.get("validation_start") == mine.get("validation_start")
        and theirs.get("validation_end") == mine.get("validation_end")
        and (champion.get("training") or {}).get("fingerprint") == model.training["fingerprint"]
        and champion.get("delay_hours") == model.delay
    )


def _verdict(
    mae: float, champion_mae: float, version: str, how: str, comparison: Comparison
) -> ChampionDecision:
    moved = mae < champion_mae or math.isclose(mae, champion_mae, rel_tol=1e-9)
    sign = "<=" if moved else ">"
    return ChampionDecision(
        moved=moved,
        reason=f"validation MAE {mae:.3f} {sign} {champion_mae:.3f} of champion version "
        f"{version} ({how})",
        comparison=comparison,
        mae=mae,
        champion_mae=champion_mae,
        champion_version=version,
    )


def decide_champion(
    model: ForecastModel,
    champion: Mapping[str, Any] | None,
    champion_version: str | None,
    data: pd.DataFrame | None,
) -> ChampionDecision:
    """Decide whether ``model`` replaces the champion (see :func:`log_model`).

    Parameters
    ----------
    model : ForecastModel
        The new model.
    champion : mapping, optional
        The champion's manifest (None: it has none, or there is no champion).
    champion_version : str, optional
        The champion's version (None: there is no champion).
    data : pandas.DataFrame, optional
        The new model's training data, to re-evaluate the champion on its window.

    Returns
    -------
    ChampionDecision
    """
    mae = _mean_mae(model.metrics, model.horizons)
    if champion_version is None:
        return ChampionDecision(
            True, "no champion yet: the first model is the champion", "none", mae
        )
    version = champion_version

    def impossible(why: str) -> ChampionDecision:
        return ChampionDecision(False, why, "impossible", mae, None, version)

    if mae is None:
        return impossible(
            f"this model has no validation metrics (train it with validate_start, or "
            f"--validate-start) to compare with champion version {version}"
        )
    if champion is None:
        return impossible(f"champion version {version} has no infotrafic manifest to compare with")
    if _same_window(model, champion):
        stored = _mean_mae(champion.get("metrics"), model.horizons)
        if stored is not None:
            return _verdict(mae, stored, version, "stored metrics, same window and data", "stored")
    if data is None:
        metrics = model.metrics or {}
        return impossible(
            f"champion version {version} was validated on another window or data, or not at "
            f"horizons {list(model.horizons)}; pass the training panel to re-evaluate it on "
            f"this model's window {metrics['validation_start']} -> {metrics['validation_end']}"
        )
    try:
        rerun = _reevaluate(model, champion, data)
    except (InfotraficError, KeyError, TypeError, ValueError) as exc:
        # e.g. a forecaster passed as an object (its name is a class name) or unknown here
        return impossible(f"champion version {version} could not be re-evaluated: {exc!r}")
    theirs = _mean_mae(rerun, model.horizons)
    if theirs is None:
        return impossible(f"champion version {version} re-evaluated without a score")
    how = f"its configuration ({champion['model']}) re-evaluated on this model's window and data"
    return _verdict(mae, theirs, version, how, "re-evaluated")
