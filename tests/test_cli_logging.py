"""`infotrafic -v/--log-level`: library log records on stderr, only while a command runs."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import infotrafic
from infotrafic.cli import main
from infotrafic.datasets._make_sample import main as make_sample_main
from infotrafic.testing import Fault, OpenDataServer

ENV = {"INFOTRAFIC_MAX_RETRIES": "3", "INFOTRAFIC_MAX_QUOTA_WAIT": "5"}
PACKAGE = Path(infotrafic.__file__).parent


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def _fetch(server: OpenDataServer, out: Path, *options: str) -> Result:
    """One week of one arc from the loopback server (one slice), ``options`` before the command."""
    return _run(
        *options, "fetch", "--base-url", server.url, "--arc", "4264", "--start", "2023-01-01",
        "--end", "2023-01-08", "--out", str(out), "--no-progress",
    )  # fmt: skip


def _lines(stderr: str, level: str) -> list[str]:
    return [line for line in stderr.splitlines() if f" {level} infotrafic." in line]


@pytest.mark.server
def test_info_lines_only_with_verbose(opendata_server: OpenDataServer, tmp_path: Path) -> None:
    quiet = _fetch(opendata_server, tmp_path / "quiet")
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr == "" and "168 rows" in quiet.stdout

    loud = _fetch(opendata_server, tmp_path / "loud", "-v")
    assert loud.exit_code == 0, loud.stderr
    info = _lines(loud.stderr, "INFO")
    assert any("infotrafic.opendata: fetch: 1 slice(s) of csv" in line for line in info)
    assert any("slice 2023-01-01 00:00: 168 rows, 0 quarantined" in line for line in info)
    assert not _lines(loud.stderr, "DEBUG")
    assert "168 rows" in loud.stdout and "infotrafic.opendata" not in loud.stdout


@pytest.mark.server
@pytest.mark.parametrize("options", [["--log-level", "DEBUG"], ["--log-level", "debug"], ["-vv"]])
def test_debug_lines(opendata_server: OpenDataServer, tmp_path: Path, options: list[str]) -> None:
    run = _fetch(opendata_server, tmp_path / "store", *options)
    assert run.exit_code == 0, run.stderr
    debug = _lines(run.stderr, "DEBUG")
    assert any("export 2023-01-01 00:00: HTTP 200" in line for line in debug), run.stderr
    assert _lines(run.stderr, "INFO")


@pytest.mark.server
def test_log_level_error_hides_retry_warnings(
    opendata_server: OpenDataServer, tmp_path: Path
) -> None:
    opendata_server.faults.push(Fault.quota(reset_in=0.05))
    default = _fetch(opendata_server, tmp_path / "default")
    assert default.exit_code == 0
    (warning,) = _lines(default.stderr, "WARNING")
    assert "infotrafic.opendata:" in warning and "quota reached, waiting" in warning

    opendata_server.faults.push(Fault.quota(reset_in=0.05))
    quiet = _fetch(opendata_server, tmp_path / "quiet", "--log-level", "ERROR")
    assert quiet.exit_code == 0
    assert quiet.stderr == ""
    quota = [r for r in opendata_server.requests if r.fault == "quota"]
    assert len(quota) == 2  # the fault did hit the second run too


def test_invalid_level_is_a_usage_error() -> None:
    run = CliRunner().invoke(main, ["--log-level", "LOUD", "archive", "list"])
    assert run.exit_code == 2
    assert "Invalid value for '--log-level': 'LOUD' is not one of" in run.stderr


def test_verbose_and_log_level_refused() -> None:
    run = CliRunner().invoke(main, ["-v", "--log-level", "INFO", "archive", "list"])
    assert run.exit_code == 2
    assert "Error: give -v/--verbose or --log-level, not both" in run.stderr


def test_group_help_documents_the_options() -> None:
    run = _run("--help")
    assert run.exit_code == 0
    assert "-v, --verbose" in run.stdout and "--log-level [DEBUG|INFO|WARNING|ERROR]" in run.stdout


@pytest.mark.server
def test_logging_restored_after_a_command(opendata_server: OpenDataServer, tmp_path: Path) -> None:
    library, root = logging.getLogger("infotrafic"), logging.getLogger()
    before = (list(library.handlers), library.level, list(root.handlers), root.level)
    assert _fetch(opendata_server, tmp_path / "ok", "-vv").exit_code == 0
    assert (list(library.handlers), library.level, list(root.handlers), root.level) == before
    # a failing command (exit 1, one-line error) restores them as well
    opendata_server.faults.push(Fault.quota(times=9, reset_in=3600, retry_after=3600))
    failed = _fetch(opendata_server, tmp_path / "failed", "-v")
    assert failed.exit_code == 1 and "error: " in failed.stderr
    assert (list(library.handlers), library.level, list(root.handlers), root.level) == before


def test_null_handler_keeps_the_library_silent() -> None:
    library = logging.getLogger("infotrafic")
    assert any(type(h) is logging.NullHandler for h in library.handlers)
    # without it, Python's "last resort" handler would print an unconfigured warning on stderr
    code = (
        "import logging, infotrafic; "
        "logging.getLogger('infotrafic.opendata').warning('not shown'); "
        "logging.getLogger('elsewhere').warning('shown')"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0 and run.stderr == "shown\n"


def _print_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]


def test_the_library_never_calls_print(tmp_path: Path) -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50
    found = {str(p.relative_to(PACKAGE)): lines for p in modules if (lines := _print_calls(p))}
    assert found == {}
    # the scan does see a call (and not a print in a docstring example)
    probe = tmp_path / "probe.py"
    probe.write_text('"""\n>>> print(1)\n1\n"""\n\nif True:\n    print("x")\n')
    assert _print_calls(probe) == [7]


def test_make_sample_usage_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert make_sample_main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "python -m infotrafic.datasets._make_sample SHARED_DATA_DIR" in err


def test_train_verbose_logs_its_fits(tmp_path: Path) -> None:
    run = _run(
        "-v", "train", "--sample", "--model", "seasonal_naive", "--horizon", "1h",
        "--end", "2023-11-01", "--out", str(tmp_path / "model"), "--no-progress",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    info = _lines(run.stderr, "INFO")
    assert all(" INFO infotrafic.forecasting: " in line for line in info)
    assert "train seasonal_naive: flow and occupancy at 1 h on" in info[0]
    assert any("flow h=1: fitted in" in line and "calibrated on" in line for line in info)
    assert any("occupancy h=1: fitted in" in line for line in info)
    assert "train seasonal_naive: 2 forecasters fitted" in info[-1]
    assert "model seasonal_naive: horizons 1 h" in run.stdout


def test_etl_and_backtest_log_by_layer(shared_data: Path, tmp_path: Path) -> None:
    export = shared_data / "exports" / "arc4264_2022-11_2023-12.csv.gz"
    run = _run("-v", "etl", str(export), "--out", str(tmp_path / "store"))
    assert run.exit_code == 0, run.stderr
    read = [line for line in _lines(run.stderr, "INFO") if "infotrafic.etl:" in line]
    assert len(read) == 1 and "arc4264_2022-11_2023-12.csv.gz (csv):" in read[0]
    assert "panel rows, 0 quarantined" in read[0]
    run = _run(
        "-v", "backtest", "--sample", "--model", "naive", "--start", "2023-11-01",
        "--end", "2023-11-08", "--no-state", "--n-jobs", "1", "--no-progress",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    info = [line for line in _lines(run.stderr, "INFO") if "infotrafic.backtest:" in line]
    assert "backtest: 1 model(s) x flow, horizons 1 h, 1 refit(s) of 7 days" in info[0]
    assert "1 workers" in info[0]
    assert "backtest: naive fitted and predicted in" in info[-1]
