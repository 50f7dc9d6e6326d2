"""The byte progress bar of archive downloads: `archive get --progress` and the library's flag."""

from __future__ import annotations

import gzip
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tqdm import tqdm

from infotrafic.cli import main
from infotrafic.opendata import OpenDataClient, RetryPolicy
from infotrafic.testing import Fault, OpenDataServer

pytestmark = pytest.mark.server

ENV = {"INFOTRAFIC_MAX_RETRIES": "3", "INFOTRAFIC_MAX_QUOTA_WAIT": "5"}
BAR = re.compile(r"opendata_txt_2023\.zip: +\d+%\|")


@pytest.fixture(scope="module")
def archive(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A yearly ZIP of real 2023 rows of arc 4264 (weekly `;` text files, stored uncompressed)."""
    with gzip.open(shared_data / "archive" / "arc4264_2023.csv.gz", "rt") as fh:
        lines = fh.read().splitlines()
    path = tmp_path_factory.mktemp("served") / "opendata_txt_2023.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for week, begin in enumerate(range(1, 1 + 24 * 7 * 8, 24 * 7)):
            body = [lines[0], *lines[begin : begin + 24 * 7]]
            zf.writestr(f"trafic_capteurs_2023_W{week:02d}.txt", "\n".join(body).replace(",", ";"))
    return path


@pytest.fixture
def server(archive: Path) -> Iterator[OpenDataServer]:
    with OpenDataServer(archives=[archive]) as s:
        yield s


def _size(nbytes: int) -> str:
    """The size as the bar writes it (binary multiples, three digits)."""
    return str(tqdm.format_sizeof(nbytes, divisor=1024))


def _get(server: OpenDataServer, out: Path, *options: str) -> Result:
    return CliRunner().invoke(
        main,
        ["archive", "get", "2023", "--no-ingest", "--out", str(out), "--base-url", server.url,
         *options],
        env=ENV,
        catch_exceptions=False,
    )  # fmt: skip


def _final_state(stderr: str) -> str:
    """The last drawing of the bar (tqdm redraws it after a carriage return)."""
    return stderr.replace("\n", "\r").rstrip("\r").rsplit("\r", 1)[-1]


def test_progress_shows_full_size(server: OpenDataServer, archive: Path, tmp_path: Path) -> None:
    run = _get(server, tmp_path / "raw", "--progress")
    assert run.exit_code == 0, run.stderr
    assert "downloaded:" in run.stdout and "%|" not in run.stdout
    size = archive.stat().st_size
    final = _final_state(run.stderr)
    assert BAR.match(final) and "100%" in final, run.stderr
    assert f" {_size(size)}/{_size(size)} " in final
    assert (tmp_path / "raw" / archive.name).read_bytes() == archive.read_bytes()


@pytest.mark.parametrize("options", [[], ["--no-progress"]])
def test_no_bar_by_default_off_a_terminal(
    server: OpenDataServer, archive: Path, tmp_path: Path, options: list[str]
) -> None:
    run = _get(server, tmp_path / "raw", *options)  # CliRunner's stderr is not a terminal
    assert run.exit_code == 0, run.stderr
    assert run.stderr == ""
    assert (tmp_path / "raw" / archive.name).read_bytes() == archive.read_bytes()


def test_resumed_download_ends_at_full_size(
    server: OpenDataServer, archive: Path, tmp_path: Path
) -> None:
    server.faults.push(Fault.truncate(0.4, path="/attachments/"))
    run = _get(server, tmp_path / "raw", "--progress")
    assert run.exit_code == 0, run.stderr
    size = archive.stat().st_size
    first = int(size * 0.4)
    downloads = [r for r in server.requests if "/attachments/" in r.path]
    assert [d.status for d in downloads] == [200, 206]
    assert downloads[1].headers["Range"] == f"bytes={first}-"
    # the retry warning clears the bar and takes a line of its own (tqdm.write)
    warning = r"\r *\r\S+ WARNING infotrafic\.opendata: archive opendata_txt_2023\.zip: .*\n"
    assert re.search(warning, run.stderr), run.stderr
    # the bar starts again from the bytes on disk, not from zero, and ends at the full size
    assert f" {_size(first)}/{_size(size)} " in run.stderr
    final = _final_state(run.stderr)
    assert "100%" in final and f" {_size(size)}/{_size(size)} " in final
    assert (tmp_path / "raw" / archive.name).read_bytes() == archive.read_bytes()
    assert not list((tmp_path / "raw").glob("*.part"))


def test_library_flag(
    server: OpenDataServer, archive: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    policy = RetryPolicy(backoff_base=0.001, jitter=0.0)
    with OpenDataClient(server.url, retry=policy) as client:
        path = client.download_archive(2023, tmp_path / "quiet")
        out, err = capfd.readouterr()
        assert out == err == ""
        path = client.download_archive(2023, tmp_path / "shown", progress=True)
        out, err = capfd.readouterr()
    size = archive.stat().st_size
    assert out == ""
    final = _final_state(err)
    assert BAR.match(final) and "100%" in final and f" {_size(size)}/{_size(size)} " in final
    assert path.read_bytes() == archive.read_bytes()
