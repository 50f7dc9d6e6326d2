"""Under a memory limit: pyarrow's pool fits ``ulimit -v``; running out is one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from infotrafic.cli import main
from infotrafic.etl import ParquetStore

PROBE = """
import resource, sys
if sys.argv[1] == "limited":
    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, resource.RLIM_INFINITY))
import pyarrow as pa
before = pa.default_memory_pool().backend_name
from infotrafic.etl._stream import fit_arrow_pool
fit_arrow_pool()
print(before, pa.default_memory_pool().backend_name)
"""


def _pool(mode: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env=env
    )
    before, after = out.stdout.split()
    return before, after


def test_the_system_allocator_is_used_under_an_address_space_limit() -> None:
    before, after = _pool("limited")
    assert after == "system"
    free_before, free_after = _pool("unlimited")
    assert free_after == free_before  # no limit: the default pool is left alone


def test_a_pool_chosen_by_the_user_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}
    before, after = _pool("limited", env)
    assert after == before == "mimalloc"


def test_running_out_of_memory_is_one_line_and_writes_nothing(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 5.46 MiB for an array")

    monkeypatch.setattr(ParquetStore, "ingest_files", exhausted)
    out = tmp_path / "store"
    real = shared_data / "archive" / "arc5672_2023.csv.gz"
    res = CliRunner().invoke(main, ["etl", str(real), "--out", str(out)])
    assert res.exit_code == 1
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("error: out of memory") and "5.46 MiB" in last, res.output
    assert "nothing was written" in last and "Traceback" not in res.output
    assert not list(out.glob("*/*.parquet"))
