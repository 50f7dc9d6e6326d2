"""The CLI commands, run as subprocesses against the loopback server."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from infotrafic.cli import main
from infotrafic.testing import Fault, OpenDataServer

pytestmark = pytest.mark.server


ENV = {"INFOTRAFIC_MAX_RETRIES": "3", "INFOTRAFIC_MAX_QUOTA_WAIT": "5"}


def _run(*args: str) -> Result:
    """In-process run (fast), with the same environment settings as the subprocess runs."""
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ENV}
    return subprocess.run(
        [sys.executable, "-c", "from infotrafic.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_fetch_then_sync_with_faults(server: OpenDataServer, tmp_path: Path) -> None:
    out = tmp_path / "store"
    server.faults.push(
        Fault.quota(reset_in=0.05),
        Fault.server_error(503, path="/exports/"),
        Fault.truncate(0.5, path="/exports/"),
    )
    run = _cli(
        "fetch", "--base-url", server.url, "--arc", "4264", "--arc", "5672",
        "--start", "2023-01-01", "--end", "2023-04-01", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "3 slices (3 downloaded" in run.stdout and "fetch" in run.stderr  # progress bar
    got = pd.read_parquet(out)
    expected = server.rows_for([4264, 5672], "2022-12-31T23:00Z", "2023-03-31T22:00Z")
    assert len(got) == len(expected) and set(got["arc_id"]) == {4264, 5672}
    sync = _cli("sync", "--base-url", server.url, "--out", str(out), "--no-progress")
    assert sync.returncode == 0, sync.stderr
    # only hours after the newest stored one are added
    assert len(pd.read_parquet(out)) == len(server.rows_for([4264, 5672], "2022-12-31T23:00Z"))


def test_errors_are_one_line(server: OpenDataServer, tmp_path: Path) -> None:
    server.faults.push(Fault.quota(times=9, reset_in=3600, retry_after=3600))
    run = _run(
        "fetch", "--base-url", server.url, "--arc", "4264", "--start", "2023-01-01",
        "--end", "2023-02-01", "--out", str(tmp_path / "s"), "--no-progress",
    )  # fmt: skip
    assert run.exit_code == 1
    assert run.stderr.startswith("error: ") and "quota" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_archive_list_and_get(tmp_path: Path, shared_data: Path) -> None:
    import gzip

    with gzip.open(shared_data / "archive" / "arc5672_2022.csv.gz", "rt") as fh:
        lines = fh.read().splitlines()[:200]
    zpath = tmp_path / "opendata_txt_2022.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("trafic_capteurs_2022_W00.txt", "\n".join(lines).replace(",", ";"))
    with OpenDataServer(archives=[zpath]) as server:
        listing = _run("archive", "list", "--base-url", server.url)
        assert listing.exit_code == 0 and "2022  opendata_txt_2022.zip" in listing.stdout
        store = str(tmp_path / "store")
        got = _run("archive", "get", "2022", "--out", store, "--base-url", server.url)
        assert got.exit_code == 0, got.stderr
        assert "downloaded:" in got.stdout
    assert len(pd.read_parquet(tmp_path / "store")) == 199


def test_help_everywhere() -> None:
    for cmd in (["fetch"], ["sync"], ["archive"], ["archive", "list"], ["archive", "get"]):
        run = _run(*cmd, "--help")
        assert run.exit_code == 0 and "Usage:" in run.stdout
