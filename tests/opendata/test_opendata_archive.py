"""Historical archive: list the yearly ZIPs, download one with resume, hand it to the ETL."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from infotrafic.exceptions import OpenDataError
from infotrafic.opendata import OpenDataClient, RetryPolicy
from infotrafic.testing import Fault, OpenDataServer

pytestmark = pytest.mark.server


@pytest.fixture
def archive(shared_data: Path, tmp_path: Path) -> Path:
    """A yearly ZIP laid out like the portal's (weekly `;` text files) from real 2023 rows."""
    with gzip.open(shared_data / "archive" / "arc4264_2023.csv.gz", "rt") as fh:
        lines = fh.read().splitlines()
    path = tmp_path / "served" / "opendata_txt_2023.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for week, begin in enumerate(range(1, 1 + 24 * 7 * 4, 24 * 7)):
            body = [lines[0], *lines[begin : begin + 24 * 7]]
            zf.writestr(f"trafic_capteurs_2023_W{week:02d}.txt", "\n".join(body).replace(",", ";"))
    return path


def test_list_and_download_with_resume_then_read(archive: Path, tmp_path: Path) -> None:
    other = archive.with_name("opendata_txt_2022.zip")
    other.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    policy = RetryPolicy(backoff_base=0.001, jitter=0.0)
    with (
        OpenDataServer(archives=[archive, other]) as server,
        OpenDataClient(server.url, retry=policy) as client,
    ):
        listing = client.list_archives()
        assert [(a.title, a.year) for a in listing] == [
            ("opendata_txt_2022.zip", 2022),
            ("opendata_txt_2023.zip", 2023),
        ]
        server.faults.push(Fault.truncate(0.4, path="/attachments/"))
        dest = tmp_path / "raw"
        dest.mkdir()
        path = client.download_archive(2023, dest)
        assert path == dest / "opendata_txt_2023.zip"
        assert path.read_bytes() == archive.read_bytes()
        downloads = [r for r in server.requests if "/attachments/" in r.path]
        assert len(downloads) == 2 and downloads[0].fault == "truncate"
        first_part = int(archive.stat().st_size * 0.4)
        assert downloads[1].headers["Range"] == f"bytes={first_part}-"
        assert downloads[1].status == 206
        assert not list(dest.glob("*.part"))
        # already there: no new request
        assert client.download_archive("opendata_txt_2023.zip", dest) == path
        assert len([r for r in server.requests if "/attachments/" in r.path]) == 2
        with pytest.raises(OpenDataError, match="1999"):
            client.download_archive(1999, dest)

    from infotrafic.etl import read_file

    panel = read_file(path).panel
    assert len(panel) == 4 * 24 * 7 and panel["arc_id"].unique().tolist() == [4264]


@pytest.mark.parametrize("mode", ["close", "clean"])
def test_a_body_cut_without_a_length_is_caught_by_the_zip_check(
    archive: Path, tmp_path: Path, mode: str
) -> None:
    """No Content-Length and a closed connection: only the ZIP's own end record reveals the cut."""
    policy = RetryPolicy(backoff_base=0.001, jitter=0.0)
    with (
        OpenDataServer(archives=[archive]) as server,
        OpenDataClient(server.url, retry=policy) as client,
    ):
        server.faults.push(Fault.truncate(0.5, mode=mode, path="/attachments/"))
        path = client.download_archive(2023, tmp_path)
        downloads = [r for r in server.requests if "/attachments/" in r.path]
        assert downloads[0].fault == "truncate" and len(downloads) == 2
    assert path.read_bytes() == archive.read_bytes()
    assert not list(tmp_path.glob("*.part"))
