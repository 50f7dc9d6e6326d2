"""MLflow tracking of the examples, against a real local MLflow store in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO / "examples", REPO / "examples" / "api", REPO / "tests" / "examples"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

mlflow = pytest.importorskip("mlflow")

pytestmark = [
    pytest.mark.examples,
    # MLflow and its sqlalchemy/alembic stack warn about their own internals; only theirs.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:(mlflow|sqlalchemy|alembic)"),
    pytest.mark.filterwarnings("ignore::FutureWarning:mlflow"),
    pytest.mark.filterwarnings("ignore::UserWarning:mlflow"),
    pytest.mark.filterwarnings("ignore:.*SADeprecationWarning.*"),
]


def _noop(fraction: float, message: str) -> None:
    return None


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite tracking store for the tests that do not test the default location
    (creating a store runs MLflow's schema migrations: seconds each time)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'shared.db'}"


def _artifacts(client: Any, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            out |= _artifacts(client, run_id, item.path)
        else:
            out.add(item.path)
    return out


def test_default_tracking_uri_is_in_the_data_dir(tmp_path: Path) -> None:
    from common.settings import ExampleSettings
    from common.tracking import tracking_uri

    settings = ExampleSettings(data_dir=tmp_path / "data")
    assert tracking_uri(settings) == f"sqlite:///{(tmp_path / 'data' / 'mlflow.db').resolve()}"
    assert tracking_uri(ExampleSettings(mlflow_uri="http://127.0.0.1:5000")) == (
        "http://127.0.0.1:5000"
    )
    assert tracking_uri(ExampleSettings(mlflow_enabled=False)) is None


@pytest.mark.slow
def test_api_registers_trainings_and_serves_the_mlflow_champion(tmp_path: Path) -> None:
    """Real uvicorn with tracking on (a local sqlite store): POST /training registers the model
    with ``infotrafic.forecasting.log_model``, /predict serves the alias ``champion``, which a
    worse model on the same window does not take; the dashboard shows the same champion."""
    from _api_server import start_api, stop_api

    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    api = start_api(
        tmp_path / "data",
        tmp_path / "uvicorn.log",
        env={"INFOTRAFIC_MLFLOW_ENABLED": "true", "INFOTRAFIC_MLFLOW_URI": uri},
    )
    try:
        with api.client() as client:
            results = []
            for model in ("seasonal_naive", "historical_average"):
                body = {"model": model, "horizons": [1, 2, 3], "arcs": [4264, 191],
                        "backtest_days": 3}  # fmt: skip
                r = client.post("/training", json=body)
                assert r.status_code == 202, r.text
                job = api.wait_job(r.json()["job_id"], timeout=300)
                assert job["status"] == "succeeded", (job, api.log())
                results.append(job["result"])
            first, second = results
            assert first["mlflow_error"] is None, first
            assert first["mlflow"]["name"] == "infotrafic" and first["mlflow"]["version"] == "1"
            assert first["champion"] is True
            # Same data and window: the historical average is worse, the champion stays.
            assert second["champion"] is False and "same window" in second["champion_reason"]
            assert client.get("/health").json()["mlflow"] is True

            r = client.get("/predict", params={"arc_id": [4264, 191]})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["registry"] == "mlflow" and body["model_version"] == "infotrafic/1"
            assert body["model"] == "seasonal_naive" and body["champion"] is True
            assert len(body["forecasts"]) == 6 and body["horizons"] == [1, 2, 3]
            assert all(row["lo_95"] <= row["flow"] <= row["hi_95"] for row in body["forecasts"])
    finally:
        stop_api(api)

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    registered = client.get_registered_model("infotrafic")
    assert {k: str(v) for k, v in registered.aliases.items()} == {"champion": "1"}
    run = client.get_run(first["mlflow"]["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["model"] == "seasonal_naive"
    assert run.data.metrics["val_mae"] > 0
    assert "manifest.json" in _artifacts(client, run.info.run_id)
    # A local store keeps the artifacts beside it, nowhere else.
    assert run.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MLFLOW_REGISTRY_URI", uri)
        loaded = mlflow.pyfunc.load_model("models:/infotrafic@champion")
    assert loaded.metadata.metadata["model"] == "seasonal_naive"

    # The dashboard on the same data dir shows the MLflow champion.
    from streamlit.testing.v1 import AppTest

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("INFOTRAFIC_DATA_DIR", str(tmp_path / "data"))
        mp.setenv("INFOTRAFIC_MLFLOW_URI", uri)
        mp.setenv("INFOTRAFIC_DASHBOARD_MODELS", "naive")
        mp.setenv("INFOTRAFIC_DASHBOARD_WEEKS", "1")
        at = AppTest.from_file(str(REPO / "examples" / "dashboard" / "app.py"), default_timeout=600)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        captions = " ".join(c.value for c in at.caption)
        assert "MLflow champion infotrafic/1" in captions, captions
        assert [int(o) for o in at.select_slider(key="horizon").options] == [1, 2, 3]
    finally:
        mp.undo()


def test_tracking_disabled_logs_nothing(tmp_path: Path) -> None:
    from common.settings import ExampleSettings
    from common.tracking import log_backtest_run

    settings = ExampleSettings(data_dir=tmp_path, mlflow_enabled=False)
    out = log_backtest_run(settings, run_name="x", params={"a": 1}, metrics={"mae": 1.0})
    assert out.run_id is None and "disabled" in (out.error or "")
    assert not (tmp_path / "mlflow.db").exists()


def test_explicit_tracking_uri_and_nested_params(tmp_path: Path, shared_db: str) -> None:
    from common.settings import ExampleSettings
    from common.tracking import log_backtest_run

    uri = shared_db
    settings = ExampleSettings(
        data_dir=tmp_path / "data", mlflow_uri=uri, mlflow_experiment="custom"
    )
    out = log_backtest_run(
        settings,
        run_name="manual",
        params={"model": "gbm", "params": {"max_iter": 50}},
        metrics={"mae": 12.5, "mase": float("nan")},
    )
    assert out.error is None
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(out.run_id)
    assert run.data.params == {"model": "gbm", "params.max_iter": "50"}
    assert run.data.metrics == {"mae": 12.5}  # NaN metrics are skipped
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "custom"


@pytest.mark.slow
def test_tracking_script_logs_one_run_per_model(tmp_path: Path, shared_db: str) -> None:
    env = {
        **os.environ,
        "INFOTRAFIC_DATA_DIR": str(tmp_path / "data"),
        "INFOTRAFIC_MLFLOW_URI": shared_db,
        "INFOTRAFIC_MLFLOW_EXPERIMENT": "script",
        "PYTHONWARNINGS": "ignore",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "examples/tracking.py",
            "--model",
            "naive",
            "--model",
            "seasonal_naive",
            "--start",
            "2023-11-20",
            "--end",
            "2023-11-27",
            "--arcs",
            "4264",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    client = mlflow.MlflowClient(tracking_uri=shared_db)
    exp = client.get_experiment_by_name("script")
    runs = client.search_runs([exp.experiment_id])
    by_model = {r.data.params["model"]: r for r in runs}
    assert set(by_model) == {"naive", "seasonal_naive"}
    for name, run in by_model.items():
        assert run.data.tags["infotrafic.kind"] == "backtest"
        assert run.data.metrics["mae"] > 0, name
        assert run.data.params["start"] == "2023-11-20"
        arts = _artifacts(client, run.info.run_id)
        assert {"feature_spec.json", "backtest_report.json"} <= arts
        assert any(a.startswith("model/") for a in arts)
        assert run.info.artifact_uri.startswith((tmp_path / "data" / "mlartifacts").as_uri())
    assert not (REPO / "mlruns").exists()
    assert by_model["naive"].data.metrics["mae"] != by_model["seasonal_naive"].data.metrics["mae"]
