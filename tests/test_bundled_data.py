"""The real Paris files are in the repository, intact, and a missing one fails (never skips)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bundled_data import BUNDLED, ENV, MissingDataError, locate, manifest


def test_bundled_files_match_the_manifest_byte_for_byte() -> None:
    sums = manifest()
    on_disk = {
        p.relative_to(BUNDLED).as_posix()
        for p in BUNDLED.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    assert on_disk == set(sums)
    assert {name.split("/")[0] for name in sums} >= {
        "api",
        "archive",
        "exports",
        "multi-arc",
        "referentiel",
    }
    for name, digest in sums.items():
        assert hashlib.sha256((BUNDLED / name).read_bytes()).hexdigest() == digest, name


def test_the_bundled_folder_is_used_by_default(shared_data: Path) -> None:
    assert locate({}) == BUNDLED
    assert shared_data == locate()


def test_a_missing_bundled_file_is_an_error_naming_the_path_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "paris"
    shutil.copytree(BUNDLED, copy)
    gone = copy / "exports" / "arc4264_2022.csv.gz"
    gone.unlink()
    import bundled_data

    monkeypatch.setattr(bundled_data, "BUNDLED", copy)
    with pytest.raises(MissingDataError, match="git checkout -- tests/data/paris") as info:
        bundled_data.locate({})
    assert str(gone) in str(info.value)


def test_an_override_to_a_missing_folder_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    nowhere = tmp_path / "nonexistent"
    with pytest.raises(MissingDataError, match=ENV) as info:
        locate({ENV: str(nowhere)})
    assert str(nowhere) in str(info.value)


def test_an_override_missing_one_file_names_it(tmp_path: Path) -> None:
    shutil.copytree(BUNDLED, tmp_path / "other")
    (tmp_path / "other" / "referentiel" / "referentiel-comptages-routiers_2020-12.csv.gz").unlink()
    with pytest.raises(MissingDataError, match="referentiel-comptages-routiers_2020-12"):
        locate({ENV: str(tmp_path / "other")})


def test_an_override_with_every_file_is_used(tmp_path: Path) -> None:
    shutil.copytree(BUNDLED, tmp_path / "other")
    assert locate({ENV: str(tmp_path / "other")}) == tmp_path / "other"


def test_the_fixture_fails_the_test_instead_of_skipping_it(tmp_path: Path) -> None:
    here = Path(__file__).parent
    for name in ("conftest.py", "bundled_data.py"):
        shutil.copy(here / name, tmp_path / name)
    (tmp_path / "test_needs_data.py").write_text(
        "def test_reads(shared_data):\n    assert shared_data.is_dir()\n"
    )
    nowhere = tmp_path / "nonexistent"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        # third-party plugins are irrelevant here and take seconds to load
        env={**os.environ, ENV: str(nowhere), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 error" in run.stdout and "skipped" not in run.stdout, run.stdout
    assert f"real data folder {nowhere} not found" in run.stdout
