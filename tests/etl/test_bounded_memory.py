"""Ingesting an archive ZIP takes memory bounded by a month, not by the file's size.

A synthetic archive (weekly ``;`` members in the archive's raw layout, labelled synthetic) is
ingested in a fresh Python process whose peak RSS (``ru_maxrss``) is compared with its RSS
before the ingest. With a small in-memory budget, a year costs about what a quarter costs:
the year (four times the rows) must stay within 1.5 times the quarter's extra memory (plus a
small allowance), and under an absolute limit.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

pytestmark = pytest.mark.slow

N_ARCS = 120
LIMIT_MB = 400  # extra RSS allowed for the ingest of the year (about 1 M rows)

CHILD = """
import json, resource, sys
from infotrafic.etl import ParquetStore, _stream
_stream.BUDGET_ROWS = 40_000  # spill early: what a full-size year does with the default
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = ParquetStore(sys.argv[2]).ingest_files([sys.argv[1]], batch_rows=40_000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_mb": before / 1024, "peak_mb": peak / 1024,
                  "rows": summary.rows_new}))
"""


def _synthetic_archive(path: Path, weeks: int) -> int:
    """SYNTHETIC weekly members of ``N_ARCS`` arcs; returns the number of rows written."""
    rng = np.random.default_rng(weeks)
    rows = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.comment = b"SYNTHETIC archive for a memory test (not real data)"
        for week in range(weeks):
            hours = pd.date_range("2023-01-01 01:00", periods=168, freq="h") + pd.Timedelta(
                weeks=week
            )
            n = N_ARCS * 168
            arcs = np.repeat(np.arange(500_000, 500_000 + N_ARCS), 168)
            table = pa.table(
                {
                    "iu_ac": arcs,
                    "libelle": np.char.add("SYNTH_", arcs.astype(str)),
                    "iu_nd_amont": arcs * 2,
                    "libelle_nd_amont": np.char.add("SYNTH_up_", arcs.astype(str)),
                    "iu_nd_aval": arcs * 2 + 1,
                    "libelle_nd_aval": np.char.add("SYNTH_down_", arcs.astype(str)),
                    "t_1h": np.tile(np.asarray(hours.strftime("%Y-%m-%d %H:%M:%S")), N_ARCS),
                    "q": rng.integers(0, 3000, n).astype(float),
                    "k": np.round(rng.uniform(0, 40, n), 5),
                    "etat_trafic": rng.integers(0, 4, n),
                    "etat_barre": rng.integers(1, 4, n),
                }
            )
            sink = io.BytesIO()
            pacsv.write_csv(table, sink, pacsv.WriteOptions(delimiter=";", quoting_style="none"))
            zf.writestr(f"SYNTHETIC_w{week + 1:02d}.txt", sink.getvalue())
            rows += n
    return rows


def _ingest(archive: Path, store: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(archive), str(store)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    out: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_a_year_costs_about_what_a_quarter_costs(tmp_path: Path) -> None:
    quarter = _synthetic_archive(tmp_path / "SYNTHETIC_quarter.zip", 13)
    year = _synthetic_archive(tmp_path / "SYNTHETIC_year.zip", 52)
    small = _ingest(tmp_path / "SYNTHETIC_quarter.zip", tmp_path / "store_q")
    large = _ingest(tmp_path / "SYNTHETIC_year.zip", tmp_path / "store_y")
    # every row is loaded but the spring-forward 02:00 (quarantined: it carries a value)
    assert small["rows"] == quarter - N_ARCS
    assert large["rows"] == year - N_ARCS
    extra_small = small["peak_mb"] - small["before_mb"]
    extra_large = large["peak_mb"] - large["before_mb"]
    assert extra_large < 1.5 * extra_small + 60, (small, large)
    assert extra_large < LIMIT_MB, large
