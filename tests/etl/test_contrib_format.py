"""The contributor's guide, "How to add an input format", followed literally with a toy format.

A tab-separated ``.tsv`` file with the raw field names in its header: a reader returning one
:class:`~infotrafic.etl.RawMember`, one :func:`~infotrafic.etl.register_format` call, and every
entry point of the library reads it (``read_file``, ``detect_kind``, the store's ingest).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infotrafic.etl import (
    ParquetStore,
    RawMember,
    detect_kind,
    read_arcs,
    read_file,
    register_format,
    unregister_format,
)
from infotrafic.exceptions import ConfigurationError


# -- step 1 of the guide: a reader giving raw fields ------------------------------------------
def read_tsv(path: str, name: str, *, require_time: bool = True) -> list[RawMember]:
    """Read a tab-separated file whose header holds raw field names."""
    with open(path, encoding="utf-8") as fh:
        lines = [(n, line.rstrip("\r\n").split("\t")) for n, line in enumerate(fh, start=1)]
    header = lines[0][1]
    body = [(n, cells) for n, cells in lines[1:] if any(c.strip() for c in cells)]
    frame = pd.DataFrame([cells for _, cells in body], columns=header, dtype=object)
    numbers = np.asarray([n for n, _ in body], dtype="int64")
    return [RawMember.of_frame(name, "tsv", frame, numbers)]


# -- step 2 of the guide: a sniff on the first bytes --------------------------------------------
def is_tsv(head: bytes) -> bool:
    """A header line starting with the arc id, tab-separated."""
    return head.startswith(b"iu_ac\t")


@pytest.fixture
def tsv_format() -> Iterator[None]:
    # step 3 of the guide: register it (and, in a test, unregister it after)
    register_format("tsv", sniff=is_tsv, reader=read_tsv, referentiel=True)
    try:
        yield
    finally:
        unregister_format("tsv")


TSV = (
    "iu_ac\tlibelle\tt_1h\tq\tk\tetat_trafic\tetat_barre\n"
    "4264\tAV_Champs_Elysees\t2023-02-01T23:00:00+01:00\t764.0\t11.3\tFluide\tInvalide\n"
    "4264\tAV_Champs_Elysees\t2023-02-02T00:00:00+01:00\tx\t9.0\tFluide\tInvalide\n"
    "\n"
    "5672\tRue_de_Rivoli\t2023-02-01T23:00:00+01:00\t120.0\t\tSatur\ufffd\t1\n"
)


@pytest.fixture
def tsv_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.tsv"
    path.write_text(TSV, encoding="utf-8")
    return path


def test_read_file_uses_the_registered_reader(tsv_format: None, tsv_file: Path) -> None:
    assert detect_kind(tsv_file) == "tsv"
    result = read_file(tsv_file)
    assert result.report.files[0].regime == "tsv"
    panel = result.panel
    assert panel["arc_id"].tolist() == [4264, 5672]
    assert panel["time"].tolist() == [pd.Timestamp("2023-02-01 22:00", tz="UTC")] * 2
    assert panel["flow"].tolist() == [764.0, 120.0]
    assert panel["traffic_state"].tolist() == [1, 3]  # "Satur?" through the one state mapper
    assert panel["closure_state"].tolist() == [3, 1]
    # the bad flow is quarantined with its real line number (the blank line counts)
    assert result.quarantine[["line", "field", "reason", "raw"]].to_dict("records") == [
        {"line": 3, "field": "q", "reason": "bad_flow", "raw": "x"}
    ]
    assert set(result.arcs["name"]) == {"AV_Champs_Elysees", "Rue_de_Rivoli"}
    assert set(read_arcs(tsv_file)["arc_id"]) == {4264, 5672}


def test_the_store_ingests_the_toy_format(tsv_format: None, tsv_file: Path, tmp_path: Path) -> None:
    by_files = ParquetStore(tmp_path / "a")
    summary = by_files.ingest_files([tsv_file], keep_raw=False)
    assert summary.files_ingested == 1 and summary.rows_new == 2
    assert by_files.quarantine()["reason"].tolist() == ["bad_flow"]
    by_result = ParquetStore(tmp_path / "b")
    assert by_result.ingest(read_file(tsv_file)).rows_new == 2
    pd.testing.assert_frame_equal(by_files.read(), by_result.read())
    record = by_files.file_records()[0]
    assert record["report"]["regime"] == "tsv" and record["rows"] == 2


def test_unregistered_the_file_is_plain_delimited_text(tsv_file: Path) -> None:
    # without the toy format the fallback (delimited text, tab sniffed) reads the same rows
    assert detect_kind(tsv_file) == "csv"
    result = read_file(tsv_file)
    assert result.report.files[0].regime == "csv:fields"
    assert result.panel["flow"].tolist() == [764.0, 120.0]


def test_registration_errors_name_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="non-empty format name"):
        register_format("", sniff=is_tsv, reader=read_tsv)
    with pytest.raises(ConfigurationError, match="module:attribute"):
        register_format("tsv", sniff=is_tsv, reader="no_colon_here")
    with pytest.raises(ConfigurationError, match="unknown input format 'tsv'; registered: "):
        unregister_format("tsv")
