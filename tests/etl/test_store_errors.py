"""Files that load nothing are named, never recorded as ingested; a killed writer leaves no trace.

Issue 19: a truncated gzip, a file whose rows all fail, an empty folder, an unreadable file in a
walked folder, and the temporary files of a killed ingest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from infotrafic.etl import ParquetStore, iter_read, read_arcs, read_file, read_files
from infotrafic.exceptions import ConfigurationError, FileFormatError, IngestError

GOOD = "arc191_2021-11_2022-12.csv.gz"


@pytest.fixture
def truncated(shared_data: Path, tmp_path: Path) -> Path:
    data = (shared_data / "exports" / "arc4264_2022.csv.gz").read_bytes()
    path = tmp_path / "in" / "a_cut.csv.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def garbage_dates(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "b_dates.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("iu_ac;t_1h;q;k\n" + "".join(f"4264;someday {i};10;1\n" for i in range(6)))
    return path


@pytest.mark.parametrize("reader", [read_file, read_arcs, lambda p: list(iter_read(p))])
def test_a_truncated_gzip_is_named(truncated: Path, reader: object) -> None:
    with pytest.raises(FileFormatError, match=f"^{truncated}: truncated gzip") as exc:
        reader(truncated)  # type: ignore[operator]
    assert isinstance(exc.value.__cause__, EOFError)


def test_files_that_load_nothing_are_errors_the_others_are_ingested(
    tmp_path: Path, shared_data: Path, truncated: Path, garbage_dates: Path
) -> None:
    good = tmp_path / "in" / f"c_{GOOD}"
    good.write_bytes((shared_data / "exports" / GOOD).read_bytes())
    store = ParquetStore(tmp_path / "store")
    for _ in range(2):  # nothing is recorded for the failed files: they fail again
        with pytest.raises(IngestError, match=r"^2 of 3 file\(s\) loaded nothing") as exc:
            store.ingest_files([tmp_path / "in"])
        assert exc.value.errors[0].startswith(f"{truncated}: truncated gzip")
        assert exc.value.errors[1].startswith(f"{garbage_dates}: no row could be loaded (6 read")
        assert "t_1h = 'someday 0'" in exc.value.errors[1]
        assert exc.value.result.files_failed == 2
    assert [r["name"] for r in store.file_records()] == [good.name]
    assert len(store.read()) == len(read_files([good]).panel)


def test_a_run_that_loads_nothing_says_so(tmp_path: Path, garbage_dates: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    with pytest.raises(IngestError, match=r"loaded nothing \(none was ingested\)") as exc:
        store.ingest_files([garbage_dates])
    assert exc.value.result.files_ingested == 0 and store.file_records() == []
    header_only = garbage_dates.with_name("header.csv")
    header_only.write_text("iu_ac;t_1h;q\n")
    with pytest.raises(IngestError, match="no data row"):
        store.ingest_files([header_only])


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "_raw").mkdir(parents=True)
    (tmp_path / "empty" / "notes.md").write_text("no data here")
    with pytest.raises(ConfigurationError, match=f"no data files in {tmp_path / 'empty'}"):
        ParquetStore(tmp_path / "store").ingest_files([tmp_path / "empty"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self/mem")
def test_an_unreadable_file_in_a_walked_folder_is_named(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / GOOD).write_bytes((shared_data / "exports" / GOOD).read_bytes())
    os.symlink("/proc/self/mem", folder / "z_unreadable.csv")  # reading it fails with EIO
    store = ParquetStore(tmp_path / "store")
    with pytest.raises(IngestError) as exc:
        store.ingest_files([folder])
    assert exc.value.errors == (f"{folder / 'z_unreadable.csv'}: cannot read the file "
                                "(Input/output error)",)  # fmt: skip
    assert exc.value.result.files_ingested == 1


def test_temporary_files_of_a_killed_writer_are_removed_under_the_lock(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    times = pd.to_datetime(["2023-01-01T00:00Z"])
    store.ingest(pd.DataFrame({"arc_id": [1], "time": times, "flow": [5.0]}))
    stale = [
        store.path / "2023" / ".2023-01.parquet.k1ll3d.tmp",
        store.path / "._manifest.json.x7z.tmp",
        store.path / "_quarantine" / ".abc.parquet.q9.tmp",
    ]
    kept = [store.path / "2023" / "notes.tmp", store.raw_dir / "opendata" / ".x.csv.tmp"]
    for path in [*stale, *kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    store.ingest(pd.DataFrame({"arc_id": [1], "time": times, "flow": [5.0]}))
    assert [p.exists() for p in stale] == [False] * 3
    assert [p.exists() for p in kept] == [True] * 2  # not written by the store's atomic writes
    assert len(store.read()) == 1
