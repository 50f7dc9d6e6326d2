"""MLflow tracking and registry of forecast models, against a real local tracking store.

One sqlite store per module (creating one runs MLflow's migrations: seconds); each test uses
its own registered model name. Models are small (naive baselines, horizons 1-2 h, the bundled
sample), so the whole module takes well under half a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")

from infotrafic.datasets import load_sample  # noqa: E402
from infotrafic.exceptions import ConfigurationError, DataValidationError  # noqa: E402
from infotrafic.forecasting import ForecastModel, forecast, forecast_columns, train  # noqa: E402
from infotrafic.forecasting._mlflow import (  # noqa: E402
    CHAMPION,
    Registration,
    decide_champion,
    load_champion,
    log_model,
    predict_frame,
)

pytestmark = [
    # MLflow and its sqlalchemy/alembic stack warn about their own internals; only theirs.
    pytest.mark.filterwarnings("ignore::UserWarning:mlflow"),
    pytest.mark.filterwarnings("ignore::FutureWarning:mlflow"),
    pytest.mark.filterwarnings("ignore:.*SADeprecationWarning.*"),
]

OCT = {"end": "2023-11-01", "validate_start": "2023-10-15"}
NOV = {"end": "2023-11-15", "validate_start": "2023-11-01"}
AT = "2023-11-20 08:00"


@pytest.fixture(scope="module")
def mlflow_panel() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def mlflow_models(
    mlflow_panel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[ForecastModel, Path]]:
    """Small models, saved: ``<model>_<window>`` (``noval``: not validated).

    Only the served one forecasts the traffic state (validating the state doubles the time).
    """
    root = tmp_path_factory.mktemp("models")
    specs: dict[str, tuple[str, dict[str, str]]] = {
        "seasonal_naive_oct": ("seasonal_naive", OCT),
        "naive_oct": ("naive", OCT),
        "naive_nov": ("naive", NOV),
        "seasonal_naive_nov": ("seasonal_naive", NOV),
        "naive_noval": ("naive", {"end": "2023-11-01"}),
    }
    out = {}
    for key, (name, window) in specs.items():
        state = key == "seasonal_naive_oct"
        model = train(mlflow_panel, name, horizons=[1, 2], state=state, **window)
        out[key] = (model, model.save(root / key))
    return out


def _log(
    models: dict[str, tuple[ForecastModel, Path]], key: str, uri: str, name: str, **kw: Any
) -> Registration:
    model, path = models[key]
    return log_model(model, path, uri, name=name, **kw)


def _champion_version(uri: str, name: str) -> str:
    client = mlflow.MlflowClient(tracking_uri=uri)
    return str(client.get_registered_model(name).aliases[CHAMPION])


def test_run_registers_a_pyfunc_model_served_as_champion(
    mlflow_models: dict[str, tuple[ForecastModel, Path]],
    mlflow_store: str,
    mlflow_panel: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, _ = mlflow_models["seasonal_naive_oct"]
    reg = _log(mlflow_models, "seasonal_naive_oct", mlflow_store, "t-served")
    assert (reg.version, reg.decision.moved, reg.decision.comparison) == ("1", True, "none")
    assert "champion" in str(reg) and reg.run_id in str(reg)

    client = mlflow.MlflowClient(tracking_uri=mlflow_store)
    run = client.get_run(reg.run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["model"] == "seasonal_naive"
    assert (params["horizons"], params["levels"], params["delay_hours"]) == ("1,2", "80,95", "0")
    assert params["data_fingerprint"] == model.training["fingerprint"]
    assert params["training_end"] == model.training["end"]
    assert params["validation_start"] == model.metrics["validation_start"]
    assert params["infotrafic_version"] == model.version
    assert metrics["val_mae"] == pytest.approx(model.metrics["mae"])
    for h, v in model.metrics["mae_per_horizon"].items():
        assert metrics[f"val_mae_h{h}"] == pytest.approx(v)
    assert metrics["val_coverage_80"] == pytest.approx(model.metrics["coverage_80"])
    assert tags["infotrafic.champion.moved"] == "true"
    artifacts = {a.path for a in client.list_artifacts(reg.run_id)}
    assert {"manifest.json", "validation.json"} <= artifacts
    version = client.get_model_version("t-served", reg.version)
    assert version.run_id == reg.run_id
    assert version.tags["infotrafic.champion.comparison"] == "none"
    assert _champion_version(mlflow_store, "t-served") == reg.version

    # A real pyfunc model with a signature, loaded through the alias by another caller.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    served = mlflow.pyfunc.load_model(f"models:/t-served@{CHAMPION}")
    signature = served.metadata.signature
    assert signature is not None
    assert signature.inputs.input_names() == ["arc_id", "time", "flow", "occupancy"]
    assert signature.outputs.input_names() == forecast_columns(model.levels)
    assert {p.name for p in signature.params} == {"at", "arcs"}
    panel = mlflow_panel[["arc_id", "time", "flow", "occupancy"]]
    got = served.predict(panel, params={"at": AT, "arcs": [191, 4264]})
    pd.testing.assert_frame_equal(got, forecast(model, mlflow_panel, at=AT, arcs=[191, 4264]))
    pd.testing.assert_frame_equal(served.predict(panel), forecast(model, mlflow_panel))
    # JSON requests (``mlflow models serve``) carry times as ISO 8601 text.
    text = panel.assign(time=panel["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    from_text = served.predict(text, params={"at": AT})
    pd.testing.assert_frame_equal(from_text, forecast(model, mlflow_panel, at=AT))
    # ... as the scoring server of ``mlflow models serve`` parses them.
    from mlflow.pyfunc.scoring_server import invocations

    split = json.loads(text.to_json(orient="split", index=False))
    body = json.dumps({"dataframe_split": split, "params": {"at": AT, "arcs": [191]}})
    answer = invocations(body, "application/json", served, signature.inputs)
    assert answer.status == 200, answer.response
    rows = json.loads(answer.response)["predictions"]
    assert [(r["arc_id"], r["horizon"]) for r in rows] == [(191, 1), (191, 2)]
    assert rows[0]["flow"] == pytest.approx(got.loc[got["arc_id"] == 191, "flow"].iloc[0])

    loaded, path = load_champion(mlflow_store, "t-served", dst=tmp_path / "champion")
    assert path.is_relative_to(tmp_path / "champion") and (path / "manifest.json").is_file()
    assert (loaded.model, loaded.training, loaded.metrics) == (
        model.model,
        model.training,
        model.metrics,
    )


def test_better_model_moves_the_alias_and_worse_does_not(
    mlflow_models: dict[str, tuple[ForecastModel, Path]], mlflow_store: str
) -> None:
    first = _log(mlflow_models, "naive_oct", mlflow_store, "t-rule")
    better = _log(mlflow_models, "seasonal_naive_oct", mlflow_store, "t-rule")
    d = better.decision
    assert (d.moved, d.comparison, d.champion_version) == (True, "stored", first.version)
    assert d.mae is not None and d.champion_mae is not None and d.mae < d.champion_mae
    assert _champion_version(mlflow_store, "t-rule") == better.version

    worse = _log(mlflow_models, "naive_oct", mlflow_store, "t-rule")
    d = worse.decision
    assert (d.moved, d.comparison, d.champion_version) == (False, "stored", better.version)
    assert d.mae == pytest.approx(first.decision.mae)
    assert _champion_version(mlflow_store, "t-rule") == better.version
    # The decision is recorded on the version and on the run.
    client = mlflow.MlflowClient(tracking_uri=mlflow_store)
    tags = client.get_model_version("t-rule", worse.version).tags
    assert tags["infotrafic.champion.moved"] == "false"
    assert float(tags["infotrafic.champion.mae"]) == pytest.approx(d.mae)
    assert float(tags["infotrafic.champion.previous_mae"]) == pytest.approx(d.champion_mae)
    assert tags["infotrafic.champion.previous_version"] == better.version
    assert client.get_run(worse.run_id).data.tags["infotrafic.champion.reason"] == d.reason

    # Not worse (the same model again) moves it.
    tie = _log(mlflow_models, "seasonal_naive_oct", mlflow_store, "t-rule")
    assert tie.decision.moved and _champion_version(mlflow_store, "t-rule") == tie.version


def test_other_window_needs_the_panel_to_compare(
    mlflow_models: dict[str, tuple[ForecastModel, Path]],
    mlflow_store: str,
    mlflow_panel: pd.DataFrame,
) -> None:
    champion = _log(mlflow_models, "seasonal_naive_oct", mlflow_store, "t-window")
    blind = _log(mlflow_models, "naive_nov", mlflow_store, "t-window")
    assert (blind.decision.moved, blind.decision.comparison) == (False, "impossible")
    assert "panel" in blind.decision.reason and blind.decision.champion_mae is None
    assert _champion_version(mlflow_store, "t-window") == champion.version

    seen = _log(mlflow_models, "naive_nov", mlflow_store, "t-window", panel=mlflow_panel)
    d = seen.decision
    assert (d.comparison, d.champion_version) == ("re-evaluated", champion.version)
    # Fair: the champion's configuration scored on the new window equals a model of that
    # configuration validated there.
    same_config, _ = mlflow_models["seasonal_naive_nov"]
    assert d.champion_mae == pytest.approx(same_config.metrics["mae"], rel=1e-12)
    assert d.moved == (d.mae <= d.champion_mae)
    expected = seen.version if d.moved else champion.version
    assert _champion_version(mlflow_store, "t-window") == expected


def test_unvalidated_model_is_champion_only_when_there_is_none(
    mlflow_models: dict[str, tuple[ForecastModel, Path]], mlflow_store: str
) -> None:
    first = _log(mlflow_models, "naive_noval", mlflow_store, "t-noval")
    assert first.decision.moved and first.decision.mae is None
    second = _log(mlflow_models, "naive_noval", mlflow_store, "t-noval")
    assert (second.decision.moved, second.decision.comparison) == (False, "impossible")
    assert "validation metrics" in second.decision.reason
    assert _champion_version(mlflow_store, "t-noval") == first.version


def test_decision_without_a_comparable_champion_manifest(
    mlflow_models: dict[str, tuple[ForecastModel, Path]], mlflow_panel: pd.DataFrame
) -> None:
    model, path = mlflow_models["naive_nov"]
    missing = decide_champion(model, None, "3", None)
    assert (missing.moved, missing.comparison) == (False, "impossible")
    foreign = json.loads((path / "manifest.json").read_text())
    foreign.update(model="MyForecaster", metrics=None)
    d = decide_champion(model, foreign, "3", mlflow_panel)
    assert (d.moved, d.comparison) == (False, "impossible")
    assert "re-evaluated" in d.reason and "MyForecaster" in d.reason


def test_predict_frame_takes_mlflow_inputs(
    mlflow_models: dict[str, tuple[ForecastModel, Path]], mlflow_panel: pd.DataFrame
) -> None:
    import numpy as np

    model, _ = mlflow_models["naive_nov"]
    got = predict_frame(model, mlflow_panel, {"at": AT, "arcs": np.array([4264])})
    pd.testing.assert_frame_equal(got, forecast(model, mlflow_panel, at=AT, arcs=[4264]))
    bad = mlflow_panel.assign(time="yesterday")
    with pytest.raises(DataValidationError, match="ISO 8601"):
        predict_frame(model, bad)


def test_panel_must_be_the_training_data(
    mlflow_models: dict[str, tuple[ForecastModel, Path]],
    mlflow_store: str,
    mlflow_panel: pd.DataFrame,
) -> None:
    other = mlflow_panel.loc[mlflow_panel["arc_id"] != 191]
    with pytest.raises(ConfigurationError, match="not the data the model was trained on"):
        _log(mlflow_models, "naive_oct", mlflow_store, "t-panel", panel=other)
    model, _ = mlflow_models["naive_oct"]
    _, elsewhere = mlflow_models["naive_nov"]
    with pytest.raises(ConfigurationError, match="does not hold this model"):
        log_model(model, elsewhere, mlflow_store, name="t-panel")


def test_load_champion_of_unknown_model(mlflow_store: str) -> None:
    with pytest.raises(ConfigurationError, match="no champion for model 't-unknown'"):
        load_champion(mlflow_store, "t-unknown")


def test_missing_mlflow_names_the_extra(
    mlflow_models: dict[str, tuple[ForecastModel, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'infotrafic\[mlflow\]'"):
        _log(mlflow_models, "naive_oct", "sqlite:///unused.db", "t-none")
    with pytest.raises(ConfigurationError, match=r"infotrafic\[mlflow\]"):
        load_champion("sqlite:///unused.db", "t-none")


def test_importing_infotrafic_does_not_import_mlflow() -> None:
    code = (
        "import sys, infotrafic, infotrafic.forecasting, infotrafic.cli;"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_train_logs_and_registers(tmp_path: Path, mlflow_store: str) -> None:
    from click.testing import CliRunner

    from infotrafic.cli import main

    def run(end: str, validate_start: str) -> str:
        args = ["train", "--sample", "--model", "naive", "--horizon", "1h", "--no-progress"]
        args += ["--validate-start", validate_start, "--end", end]
        args += ["--out", str(tmp_path / "model"), "--mlflow", mlflow_store]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return next(x for x in result.output.splitlines() if x.startswith("MLflow: "))

    first = run("2023-11-01", "2023-10-15")
    assert "registered infotrafic-naive version 1, champion: no champion yet" in first
    assert _champion_version(mlflow_store, "infotrafic-naive") == "1"
    # Another window: the command passes its panel, so the champion is re-evaluated on it.
    second = run("2023-11-15", "2023-11-01")
    assert "registered infotrafic-naive version 2, champion: validation MAE" in second
    assert "re-evaluated on this model's window" in second
    assert _champion_version(mlflow_store, "infotrafic-naive") == "2"
