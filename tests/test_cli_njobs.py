"""`--n-jobs` of `backtest` and `train`: all cores by default, serial with 1, same results."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from infotrafic._parallel import available_cores
from infotrafic.backtest import BacktestConfig
from infotrafic.cli import main
from infotrafic.exceptions import ConfigurationError

WINDOW = ["--start", "2023-10-02", "--end", "2023-10-23", "--refit", "7D"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["backtest", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["backtest", "train"])
def test_help_says_all_cores_by_default(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--n-jobs INTEGER" in text and "-1 for all the available cores" in text
    assert "[default: (all cores)]" in text


@pytest.mark.parametrize("value", ["0", "-2", "-8"])
@pytest.mark.parametrize(
    "args",
    [
        ["backtest", "--sample", "--model", "naive", *WINDOW],
        ["train", "--sample", "--model", "naive", "--horizon", "1h", "--out", "unused"],
    ],
    ids=["backtest", "train"],
)
def test_invalid_n_jobs_names_the_flag(args: list[str], value: str) -> None:
    result = CliRunner().invoke(main, [*args, "--n-jobs", value])
    assert result.exit_code == 2
    assert "Invalid value for '--n-jobs'" in result.output
    assert f"positive number or -1 (all cores), got {value}" in result.output


def test_train_default_and_serial_give_the_same_forecasts(tmp_path: Path) -> None:
    """Two series (flow, occupancy) x two horizons fitted on threads or one after another."""
    forecasts = {}
    for label, extra in {"serial": ["--n-jobs", "1"], "default": []}.items():
        model_dir, out = tmp_path / label, tmp_path / f"{label}.csv"
        args = ["train", "--sample", "--model", "gbm", "--horizon", "1h", "--horizon", "3h"]
        args += ["--end", "2023-10-01", "--out", str(model_dir), "--no-progress", *extra]
        trained = CliRunner().invoke(main, args, catch_exceptions=False)
        assert trained.exit_code == 0, trained.output
        made = CliRunner().invoke(
            main,
            ["forecast", str(model_dir), "--sample", "--at", "2023-10-01 08:00", "--out", str(out)],
            catch_exceptions=False,
        )
        assert made.exit_code == 0, made.output
        forecasts[label] = pd.read_csv(out)
    assert len(forecasts["serial"]) > 0 and forecasts["serial"]["flow"].notna().any()
    pd.testing.assert_frame_equal(forecasts["default"], forecasts["serial"])


def test_available_cores_is_the_affinity() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cores() == expected
    cfg = BacktestConfig.create(start="2023-06-01", end="2023-06-15", n_jobs=-1)
    assert cfg.n_jobs == -1 and cfg.workers == expected
    assert BacktestConfig.create(start="2023-06-01", end="2023-06-15", n_jobs=3).workers == 3
    # the library keeps scikit-learn's convention: serial unless asked
    assert BacktestConfig.create(start="2023-06-01", end="2023-06-15").workers == 1


@pytest.mark.parametrize("n_jobs", [0, -2, True])
def test_library_rejects_invalid_n_jobs(n_jobs: int) -> None:
    with pytest.raises(ConfigurationError, match="n_jobs"):
        BacktestConfig(
            start=pd.Timestamp("2023-06-01", tz="UTC"),
            end=pd.Timestamp("2023-06-15", tz="UTC"),
            n_jobs=n_jobs,
        )


@pytest.mark.slow
def test_default_and_two_jobs_predict_exactly_as_serial(tmp_path: Path) -> None:
    """The README's models (gbm with its sampled training pool, and the baselines) with the
    traffic state, serial (--n-jobs 1), two worker processes, and the default (all cores)."""
    frames = {}
    for label, extra in {
        "serial": ["--n-jobs", "1"],
        "two": ["--n-jobs", "2"],
        "default": [],
    }.items():
        path = tmp_path / f"{label}.parquet"
        code, out = run(
            "--sample",
            "--model",
            "naive",
            "--model",
            "seasonal_naive",
            "--model",
            "gbm",
            "--param",
            "gbm.max_iter=10",
            "--start",
            "2023-10-02",
            "--end",
            "2023-10-16",
            "--calibration",
            "7D",
            "--no-progress",
            "--predictions",
            str(path),
            *extra,
        )
        assert code == 0, out
        frames[label] = (
            pd.read_parquet(path),
            pd.read_parquet(path.with_name(f"{label}.states.parquet")),
        )
    serial_pred, serial_states = frames["serial"]
    assert set(serial_pred["model"]) == {"naive", "seasonal_naive", "gbm"}
    assert serial_pred["y_pred"].notna().mean() > 0.9 and len(serial_states) > 0
    for label in ("two", "default"):
        pred, states = frames[label]
        pd.testing.assert_frame_equal(pred, serial_pred, check_exact=True)
        pd.testing.assert_frame_equal(states, serial_states, check_exact=True)
