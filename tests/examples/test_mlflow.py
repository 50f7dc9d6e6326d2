"""MLflow tracking of the examples, against a real local MLflow store in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO / "examples", REPO / "examples" / "api"):
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
def test_training_logs_params_metrics_spec_and_model(tmp_path: Path, shared_db: str) -> None:
    from _schemas import TrainingRequest
    from _service import Service
    from common.settings import ExampleSettings

    settings = ExampleSettings(
        data_dir=tmp_path / "data", mlflow_uri=shared_db, mlflow_experiment="training"
    )
    service = Service(settings)
    result = service.run_training(
        TrainingRequest(model="seasonal_naive", arcs=[4264, 191], backtest_days=3), _noop
    )
    assert result["mlflow_error"] is None
    run_id = result["mlflow_run_id"]
    uri = shared_db

    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == "seasonal_naive"
    assert run.data.params["data"] == "sample"
    assert run.data.params["arcs"] == "191,4264"
    assert run.data.tags["infotrafic.kind"] == "training"
    metrics = run.data.metrics
    for name in ("mae", "rmse", "bias", "wmape", "fit_seconds"):
        assert name in metrics
    assert metrics["mae"] > 0 and metrics["rmse"] >= metrics["mae"]
    assert metrics["mae"] == pytest.approx(result["metrics"]["mae"])

    arts = _artifacts(client, run_id)
    assert "feature_spec.json" in arts and "backtest_report.json" in arts
    assert any(a.startswith(f"model/{result['version']}.model") for a in arts), arts
    # A local store keeps the artifacts inside the data dir (mlartifacts/), nowhere else.
    assert run.info.artifact_uri.startswith((tmp_path / "data" / "mlartifacts").as_uri())
    spec = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path="feature_spec.json",
                tracking_uri=uri,
                dst_path=str(tmp_path / "dl"),
            )
        ).read_text()
    )
    assert spec["forecaster"] and "params" in spec


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
