"""`infotrafic backtest --model sklearn:<dotted.path>` through click's CliRunner (real sample)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_backtest import mae, run

RIDGE = "sklearn:sklearn.linear_model.Ridge"
HGB = "sklearn:sklearn.ensemble.HistGradientBoostingRegressor"
WINDOW = ["--start", "2023-10-02", "--end", "2023-10-16", "--no-progress"]


def test_backtest_sklearn_regressors_on_the_sample(tmp_path: Path) -> None:
    code, out = run(
        "--sample",
        "--model",
        "seasonal_naive",
        "--model",
        RIDGE,
        "--model",
        HGB,
        "--param",
        f"{RIDGE}.alpha=10",
        "--param",
        f"{HGB}.max_iter=30",
        "--level",
        "80",
        "--json",
        str(tmp_path / "r.json"),
        *WINDOW,
    )
    assert code == 0, out
    assert RIDGE in out and HGB in out
    report = json.loads((tmp_path / "r.json").read_text())
    snaive = mae(report, "seasonal_naive")
    for model in (RIDGE, HGB):
        assert 0 < mae(report, model) < snaive, (model, out)


@pytest.mark.parametrize(
    ("model", "param", "message"),
    [
        ("sklearn:sklearn.linear_model.Rigde", (), "did you mean sklearn.linear_model.Ridge"),
        ("sklearn:sklearn.preprocessing.StandardScaler", (), "not a scikit-learn regressor"),
        (RIDGE, ("--param", f"{RIDGE}.alpah=1"), "alpah"),
    ],
)
def test_bad_sklearn_names_are_one_line_errors(
    model: str, param: tuple[str, ...], message: str
) -> None:
    code, out = run("--sample", "--model", model, *param, *WINDOW)
    assert code == 1
    assert out.startswith("error: ") and message in out
    assert "Traceback" not in out
