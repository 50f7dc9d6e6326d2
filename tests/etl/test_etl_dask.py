"""``infotrafic etl --dask``: files read on a real Dask cluster, the same store as a serial run.

The cluster is real: a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1
(``tests/backtest/_dask_cluster.py``), reached through the command line like a user would.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from infotrafic.cli import main
from infotrafic.etl import ParquetStore

pytest.importorskip("distributed")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backtest"))
from _dask_cluster import Cluster  # the tests' one loopback cluster helper

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask"), n_workers=2)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def inputs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Yearly files of the real archive, plus one ZIP of several of them (and a bad file)."""
    root = tmp_path_factory.mktemp("inputs")
    archive = root / "opendata_txt_2016.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ("arc191_2016.csv.gz", "arc5671_2016.csv.gz", "arc4264_2016.csv.gz"):
            data = gzip.decompress((shared_data / "archive" / name).read_bytes())
            zf.writestr(name.removesuffix(".gz"), data)
    (root / "empty.csv").write_text("iu_ac;t_1h;q\n")  # loads nothing: named, not recorded
    (root / "fixes.csv").write_text(  # a later file wins; one row is quarantined
        "iu_ac;t_1h;q\n4264;2016-06-01 10:00:00;abc\n4264;2016-06-01 11:00:00;12\n"
    )
    files = sorted((shared_data / "archive").glob("arc4264_20*.csv.gz"))
    return [*files, archive, root / "fixes.csv", root / "empty.csv"]


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def _etl(out: Path, inputs: list[Path], *extra: str) -> str:
    res = CliRunner().invoke(
        main, ["etl", *map(str, inputs), "--out", str(out), "--no-progress", *extra]
    )
    assert res.exit_code == 1, res.output  # the empty file
    assert "empty.csv: no data row" in res.stderr
    return res.stdout


def test_dask_etl_writes_the_bytes_of_a_serial_run(
    cluster: Cluster, inputs: list[Path], tmp_path: Path
) -> None:
    serial = _etl(tmp_path / "serial", inputs)
    parallel = _etl(tmp_path / "dask", inputs, "--dask", cluster.address)
    assert parallel == serial.replace(str(tmp_path / "serial"), str(tmp_path / "dask"))
    snap = _snapshot(tmp_path / "dask")
    assert snap == _snapshot(tmp_path / "serial")
    assert any(k.startswith("2016/") for k in snap) and any(
        k.startswith("_quarantine") for k in snap
    )
    records = ParquetStore(tmp_path / "dask").file_records()
    assert {r["name"] for r in records} == {p.name for p in inputs[:-1]}
    assert not (tmp_path / "dask" / "_staging").exists()
    # idempotent: a second parallel run changes nothing
    again = _etl(tmp_path / "dask", inputs, "--dask", cluster.address)
    assert "files skipped" in again and _snapshot(tmp_path / "dask") == snap


def test_unreachable_scheduler_is_named(inputs: list[Path], tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        ["etl", str(inputs[0]), "--out", str(tmp_path / "s"), "--dask", "tcp://127.0.0.1:9"],
    )
    assert res.exit_code == 1
    assert "tcp://127.0.0.1:9" in res.stderr and "dask scheduler" in res.stderr
    assert not ParquetStore(tmp_path / "s").partitions()
