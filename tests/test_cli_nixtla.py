"""`infotrafic backtest --model mlforecast:... / statsforecast:...` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_backtest import mae, run

pytest.importorskip("mlforecast")
pytest.importorskip("statsforecast")

RIDGE = "mlforecast:sklearn.linear_model.Ridge"
SNAIVE = "statsforecast:SeasonalNaive"
WINDOW = ["--start", "2023-11-01", "--end", "2023-12-01", "--n-jobs", "1", "--no-progress"]


def test_backtest_nixtla_models_on_the_sample(tmp_path: Path) -> None:
    code, out = run(
        "--sample",
        "--model",
        "seasonal_naive",
        "--model",
        RIDGE,
        "--model",
        SNAIVE,
        "--param",
        f"{RIDGE}.alpha=10",
        "--param",
        f"{SNAIVE}.season_length=168",
        "--json",
        str(tmp_path / "r.json"),
        *WINDOW,
    )
    assert code == 0, out
    assert RIDGE in out and SNAIVE in out
    report = json.loads((tmp_path / "r.json").read_text())
    snaive = mae(report, "seasonal_naive")
    assert 0 < mae(report, RIDGE) < snaive, out
    # the same weekly seasonal naive, where the week-old value is observed
    assert mae(report, SNAIVE) == pytest.approx(snaive, rel=1e-6)


@pytest.mark.parametrize(
    ("model", "param", "message"),
    [
        ("mlforecast:sklearn.linear_model.Rigde", (), "mlforecast:sklearn.linear_model.Rigde"),
        (RIDGE, ("--param", f"{RIDGE}.lags=[1]"), "newer than"),
        ("statsforecast:ADIDA", (), "has no forward"),
    ],
)
def test_bad_nixtla_models_are_one_line_errors(
    model: str, param: tuple[str, ...], message: str
) -> None:
    code, out = run("--sample", "--model", model, *param, "--horizon", "3h", *WINDOW)
    assert code == 1
    assert out.startswith("error: ") and message in out, out
    assert "Traceback" not in out
