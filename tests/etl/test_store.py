"""ParquetStore: layout, idempotence, merge, atomicity, filters, latest_time."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infotrafic import PANEL_COLUMNS, validate_panel
from infotrafic.etl._store import IngestSummary, ParquetStore, expand_paths
from infotrafic.exceptions import DataValidationError, StoreError


def make_panel(arcs: list[int], start: str, hours: int, *, flow0: float = 100.0) -> pd.DataFrame:
    times = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    frames = []
    for k, arc in enumerate(arcs):
        frames.append(
            pd.DataFrame(
                {
                    "arc_id": arc,
                    "time": times,
                    "flow": flow0 + k + np.arange(hours, dtype="float64"),
                    "occupancy": 1.5,
                    "traffic_state": pd.array([1] * hours, dtype="Int8"),
                    "closure_state": pd.array([3] * hours, dtype="Int8"),
                }
            )
        )
    return validate_panel(pd.concat(frames, ignore_index=True))


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file of the store except the lock."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "_lock"
    }


def test_layout_and_read_parquet_columns(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "s")
    panel = make_panel([4264, 191], "2023-01-31 20:00", 10)  # spans two UTC months
    summary = store.ingest(panel)
    assert summary.rows_new == 20
    assert summary.partitions_written == ("2023/2023-01.parquet", "2023/2023-02.parquet")
    assert [p.name for p in store.partitions()] == ["2023-01.parquet", "2023-02.parquet"]
    (tmp_path / "s" / "_raw").mkdir()
    (tmp_path / "s" / "_raw" / "x.parquet").write_bytes(b"not parquet")
    whole = pd.read_parquet(tmp_path / "s")
    assert tuple(whole.columns) == PANEL_COLUMNS
    assert {c: str(t) for c, t in whole.dtypes.items()} == {
        "arc_id": "int64",
        "time": "datetime64[ns, UTC]",
        "flow": "float64",
        "occupancy": "float64",
        "traffic_state": "Int8",
        "closure_state": "Int8",
    }
    got = whole.sort_values(["arc_id", "time"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, panel)
    # each partition is sorted by arc_id, time
    part = pd.read_parquet(store.partitions()[0])
    assert part.equals(part.sort_values(["arc_id", "time"]).reset_index(drop=True))


def test_ingest_twice_is_idempotent(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path)
    panel = make_panel([1, 2], "2023-03-01", 48)
    store.ingest(panel)
    before = snapshot(tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in store.partitions()}
    again = store.ingest(panel)
    assert again == IngestSummary(rows_unchanged=96, duplicates=96)
    assert snapshot(tmp_path) == before
    assert {p: p.stat().st_mtime_ns for p in store.partitions()} == mtimes
    pd.testing.assert_frame_equal(store.read(), panel)


def test_overlapping_merge_uses_dedupe_policy(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path)
    first = make_panel([7], "2023-05-01 00:00", 6)  # 00:00..05:00
    second = make_panel([7], "2023-05-01 03:00", 6, flow0=500.0)  # 03:00..08:00
    # hour 03:00 of the second file has no flow: the existing flow must be kept (non-null wins)
    second.loc[0, "flow"] = np.nan
    store.ingest(first)
    s = store.ingest(second)
    assert (s.rows_new, s.rows_updated, s.rows_unchanged) == (3, 2, 1)
    assert s.duplicates == 3
    assert s.conflicts == 2  # 04:00 and 05:00 carry different flows
    got = store.read().set_index("time")["flow"]
    assert len(got) == 9
    assert got[pd.Timestamp("2023-05-01 03:00Z")] == 103.0  # kept: only non-null flow
    assert got[pd.Timestamp("2023-05-01 04:00Z")] == 501.0  # later data wins
    assert got[pd.Timestamp("2023-05-01 08:00Z")] == 505.0
    assert not store.read().duplicated(["arc_id", "time"]).any()


def test_duplicates_within_input_are_resolved(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path)
    panel = make_panel([1], "2023-01-01", 3)
    doubled = pd.concat([panel, panel.assign(flow=panel["flow"] + 1)], ignore_index=True)
    s = store.ingest(doubled)
    assert (s.rows_new, s.duplicates, s.conflicts) == (3, 3, 3)
    assert store.read()["flow"].tolist() == [101.0, 102.0, 103.0]


def test_read_filters(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path)
    store.ingest(make_panel([1, 2, 3], "2023-01-30 00:00", 24 * 5))  # Jan 30 -> Feb 3 UTC
    got = store.read(arcs=[2], start="2023-02-01 01:00", end="2023-02-01 04:00")
    # naive bounds are Paris local time (UTC+1 in winter): 00:00Z <= time < 03:00Z
    assert got["arc_id"].unique().tolist() == [2]
    assert got["time"].tolist() == list(
        pd.date_range("2023-02-01 00:00", periods=3, freq="h", tz="UTC")
    )
    aware = store.read(start=pd.Timestamp("2023-02-03 22:00Z"))
    assert sorted(aware["time"].unique()) == [
        pd.Timestamp("2023-02-03 22:00Z"),
        pd.Timestamp("2023-02-03 23:00Z"),
    ]
    assert len(aware) == 6
    assert store.read(arcs=[99]).empty
    assert tuple(store.read(end="2000-01-01").columns) == PANEL_COLUMNS
    assert len(store.read()) == 3 * 120


def test_latest_time(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path)
    assert store.latest_time() == {}
    store.ingest(make_panel([1, 2], "2023-01-01", 10))
    store.ingest(make_panel([2], "2023-03-05", 5))
    assert store.latest_time() == {
        1: pd.Timestamp("2023-01-01 09:00Z"),
        2: pd.Timestamp("2023-03-05 04:00Z"),
    }
    assert store.latest_time([1]) == {1: pd.Timestamp("2023-01-01 09:00Z")}
    assert store.latest_time([5]) == {}


def test_atomic_write_crash_keeps_previous_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ParquetStore(tmp_path)
    store.ingest(make_panel([1], "2023-01-01", 5))
    before = snapshot(tmp_path)
    import pyarrow.parquet as pq

    real_write = pq.write_table

    def crashing_write(table, where, **kwargs):  # type: ignore[no-untyped-def]
        real_write(table.slice(0, 1), where, **kwargs)  # a partial temp file exists...
        raise OSError("disk full (simulated crash)")  # ...and the process dies

    monkeypatch.setattr(pq, "write_table", crashing_write)
    with pytest.raises(OSError, match="simulated"):
        store.ingest(make_panel([1], "2023-01-01 03:00", 5, flow0=7.0))
    monkeypatch.undo()
    assert snapshot(tmp_path) == before  # no temp file left, partition untouched
    assert len(store.read()) == 5
    # the interrupted ingest can simply be run again
    s = store.ingest(make_panel([1], "2023-01-01 03:00", 5, flow0=7.0))
    assert s.rows_new == 3
    assert len(store.read()) == 8


def test_crash_at_rename_keeps_previous_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ParquetStore(tmp_path)
    store.ingest(make_panel([1], "2023-01-01", 5))
    before = snapshot(tmp_path)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("power cut before rename (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        store.ingest(make_panel([1], "2023-01-01 02:00", 5, flow0=9.0))
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_store_errors(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        ParquetStore(f)
    store = ParquetStore(tmp_path / "s")
    store.ingest(make_panel([1], "2023-01-01", 2))
    store.partitions()[0].write_bytes(b"garbage")
    with pytest.raises(StoreError, match="ingest the files"):
        store.read()
    (tmp_path / "s" / "_manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="manifest"):
        store.manifest()
    with pytest.raises(DataValidationError):
        store.ingest(pd.DataFrame({"arc_id": [1]}))


def test_lock_timeout(tmp_path: Path) -> None:
    from filelock import FileLock

    store = ParquetStore(tmp_path, lock_timeout=0.1)
    with FileLock(str(tmp_path / "_lock")), pytest.raises(StoreError, match="lock"):
        store.ingest(make_panel([1], "2023-01-01", 2))


def test_arcs_and_quarantine_kept(tmp_path: Path) -> None:
    from infotrafic import ARC_COLUMNS

    class Result:
        panel = make_panel([1], "2023-01-01", 2)
        arcs = pd.DataFrame([dict.fromkeys(ARC_COLUMNS) | {"arc_id": 1, "name": "A"}])
        quarantine = pd.DataFrame(
            {"file": ["f.csv"], "line": [3], "field": ["q"], "reason": ["bad_flow"], "raw": ["x"]}
        )

    store = ParquetStore(tmp_path)
    assert store.arcs().empty and store.quarantine().empty
    s = store.ingest(Result())
    assert s.quarantined == 1
    assert store.arcs()["name"].tolist() == ["A"]
    assert store.quarantine()[["file", "line", "reason"]].to_dict("records") == [
        {"file": "f.csv", "line": 3, "reason": "bad_flow"}
    ]
    store.ingest(Result())  # the same rejected rows are not stored twice
    assert len(store.quarantine()) == 1
    assert tuple(pd.read_parquet(tmp_path).columns) == PANEL_COLUMNS


def test_expand_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/x.csv.gz", "a/y.JSON", "a/z.zip", "a/readme.md", "a/.hidden.csv", "b.txt"):
        (tmp_path / name).write_text("")
    got = [
        p.relative_to(tmp_path).as_posix()
        for p in expand_paths([tmp_path / "a", tmp_path / "b.txt"])
    ]
    assert got == ["a/x.csv.gz", "a/y.JSON", "a/z.zip", "b.txt"]
    with pytest.raises(StoreError, match="no such file"):
        expand_paths([tmp_path / "nope"])


def test_ingest_result_with_only_quarantine(tmp_path: Path) -> None:
    from infotrafic import empty_panel

    class Result:
        panel = empty_panel()
        arcs = pd.DataFrame()
        quarantine = pd.DataFrame(
            {"file": ["f"], "line": [2], "field": ["t_1h"], "reason": ["bad_time"], "raw": ["?"]}
        )

    store = ParquetStore(tmp_path)
    s = store.ingest(Result())
    assert (s.rows_new, s.quarantined, s.partitions_written) == (0, 1, ())
    assert store.read().empty
    assert store.latest_time() == {}
