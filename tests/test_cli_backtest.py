"""`infotrafic backtest` through click's CliRunner."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from infotrafic.cli import main
from infotrafic.cli._options import parse_params
from infotrafic.exceptions import ConfigurationError

sys.path.insert(0, str(Path(__file__).parent / "backtest"))
from _backtest_doubles import synthetic_panel


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["backtest", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_sample_with_reports(tmp_path: Path) -> None:
    code, out, _ = run(
        "--sample",
        "--model",
        "naive",
        "--model",
        "seasonal_naive",
        "--start",
        "2023-10-02",
        "--end",
        "2023-10-16",
        "--no-progress",
        "--per-arc",
        "--predictions",
        str(tmp_path / "p.parquet"),
        "--json",
        str(tmp_path / "r.json"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert code == 0, out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert header.split()[:4] == ["model", "n", "mae", "rmse"]
    assert "ratio_seasonal_naive" in header and "MAE per arc" in out
    pred = pd.read_parquet(tmp_path / "p.parquet")
    assert set(pred["model"]) == {"naive", "seasonal_naive"}
    assert set(pred["arc_id"]) == {4264, 5672, 191}
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_common"] > 0 and report["config"]["refit"] == "7D"
    assert "<svg" in (tmp_path / "r.html").read_text()


def test_file_input_params_and_arcs(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.parquet"
    synthetic_panel(n_arcs=2, weeks=4).to_parquet(path)
    code, out, _ = run(
        str(path),
        "--model",
        "seasonal_naive",
        "--param",
        "seasonal_naive.season=24",
        "--start",
        "2023-01-23T00:00Z",
        "--end",
        "2023-01-27T00:00Z",
        "--refit",
        "2D",
        "--arc",
        "101",
        "--horizon",
        "2h",
        "--no-progress",
    )
    assert code == 0, out
    assert "horizon 2 h, refit 2D" in out and "seasonal_naive" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--model", "naive", "--start", "2023-01-01", "--end", "2023-02-01"], 2, "exactly one"),
        (
            ["--sample", "--model", "nope", "--start", "2023-06-01", "--end", "2023-07-01"],
            1,
            "error:",
        ),
        (
            ["--sample", "--model", "naive", "--start", "2023-06-01", "--end", "2023-05-01"],
            1,
            "must be after start",
        ),
        (
            [
                "--sample",
                "--model",
                "naive",
                "--param",
                "gbm.x=1",
                "--start",
                "2023-06-01",
                "--end",
                "2023-07-01",
            ],
            1,
            "not one of the --model names",
        ),
    ],
)
def test_errors_are_one_line(args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(main, ["backtest", *args])
    assert result.exit_code == code
    assert message in result.output


def test_parse_params() -> None:
    got = parse_params(["gbm.max_iter=300", "gbm.flag=true", "gbm.lags=[1, 2]", "gbm.n=x"], ["gbm"])
    assert got == {"gbm": {"max_iter": 300, "flag": True, "lags": [1, 2], "n": "x"}}
    with pytest.raises(ConfigurationError):
        parse_params(["gbm:max_iter"], ["gbm"])
