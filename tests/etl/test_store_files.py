"""ParquetStore with real files: ingest_files, manifest, raw area, concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from infotrafic import PANEL_COLUMNS
from infotrafic.etl import ParquetStore, read_files


@pytest.fixture(scope="module")
def two_exports(shared_data: Path) -> list[Path]:
    return [
        shared_data / "exports" / "arc4264_2022.csv.gz",
        shared_data / "exports" / "arc4264_2022-11_2023-12.csv.gz",
    ]


def test_ingest_files_matches_read_files(tmp_path: Path, two_exports: list[Path]) -> None:
    store = ParquetStore(tmp_path / "store")
    s = store.ingest_files(two_exports)
    assert s.files_ingested == 2 and s.files_skipped == 0
    reference = read_files(two_exports)
    expected = reference.panel
    pd.testing.assert_frame_equal(store.read(), expected)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "store").sort_values(["arc_id", "time"]).reset_index(drop=True),
        expected,
    )
    # the overlap (2022-11 and 2022-12 are in both exports) was merged, not duplicated
    assert s.duplicates == reference.report.duplicates > 500
    assert s.conflicts == reference.report.conflicts
    assert s.rows_new == len(expected)
    # raw area keeps the files byte for byte; manifest records them by content hash
    for path in two_exports:
        assert (store.raw_dir / path.name).read_bytes() == path.read_bytes()
    records = store.file_records()
    assert sorted(r["name"] for r in records) == sorted(p.name for p in two_exports)
    assert all(r["arcs"] == [4264] for r in records)
    assert store.latest_time([4264]) == {4264: expected["time"].max()}
    merge = store.manifest()["merge"]
    assert merge["by_arc"] == {"4264": [merge["duplicates"], merge["conflicts"]]}
    assert merge["duplicates"] == reference.report.merge_duplicates


def test_ingest_files_twice_adds_nothing(tmp_path: Path, two_exports: list[Path]) -> None:
    store = ParquetStore(tmp_path)
    store.ingest_files(two_exports[:1])
    files_before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = store.ingest_files(two_exports[:1])
    assert again.files_skipped == 1 and again.files_ingested == 0 and again.rows_new == 0
    files_after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    files_before.pop(tmp_path / "_lock", None)
    files_after.pop(tmp_path / "_lock", None)
    assert files_after == files_before
    # the same content under another name is recognised too
    copy = tmp_path.parent / "renamed.csv.gz"
    copy.write_bytes(two_exports[0].read_bytes())
    assert store.ingest_files([copy]).files_skipped == 1


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from infotrafic.etl import ParquetStore
    root, seed = sys.argv[1], int(sys.argv[2])
    store = ParquetStore(root)
    times = pd.date_range("2023-01-25", periods=24 * 14, freq="h", tz="UTC")
    for k in range(6):  # overlapping panels, spanning two months, ingested in turns
        chunk = times[k * 40 : k * 40 + 120]
        panel = pd.DataFrame({"arc_id": 1 + (np.arange(len(chunk)) % 3), "time": chunk,
                              "flow": float(seed)})
        panel = pd.concat([panel.assign(arc_id=a) for a in (1, 2, 3)], ignore_index=True)
        store.ingest(panel)
    """
)


@pytest.mark.slow
def test_concurrent_writers_do_not_corrupt(tmp_path: Path) -> None:
    root = tmp_path / "store"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(seed)]) for seed in (1, 2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    panel = pd.read_parquet(root)
    assert tuple(panel.columns) == PANEL_COLUMNS
    assert not panel.duplicated(["arc_id", "time"]).any()
    # every hour written by either process is there, once, with one of the two values
    hours = pd.date_range("2023-01-25", periods=320, freq="h", tz="UTC")
    assert len(panel) == 3 * len(hours)
    assert set(panel["flow"].unique()) <= {1.0, 2.0}
    assert not list(root.rglob(".*.tmp"))  # no temp file left behind


_FILE_WRITER = (
    "import sys; from infotrafic.etl import ParquetStore; "
    "ParquetStore(sys.argv[1]).ingest_files(sys.argv[2:])"
)


@pytest.mark.slow
def test_concurrent_ingest_files(tmp_path: Path, two_exports: list[Path]) -> None:
    root = tmp_path / "store"
    args = [sys.executable, "-c", _FILE_WRITER, str(root), *map(str, two_exports)]
    procs = [subprocess.Popen(args) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = ParquetStore(root)
    pd.testing.assert_frame_equal(store.read(), read_files(two_exports).panel)
    manifest = json.loads((root / "_manifest.json").read_text())
    assert len(manifest["files"]) == 2
    assert sorted(p.name for p in store.raw_dir.iterdir()) == sorted(p.name for p in two_exports)
