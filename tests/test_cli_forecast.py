"""`infotrafic train` and `infotrafic forecast` through click's CliRunner, as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from infotrafic.cli import main
from infotrafic.datasets import load_sample


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "snaive"
    code, stdout, stderr = run(
        "train",
        "--sample",
        "--model",
        "seasonal_naive",
        "--horizon",
        "1h",
        "--horizon",
        "24h",
        "--level",
        "80",
        "--level",
        "95",
        "--end",
        "2023-11-01",
        "--param",
        "season=168",
        "--validate-start",
        "2023-10-01",
        "--out",
        str(out),
        "--no-progress",
    )
    assert code == 0, stderr
    assert "horizons 1, 24 h" in stdout and "validation MAE" in stdout and str(out) in stdout
    return out


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_forecast_files(model_dir: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"forecast{suffix}"
    code, stdout, stderr = run(
        "forecast",
        str(model_dir),
        "--sample",
        "--at",
        "2023-11-20 08:00",
        "--arc",
        "4264",
        "--arc",
        "5672",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    assert "Forecast issued at 2023-11-20 08:00 Paris time" in stdout and "4 rows" in stdout
    if suffix == ".csv":
        frame = pd.read_csv(out)
        assert frame["time"].iloc[0] == "2023-11-20T08:00:00Z"
    elif suffix == ".json":
        frame = pd.DataFrame(json.loads(out.read_text()))
    else:
        frame = pd.read_parquet(out)
    assert list(frame.columns[:5]) == ["arc_id", "issued_at", "time", "horizon", "flow"]
    assert set(frame["arc_id"]) == {4264, 5672} and set(frame["horizon"]) == {1, 24}
    assert {"lo_80", "hi_95", "state", "state_probability", "stale"} <= set(frame.columns)


def test_forecast_defaults_to_the_last_hour_and_warns_on_unknown_arcs(
    model_dir: Path, tmp_path: Path
) -> None:
    code, stdout, stderr = run(
        "forecast",
        str(model_dir),
        "--sample",
        "--arc",
        "4264",
        "--arc",
        "12345",
        "--out",
        str(tmp_path / "f.csv"),
    )
    assert code == 0
    assert "warning: arc(s) 12345 not in the data" in stderr
    last = load_sample()["time"].max().tz_convert("Europe/Paris")
    assert f"issued at {last:%Y-%m-%d %H:%M}" in stdout


def test_forecast_from_files_and_a_store(model_dir: Path, tmp_path: Path) -> None:
    panel = load_sample()
    path = tmp_path / "recent.parquet"
    panel[panel["time"] >= pd.Timestamp("2023-10-01", tz="UTC")].to_parquet(path)
    code, _, stderr = run("forecast", str(model_dir), str(path), "--out", str(tmp_path / "a.csv"))
    assert code == 0, stderr
    code, _, stderr = run("etl", str(path), "--out", str(tmp_path / "store"), "--no-progress")
    assert code == 0, stderr
    code, _, stderr = run(
        "forecast",
        str(model_dir),
        "--store",
        str(tmp_path / "store"),
        "--out",
        str(tmp_path / "b.csv"),
    )
    assert code == 0, stderr
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    # a folder is read as infotrafic etl reads it: its data files
    folder = tmp_path / "folder"
    folder.mkdir()
    path.rename(folder / path.name)
    (folder / "notes.md").write_text("not data")
    code, _, stderr = run("forecast", str(model_dir), str(folder), "--out", str(tmp_path / "c.csv"))
    assert code == 0, stderr
    pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "c.csv"))
    (folder / path.name).unlink()
    code, _, stderr = run("forecast", str(model_dir), str(folder), "--out", str(tmp_path / "d.csv"))
    assert code != 0 and f"no data files in {folder}" in stderr
    assert not (tmp_path / "d.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "0h"], "--horizon 0h"),
        (["--horizon", "25h"], "horizons go from 1h to 24h"),
        (["--level", "0"], "--level"),
        (["--level", "100"], "outside (0, 100)"),
    ],
)
def test_train_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = run(
        "train", "--sample", "--model", "naive", *args, "--out", str(tmp_path / "m")
    )
    assert code == 2 and message in stderr
    assert not (tmp_path / "m").exists()


def test_forecast_errors_name_the_problem(model_dir: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "f.csv")
    code, _, stderr = run(
        "forecast", str(model_dir), "--sample", "--at", "2024-02-01", "--out", out
    )
    assert code == 1 and "after the last hour in the data (2023-12-02" in stderr
    assert not Path(out).exists()
    code, _, stderr = run("forecast", str(model_dir), "--sample", "--out", str(tmp_path / "f.txt"))
    assert code == 2 and ".parquet, .csv or .json" in stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    code, _, stderr = run("forecast", str(broken), "--sample", "--out", out)
    assert code == 1 and "no manifest.json" in stderr and "Traceback" not in stderr


def test_train_records_where_learning_stops_with_and_without_a_final_refit(
    tmp_path: Path,
) -> None:
    """By default the calibration fits are served (learning stops 28 days before --end);
    --refit-final serves fits on everything before --end."""
    for flag, gap in (([], 28), (["--no-refit-final"], 28), (["--refit-final"], 0)):
        out = tmp_path / f"model{len(flag)}{gap}"
        args = ["train", "--sample", "--model", "seasonal_naive", "--horizon", "1h", *flag]
        args += ["--end", "2023-11-01", "--out", str(out), "--no-progress"]
        code, _, stderr = run(*args)
        assert code == 0, stderr
        training = json.loads((out / "manifest.json").read_text())["training"]
        end, fit_end = pd.Timestamp(training["end"]), pd.Timestamp(training["fit_end"])
        assert end - fit_end == pd.Timedelta(days=gap), flag
