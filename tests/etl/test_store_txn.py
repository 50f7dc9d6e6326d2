"""A failed or killed ingest leaves the store as it was; a decided commit is finished later.

Failures are injected for real: an exception raised inside the merge, and ``SIGKILL`` of the
writing process (a child Python process) before and in the middle of its commit.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from infotrafic.etl import ParquetStore, read_files
from infotrafic.etl._txn import STAGING

FIRST = ("arc4264_2021.csv.gz", "arc5672_2021.csv.gz")
SECOND = ("arc4264_2022.csv.gz", "arc5672_2022.csv.gz", "arc191_2020.csv.gz")


def _snapshot(root: Path) -> dict[str, str]:
    """Every file of the store (the lock file aside) and its content hash."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "_lock"
    }


def _files(shared_data: Path, names: tuple[str, ...]) -> list[Path]:
    return [shared_data / "archive" / n for n in names]


@pytest.fixture()
def store(shared_data: Path, tmp_path: Path) -> ParquetStore:
    store = ParquetStore(tmp_path / "store")
    store.ingest_files(_files(shared_data, FIRST))
    return store


def test_an_exception_during_the_merge_leaves_the_store_unchanged(
    store: ParquetStore, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(store.path)

    def boom(self: ParquetStore, arcs: pd.DataFrame) -> None:
        raise OSError("disk full (injected)")

    # partitions of the new files are already staged when the arcs table is merged
    monkeypatch.setattr(ParquetStore, "_merge_arcs", boom)
    with pytest.raises(OSError, match="injected"):
        store.ingest_files(_files(shared_data, SECOND))
    assert _snapshot(store.path) == before
    assert not (store.path / STAGING).exists()


CHILD = """
import os, signal, sys
from infotrafic.etl import ParquetStore
from infotrafic.etl import _txn

where = sys.argv[1]
if where == "before_commit":
    def commit(self):
        os.kill(os.getpid(), signal.SIGKILL)
    _txn.Transaction.commit = commit
else:  # in the middle of the commit: the journal is written, one file moved
    import json
    def apply(root, folder):
        first = json.loads((folder / "_commit.json").read_text())["files"][0]
        (root / first).parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder / first, root / first)
        os.kill(os.getpid(), signal.SIGKILL)
    _txn._apply = apply
ParquetStore(sys.argv[2]).ingest_files(sys.argv[3:])
"""


def _killed(where: str, store: ParquetStore, files: list[Path]) -> None:
    script = textwrap.dedent(CHILD)
    proc = subprocess.run(
        [sys.executable, "-c", script, where, str(store.path), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_killed_before_the_commit_the_store_is_unchanged(
    store: ParquetStore, shared_data: Path
) -> None:
    before = _snapshot(store.path)
    _killed("before_commit", store, _files(shared_data, SECOND))
    assert (store.path / STAGING).exists()  # what the killed writer staged ...
    after = {k: v for k, v in _snapshot(store.path).items() if not k.startswith(STAGING)}
    assert after == before  # ... and nothing else
    pd.testing.assert_frame_equal(store.read(), read_files(_files(shared_data, FIRST)).panel)
    store.ingest_arcs(pd.DataFrame({"arc_id": []}).astype("int64"))  # any writer cleans up
    assert not (store.path / STAGING).exists()
    assert _snapshot(store.path) == before


def test_killed_during_the_commit_the_next_writer_finishes_it(
    store: ParquetStore, shared_data: Path, tmp_path: Path
) -> None:
    _killed("during_commit", store, _files(shared_data, SECOND))
    assert (store.path / STAGING).exists()
    store.ingest_arcs(pd.DataFrame({"arc_id": []}).astype("int64"))  # recovers
    clean = ParquetStore(tmp_path / "clean")
    clean.ingest_files(_files(shared_data, FIRST))
    clean.ingest_files(_files(shared_data, SECOND))
    pd.testing.assert_frame_equal(store.read(), clean.read())
    assert {r["name"] for r in store.file_records()} == {r["name"] for r in clean.file_records()}
    parts = sorted(p.relative_to(store.path) for p in store.partitions())
    assert parts == sorted(p.relative_to(clean.path) for p in clean.partitions())
    for part in parts:
        assert (store.path / part).read_bytes() == (clean.path / part).read_bytes()
    # running the same ingest again adds nothing
    assert store.ingest_files(_files(shared_data, SECOND)).files_skipped == len(SECOND)
