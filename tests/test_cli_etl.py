"""The ``infotrafic etl`` and ``infotrafic quality`` commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from infotrafic import PANEL_COLUMNS
from infotrafic.cli import main
from infotrafic.etl import ParquetStore, read_files


@pytest.fixture
def files(shared_data: Path, tmp_path: Path) -> list[Path]:
    """A directory with an export and an archive file (two regimes), plus a loose file."""
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    shutil.copy(shared_data / "exports" / "arc5672_2022-11_2023-12.csv.gz", d)
    shutil.copy(shared_data / "archive" / "arc5672_2023.csv.gz", d / "sub")
    (d / "notes.md").write_text("not data")
    return [d]


def test_etl_then_quality_on_store(files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(main, ["etl", *map(str, files), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "files ingested              2" in res.output
    panel = pd.read_parquet(out)
    assert tuple(panel.columns) == PANEL_COLUMNS
    expected = read_files(
        [files[0] / "arc5672_2022-11_2023-12.csv.gz", files[0] / "sub" / "arc5672_2023.csv.gz"]
    ).panel
    assert len(panel) == len(expected)
    assert panel["flow"].sum() == pytest.approx(expected["flow"].sum())

    again = runner.invoke(main, ["etl", *map(str, files), "--out", str(out), "--no-progress"])
    assert again.exit_code == 0
    assert "files skipped               2" in again.output

    q = runner.invoke(main, ["quality", str(out), "--json"])
    assert q.exit_code == 0, q.output
    data = json.loads(q.output)
    assert [a["arc_id"] for a in data["arcs"]] == [5672]
    assert data["arcs"][0]["hours_present"] == len(expected)
    assert data["arcs"][0]["hours_with_flow"] == int(expected["flow"].notna().sum())


def test_quality_files_text_equals_store(files: list[Path], tmp_path: Path) -> None:
    runner = CliRunner()
    q_files = runner.invoke(main, ["quality", *map(str, files), "--json"])
    assert q_files.exit_code == 0, q_files.output
    runner.invoke(main, ["etl", *map(str, files), "--out", str(tmp_path / "s"), "--no-progress"])
    q_store = runner.invoke(main, ["quality", str(tmp_path / "s"), "--json"])
    a, b = json.loads(q_files.output), json.loads(q_store.output)
    # the store records the duplicates it resolved per arc: same figures as reading the files
    assert a == b
    assert a["arcs"][0]["duplicates"] > 0
    text = runner.invoke(main, ["quality", *map(str, files)])
    assert text.output.splitlines()[0].split()[:2] == ["arc", "first"]
    assert text.output.splitlines()[2].split()[0] == "5672"


def test_etl_with_referentiel(shared_data: Path, tmp_path: Path) -> None:
    ref = shared_data / "referentiel" / "referentiel-comptages-routiers_2020-12.csv.gz"
    src = shared_data / "exports" / "arc191_2022-11_2023-12.csv.gz"
    out = tmp_path / "s"
    res = CliRunner().invoke(
        main, ["etl", str(src), "--out", str(out), "--arcs", str(ref), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "arcs in table" in res.output
    from infotrafic.etl import ParquetStore

    arcs = ParquetStore(out).arcs()
    assert len(arcs) > 3000
    assert arcs["arc_id"].is_unique
    assert tuple(pd.read_parquet(out).columns) == PANEL_COLUMNS


def test_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("hello;world\n1;2\n")
    runner = CliRunner()
    res = runner.invoke(main, ["etl", str(bad), "--out", str(tmp_path / "s"), "--no-progress"])
    assert res.exit_code == 1
    assert res.output.startswith("error: ") or res.stderr.startswith("error: ")
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["quality", str(tmp_path / "missing")])
    assert res.exit_code == 2  # click's usage error: path does not exist


def test_help_texts() -> None:
    runner = CliRunner()
    for cmd in ("etl", "quality"):
        res = runner.invoke(main, [cmd, "--help"])
        assert res.exit_code == 0
        assert "Usage:" in res.output
    assert "--out" in runner.invoke(main, ["etl", "--help"]).output
    assert "--json" in runner.invoke(main, ["quality", "--help"]).output


@pytest.mark.slow
def test_console_script_subprocess(shared_data: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("infotrafic")
    cmd = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from infotrafic.cli import main; main()"]
    )
    src = shared_data / "exports" / "arc191_2022-11_2023-12.csv.gz"
    out = tmp_path / "store"
    proc = subprocess.run(
        [*cmd, "etl", str(src), "--out", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "rows new" in proc.stdout
    assert "100%" in proc.stderr  # the tqdm bar went to stderr
    assert len(pd.read_parquet(out)) == len(read_files([src]).panel)
    bad = subprocess.run(
        [*cmd, "quality", str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2


def _cut_gzip(shared_data: Path, path: Path) -> Path:
    data = (shared_data / "exports" / "arc4264_2022.csv.gz").read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_gzip_is_named_by_etl_and_quality(shared_data: Path, tmp_path: Path) -> None:
    cut = _cut_gzip(shared_data, tmp_path / "in" / "cut.csv.gz")
    runner = CliRunner()
    res = runner.invoke(main, ["etl", str(cut), "--out", str(tmp_path / "s"), "--no-progress"])
    assert res.exit_code == 1 and "Aborted!" not in res.output
    assert res.stderr.splitlines() == [
        f"error: {cut}: truncated gzip: the file ends before the end of its compressed data "
        "(Compressed file ended before the end-of-stream marker was reached); copy or download "
        "it again",
        "error: 1 file(s) loaded nothing; nothing was loaded",
    ]
    assert "files failed                1" in res.stdout
    res = runner.invoke(main, ["quality", str(tmp_path / "in")])
    assert res.exit_code == 1 and res.stderr.startswith(f"error: {cut}: truncated gzip")
    assert len(res.stderr.splitlines()) == 1


def test_etl_with_a_file_that_loads_nothing(shared_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "dates.csv").write_text("iu_ac;t_1h;q\n191;not a date;5\n191;never;6\n")
    out = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(main, ["etl", str(src / "dates.csv"), "--out", str(out), "--no-progress"])
    assert res.exit_code == 1
    assert f"error: {src / 'dates.csv'}: no row could be loaded (2 read, 2 rejected" in res.stderr
    assert ParquetStore(out).file_records() == []  # not recorded as ingested
    shutil.copy(shared_data / "exports" / "arc191_2022-11_2023-12.csv.gz", src)
    res = runner.invoke(main, ["etl", str(src), "--out", str(out), "--no-progress"])
    assert res.exit_code == 1 and "files ingested              1" in res.stdout
    last = res.stderr.splitlines()[-1]
    assert last == "error: 1 file(s) loaded nothing; 1 other(s) are in the store"
    names = [f["name"] for f in json.loads((out / "_manifest.json").read_text())["files"].values()]
    assert names == ["arc191_2022-11_2023-12.csv.gz"]


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    for args in (["etl", "--out", str(tmp_path / "s")], ["quality"]):
        res = runner.invoke(main, [*args, str(tmp_path / "empty")])
        assert res.exit_code == 1
        assert res.stderr.startswith(f"error: no data files in {tmp_path / 'empty'} (looked for")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self/mem")
def test_an_unreadable_file_gives_one_line_not_a_traceback(
    shared_data: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(shared_data / "exports" / "arc191_2022-11_2023-12.csv.gz", src)
    os.symlink("/proc/self/mem", src / "unreadable.csv")  # reading fails with EIO, even as root
    runner = CliRunner()
    res = runner.invoke(main, ["etl", str(src), "--out", str(tmp_path / "s"), "--no-progress"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)  # no traceback
    assert res.stderr.splitlines()[0] == (
        f"error: {src / 'unreadable.csv'}: cannot read the file (Input/output error)"
    )
    assert "files ingested              1" in res.stdout
    res = runner.invoke(main, ["quality", str(src)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert res.stderr == (
        f"error: {src / 'unreadable.csv'}: cannot read the file (Input/output error); check "
        "that it exists and is readable\n"
    )


def test_etl_of_a_zip_with_a_damaged_member_loads_the_rest(
    shared_data: Path, tmp_path: Path
) -> None:
    """A CRC-damaged member is quarantined (and counted); the command succeeds with the rest."""
    import gzip
    import zipfile

    path = tmp_path / "opendata_txt_2022.zip"
    names = ("arc4264_2022.csv.gz", "arc5672_2022.csv.gz")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zf.writestr(name[:-3], gzip.decompress((shared_data / "archive" / name).read_bytes()))
        info = zf.getinfo(names[1][:-3])
    data = bytearray(path.read_bytes())
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle : middle + 32] = bytes(32)
    path.write_bytes(bytes(data))
    out = tmp_path / "store"
    res = CliRunner().invoke(main, ["etl", str(path), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "quarantined                 1" in res.output
    stored = ParquetStore(out)
    assert set(stored.read()["arc_id"]) == {4264}
    assert stored.quarantine()["reason"].tolist() == ["damaged_member"]


def test_etl_help_offers_dask() -> None:
    res = CliRunner().invoke(main, ["etl", "--help"])
    assert res.exit_code == 0 and "--dask ADDRESS" in res.output and "local:N" in res.output
