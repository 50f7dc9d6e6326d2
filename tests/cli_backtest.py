"""Helpers of the CLI tests that run `infotrafic backtest` through click's CliRunner."""

from __future__ import annotations

from click.testing import CliRunner

from infotrafic.cli import main


def run(*args: str) -> tuple[int, str]:
    """Run ``infotrafic backtest ARGS``; return the exit code and the output."""
    result = CliRunner().invoke(main, ["backtest", *args])
    return result.exit_code, result.output


def mae(report: dict[str, object], model: str) -> float:
    """A model's MAE in a JSON report, scored on the rows every model predicted."""
    rows = report["comparison"]
    assert isinstance(rows, list)
    return float(next(r["mae"] for r in rows if r["model"] == model))
