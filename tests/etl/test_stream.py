"""Streaming a yearly archive ZIP into the store: chunk and spill invariance, damaged parts.

The archives are built here from the real archive files (``tests/data/paris/archive``): each
real yearly file becomes a member, so the members overlap in time (the DST hours, duplicated
blocks and conflicts of the real files included).
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from infotrafic.etl import ParquetStore, read_file, read_files
from infotrafic.etl._stream import stage_file

MEMBERS = (
    "arc4264_2022.csv.gz",
    "arc4264_2023.csv.gz",
    "arc5672_2022.csv.gz",
    "arc191_2016.csv.gz",
)


def _archive(shared_data: Path, path: Path, names: tuple[str, ...] = MEMBERS) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zf.writestr(
                name.removesuffix(".gz"),
                gzip.decompress((shared_data / "archive" / name).read_bytes()),
            )
    return path


@pytest.fixture(scope="module")
def archive(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _archive(shared_data, tmp_path_factory.mktemp("zip") / "opendata_txt_test.zip")


def test_chunks_and_spills_do_not_change_the_result(archive: Path, tmp_path: Path) -> None:
    whole = stage_file(archive).to_result()
    small = stage_file(archive, work=tmp_path, budget_rows=3_000, chunk_rows=700).to_result()
    assert any(tmp_path.iterdir())  # the month panels went to disk
    pd.testing.assert_frame_equal(small.panel, whole.panel)
    pd.testing.assert_frame_equal(small.arcs, whole.arcs)
    assert small.report == whole.report
    assert whole.report.files[0].members == len(MEMBERS)
    assert whole.report.files[0].dst_ambiguous > 0 and whole.report.files[0].duplicates > 0


def test_zip_equals_its_members_read_as_files(
    archive: Path, shared_data: Path, tmp_path: Path
) -> None:
    """Members merge like files read in that order: the same panel and the same counts."""
    files = [shared_data / "archive" / name for name in MEMBERS]
    members = read_files(files)
    zipped = read_file(archive)
    pd.testing.assert_frame_equal(zipped.panel, members.panel)
    report = zipped.report.files[0]
    assert report.rows_read == members.report.rows_read
    assert report.quarantined == members.report.quarantined
    assert report.duplicates == members.report.duplicates
    assert report.dst_ambiguous == members.report.dst_ambiguous


def test_store_ingest_of_a_zip_equals_the_read(archive: Path, tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    summary = store.ingest_files([archive], batch_rows=1_000)
    panel = read_file(archive).panel
    pd.testing.assert_frame_equal(store.read(), panel)
    assert summary.files_ingested == 1 and summary.rows_new == len(panel)
    assert not (tmp_path / "store" / "_staging").exists()  # the work folder is gone
    again = store.ingest_files([archive])
    assert again.files_skipped == 1 and again.partitions_written == ()


def _corrupt_member(path: Path, member: str) -> None:
    """Flip bytes in the middle of one member's compressed data (its CRC no longer matches)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))


def test_a_damaged_member_is_quarantined_and_the_rest_loads(
    shared_data: Path, tmp_path: Path
) -> None:
    path = _archive(shared_data, tmp_path / "damaged.zip")
    bad = MEMBERS[1].removesuffix(".gz")
    _corrupt_member(path, bad)
    store = ParquetStore(tmp_path / "store")
    summary = store.ingest_files([path])
    good = [shared_data / "archive" / n for n in MEMBERS if n.removesuffix(".gz") != bad]
    pd.testing.assert_frame_equal(store.read(), read_files(good).panel)
    rejected = store.quarantine()
    damaged = rejected[rejected["reason"] == "damaged_member"]
    assert len(damaged) == 1 and damaged["file"].iloc[0] == f"{path}::{bad}"
    assert str(damaged["raw"].iloc[0])  # the error, for the record
    record = store.file_records()[0]
    assert record["report"]["quarantined"]["damaged_member"] == 1
    assert summary.quarantined == len(rejected)


def test_a_damaged_chunk_is_quarantined_line_by_line(tmp_path: Path) -> None:
    header = "iu_ac;t_1h;q;k\n"
    good = [
        f"7;2023-01-{d:02d} {h:02d}:00:00;{d * 100 + h};1.5\n" for d in (1, 2) for h in range(24)
    ]
    broken = ['7;2023-01-03 00:00:00;"12;1.0\n'] + [
        f"7;2023-01-03 {h:02d}:00:00;5;1.0\n" for h in range(1, 5)
    ]
    path = tmp_path / "week.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w01.txt", header + "".join(good + broken))
    staged = stage_file(path, chunk_rows=10)
    result = staged.to_result()
    assert len(result.panel) == len(good)  # every line before the unterminated quote
    q = result.quarantine
    assert set(q["reason"]) == {"damaged_chunk"}
    assert q["line"].tolist() == list(range(2 + len(good), 2 + len(good) + len(broken)))
    report = result.report.files[0]
    assert report.rows_read == report.rows_loaded + report.n_quarantined


def test_state_labels_after_numeric_blocks_read_as_labels(tmp_path: Path) -> None:
    """States are parsed as integers until a block has labels: the same as labels throughout."""
    traffic = ("Inconnu", "Fluide", "Pré-saturé", "Saturé", "Bloqué")
    closure = ("Inconnu", "Ouvert", "Barré", "Invalide")
    hours = pd.date_range("2023-01-02 01:00", periods=600, freq="h")

    def text(labels_from: int) -> str:
        lines = ["iu_ac;t_1h;q;k;etat_trafic;etat_barre"]
        for i, t in enumerate(hours):
            ts, cs = i % 5, i % 4
            state = f"{traffic[ts]};{closure[cs]}" if i >= labels_from else f"{ts};{cs}"
            if i in (10, 500):  # not a state: counted, then missing
                state = "9;" + state.split(";")[1] if i == 10 else "Weird;" + state.split(";")[1]
            lines.append(f"{100 + i % 3};{t:%Y-%m-%d %H:%M:%S};{i};1.5;{state}")
        return "\n".join(lines) + "\n"

    (tmp_path / "mixed.txt").write_text(text(400), encoding="utf-8")
    (tmp_path / "labels.txt").write_text(text(0), encoding="utf-8")
    mixed = stage_file(tmp_path / "mixed.txt", chunk_rows=50).to_result()
    labels = stage_file(tmp_path / "labels.txt").to_result()
    pd.testing.assert_frame_equal(mixed.panel, labels.panel)
    assert mixed.report.files[0].unknown_codes == {"traffic_state": 2}
    assert mixed.report.files[0].unknown_codes == labels.report.files[0].unknown_codes
    assert mixed.panel["traffic_state"].isna().sum() == 2


DEFLATE64_CHILD = """
import sys
sys.modules["zipfile_deflate64"] = None  # as if the optional package were not installed
from infotrafic.etl import ParquetStore
from infotrafic.exceptions import IngestError
store = ParquetStore(sys.argv[2])
try:
    store.ingest_files([sys.argv[1]])
except IngestError as exc:
    print(exc.errors[0])
print("partitions", len(store.partitions()))
"""


def test_a_deflate64_member_without_the_extra_names_it_and_loads_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = Path(__file__).parent / "data" / "opendata_txt_mini_deflate64.zip"
    out = subprocess.run(
        [sys.executable, "-c", DEFLATE64_CHILD, str(data), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "deflate64" in out and "pip install 'infotrafic[archive]'" in out
    assert out.strip().endswith("partitions 0")
