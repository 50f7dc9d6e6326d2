"""The Dask backend of ``backtest``: real scheduler and worker processes on 127.0.0.1."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _dask_cluster import Cluster
from click.testing import CliRunner

from infotrafic._dask import dask_client, parse_local
from infotrafic.backtest import BacktestConfig, backtest
from infotrafic.backtest._distributed import shards
from infotrafic.cli import main
from infotrafic.datasets import load_sample
from infotrafic.etl import ParquetStore
from infotrafic.exceptions import BacktestError, ClusterError, ConfigurationError
from infotrafic.forecasters import GBMForecaster, NaiveForecaster, SeasonalNaiveForecaster

distributed = pytest.importorskip("distributed")

WINDOW = {"start": "2023-06-01", "end": "2023-06-22", "refit": "7D", "horizon": [1, 24]}
EXACT = ("naive", "seasonal_naive")


def _models() -> dict[str, Any]:
    return {
        "naive": NaiveForecaster(),
        "seasonal_naive": SeasonalNaiveForecaster(),
        "gbm": GBMForecaster(max_iter=20, random_state=3),
    }


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def local(panel: pd.DataFrame) -> Any:
    return backtest(panel, _models(), **WINDOW)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    c = Cluster(tmp_path_factory.mktemp("dask"), n_workers=2)
    yield c
    c.close()


@pytest.fixture(scope="module")
def on_cluster(panel: pd.DataFrame, cluster: Cluster) -> Any:
    return backtest(panel, _models(), **WINDOW, scheduler=cluster.address)


def _split(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    return frame.loc[frame["model"].isin(names)].reset_index(drop=True)


def test_naive_models_are_exactly_the_local_run(local: Any, on_cluster: Any) -> None:
    pd.testing.assert_frame_equal(
        _split(on_cluster.predictions, EXACT), _split(local.predictions, EXACT), check_exact=True
    )
    pd.testing.assert_series_equal(on_cluster.scales, local.scales, check_exact=True)
    assert set(on_cluster.predictions["horizon"]) == {1, 24}


def test_gbm_matches_the_local_run_within_float_tolerance(local: Any, on_cluster: Any) -> None:
    mine, ref = _split(on_cluster.predictions, ("gbm",)), _split(local.predictions, ("gbm",))
    pd.testing.assert_frame_equal(mine.drop(columns="y_pred"), ref.drop(columns="y_pred"))
    np.testing.assert_allclose(mine["y_pred"], ref["y_pred"], rtol=1e-5, atol=1e-3)
    assert ref["y_pred"].notna().mean() > 0.9  # the comparison is not between two NaN columns


def test_same_frame_and_report_as_the_local_run(local: Any, on_cluster: Any) -> None:
    assert list(on_cluster.predictions.columns) == list(local.predictions.columns)
    assert on_cluster.predictions.dtypes.equals(local.predictions.dtypes)
    assert list(on_cluster.predictions["model"].cat.categories) == [
        "naive",
        "seasonal_naive",
        "gbm",
    ]
    got = on_cluster.report.comparison
    pd.testing.assert_frame_equal(got, local.report.comparison, rtol=1e-4)
    assert set(on_cluster.timings) == set(local.timings)


def test_store_is_read_by_the_workers(
    panel: pd.DataFrame, cluster: Cluster, tmp_path: Path
) -> None:
    store = ParquetStore(tmp_path / "store")
    store.ingest(panel.loc[panel["time"] < pd.Timestamp("2023-07-01", tz="UTC")])
    models = {"naive": NaiveForecaster(), "seasonal_naive": SeasonalNaiveForecaster()}
    cfg = BacktestConfig.create(
        start="2023-06-01", end="2023-06-15", arcs=[int(panel["arc_id"].iloc[0])]
    )
    ref = backtest(panel, models, cfg)
    got = backtest(store, models, cfg, scheduler=cluster.address)
    pd.testing.assert_frame_equal(got.predictions, ref.predictions, check_exact=True)
    assert got.predictions["arc_id"].nunique() == 1


def test_intervals_and_states_are_the_local_run(panel: pd.DataFrame, cluster: Cluster) -> None:
    models = {"naive": NaiveForecaster(), "seasonal_naive": SeasonalNaiveForecaster()}
    kw: dict[str, Any] = {"start": "2023-06-01", "end": "2023-06-15", "levels": [80], "state": True}
    ref = backtest(panel, models, **kw)
    with distributed.Client(cluster.address, set_as_default=False) as client:
        got = backtest(panel, models, **kw, scheduler=client)
        assert client.status == "running"  # a client given is left open
    pd.testing.assert_frame_equal(got.predictions, ref.predictions, check_exact=True)
    pd.testing.assert_frame_equal(got.states, ref.states, check_exact=True)
    assert (got.states["model"] == "persistence").sum() == (
        ref.states["model"] == "persistence"
    ).sum()


def test_a_model_failure_on_a_worker_is_the_local_error(
    panel: pd.DataFrame, cluster: Cluster
) -> None:
    bad = {"bad": GBMForecaster(max_iter=0)}
    with pytest.raises(BacktestError, match="model 'bad' failed on the block starting") as info:
        backtest(panel, bad, start="2023-06-01", end="2023-06-08", scheduler=cluster.address)
    assert "max_iter" in str(info.value)


def test_cli_backtest_dask_writes_the_local_predictions(cluster: Cluster, tmp_path: Path) -> None:
    args = ["backtest", "--sample", "--model", "naive", "--model", "seasonal_naive",
            "--start", "2023-06-01", "--end", "2023-06-15", "--no-state"]  # fmt: skip
    runner = CliRunner()
    ref = runner.invoke(
        main,
        [*args, "--no-progress", "--n-jobs", "1", "--predictions", str(tmp_path / "a.parquet")],
    )
    assert ref.exit_code == 0, ref.output
    got = runner.invoke(
        main, [*args, "--dask", cluster.address, "--predictions", str(tmp_path / "b.parquet")]
    )
    assert got.exit_code == 0, got.output
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "b.parquet"), pd.read_parquet(tmp_path / "a.parquet")
    )
    table = [line for line in got.stdout.splitlines() if line.startswith(("naive", "seasonal"))]
    assert table and table == [
        line for line in ref.stdout.splitlines() if line.startswith(("naive", "seasonal"))
    ]
    assert "backtest: 100%" in got.stderr and "2/2" in got.stderr  # progress, as tasks complete


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_bad_address_names_it_and_the_fix() -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    res = CliRunner().invoke(
        main,
        ["backtest", "--sample", "--model", "naive", "--start", "2023-06-01", "--end",
         "2023-06-08", "--dask", address, "--no-progress"],
    )  # fmt: skip
    assert res.exit_code != 0
    assert address in res.output and "dask scheduler" in res.output and "local:N" in res.output


def test_local_n_bad_values_and_a_wrong_object() -> None:
    assert parse_local("local:3") == 3 and parse_local("127.0.0.1:8786") is None
    for bad in ("local:0", "local:x"):
        with pytest.raises(ConfigurationError, match="local:N"):
            parse_local(bad)
    with pytest.raises(ConfigurationError, match="distributed.Client"), dask_client(object()):
        pass


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigurationError, match=r"infotrafic\[dask\]"), dask_client("local:1"):
        pass


def test_missing_scheduler_file_is_a_cluster_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    with pytest.raises(ClusterError, match="does not exist") as info, dask_client(missing):
        pass
    assert info.value.address == str(tmp_path / "nope.json")


def test_shards_cut_refitting_models_only() -> None:
    cfg = BacktestConfig.create(**WINDOW)
    named = list(_models().items())
    plan = shards(named, cfg, n_workers=2)
    per_model = {n: sum(1 for s in plan if s.name == n) for n, _ in named}
    assert per_model == {"naive": 2, "seasonal_naive": 2, "gbm": 4}  # x 2 horizons
    gbm = [s.config for s in plan if s.name == "gbm" and s.config.horizon == 1]
    assert gbm[0].start == cfg.start and gbm[-1].end == cfg.end
    assert gbm[0].end == gbm[1].start
    assert [c for s in gbm for c in s.cutoffs()] == cfg.cutoffs()
    assert sum(s.scales_from is not None for s in plan) == 1
    calibrated = shards(named, BacktestConfig.create(**WINDOW, levels=[80]), n_workers=2)
    assert len(calibrated) == 6


@pytest.mark.slow
def test_worker_killed_mid_run_is_rescheduled(
    panel: pd.DataFrame, local: Any, tmp_path: Path
) -> None:
    c = Cluster(tmp_path, n_workers=2)
    try:
        with distributed.Client(c.address, set_as_default=False) as client:
            c.wait(client, 2)
            out: dict[str, Any] = {}

            def run() -> None:
                try:
                    out["result"] = backtest(panel, _models(), **WINDOW, scheduler=client)
                except BaseException as exc:  # reported below
                    out["error"] = exc

            thread = threading.Thread(target=run)
            thread.start()
            victim = None
            deadline = time.monotonic() + 120
            while victim is None and time.monotonic() < deadline and thread.is_alive():
                info = client.scheduler_info()["workers"]
                busy = [a for a, keys in client.processing().items() if keys]
                names = [str(info[a]["name"]) for a in busy if a in info]
                victim = next((n for n in names if n in c.workers), None)
                time.sleep(0.05)
            assert victim is not None, "no worker was ever busy"
            c.kill(victim)
            thread.join(timeout=600)
            assert not thread.is_alive()
            assert "error" not in out, (
                out.get("error"),
                (tmp_path / "dask.log").read_text()[-2000:],
            )
            got = out["result"]
            assert len(client.scheduler_info()["workers"]) == 1  # the victim is really gone
    finally:
        c.close()
    pd.testing.assert_frame_equal(
        _split(got.predictions, EXACT), _split(local.predictions, EXACT), check_exact=True
    )
    np.testing.assert_allclose(
        _split(got.predictions, ("gbm",))["y_pred"],
        _split(local.predictions, ("gbm",))["y_pred"],
        rtol=1e-5,
        atol=1e-3,
    )


def test_cli_store_dask_is_the_local_run(
    panel: pd.DataFrame, cluster: Cluster, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    ParquetStore(store).ingest(panel.loc[panel["time"] < pd.Timestamp("2023-06-20", tz="UTC")])
    args = ["backtest", "--store", str(store), "--model", "naive", "--start", "2023-06-01",
            "--end", "2023-06-15", "--no-progress"]  # fmt: skip
    runner = CliRunner()
    ref = runner.invoke(main, [*args, "--n-jobs", "1", "--predictions", str(tmp_path / "a.pq")])
    assert ref.exit_code == 0, ref.output
    got = runner.invoke(
        main, [*args, "--dask", cluster.address, "--predictions", str(tmp_path / "b.pq")]
    )
    assert got.exit_code == 0, got.output
    assert "states ->" in got.output  # occupancy found in the store: the state was scored
    for name in ("a.pq", "b.pq"):
        assert (tmp_path / name).exists()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "b.pq"), pd.read_parquet(tmp_path / "a.pq")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "b.states.pq"), pd.read_parquet(tmp_path / "a.states.pq")
    )
