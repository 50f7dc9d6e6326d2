"""Reading export files back: delimiters, labels, quarantine, the server built from files."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from infotrafic.opendata import OpenDataClient, parse_export
from infotrafic.testing import OpenDataServer


def test_comma_csv_and_bad_rows_are_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "slice.csv"
    path.write_text(
        "iu_ac,t_1h,q,k,etat_trafic,etat_barre\n"
        "4264,2023-01-01T00:00:00+01:00,5,1.5,Fluide,Invalide\n"
        "x,2023-01-01T01:00:00+01:00,6,,,\n"
        "4264,2023-01-01T00:30:00+01:00,6,,,\n"
        "4264,2023-01-01T02:00:00+01:00,-1,,,\n"
        "4264,2023-01-01T00:00:00+01:00,7,,,\n",
        encoding="utf-8",
    )
    parsed = parse_export(path, "csv")
    assert parsed.rows == 5 and parsed.duplicates == 1
    assert parsed.panel["flow"].tolist() == [7.0]  # the later duplicate wins
    assert parsed.quarantine["line"].tolist() == [2, 3, 4]
    assert set(parsed.quarantine["reason"]) == {
        "iu_ac is not an integer",
        "t_1h is not a time on the hour",
        "negative q or k",
    }


def test_empty_and_headerless_bodies_are_broken(tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(ValueError, match="empty"):
        parse_export(empty, "csv")
    header_only = tmp_path / "h.csv"
    header_only.write_text("iu_ac;t_1h;q\r\n")
    assert parse_export(header_only, "csv").panel.empty


def test_server_from_files_and_typed_records(shared_data: Path) -> None:
    path = shared_data / "exports" / "arc191_2021-11_2022-12.csv.gz"
    with OpenDataServer.from_files([path]) as server, OpenDataClient(server.url) as client:
        assert set(server.panel["arc_id"]) == {191}
        records = client.records(191, "2022-06-01", "2022-06-02", as_frame=False)
    assert len(records) == 24 and records[0].libelle == "Sts_Peres"
    assert records[0].t_1h == pd.Timestamp("2022-06-01T00:00:00+02:00")  # start is inclusive
    assert records[0].geo_point_2d is not None and 48.8 < records[0].geo_point_2d.lat < 48.9


HEADER = "\ufeffiu_ac;t_1h;q;k;etat_trafic;etat_barre\r\n"
GOOD = "4264;2023-01-01T00:00:00+00:00;5.0;1.25;Fluide;Invalide\r\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GOOD.replace("1.25", "1.2\x005"), "NUL byte at offset"),
        (GOOD.replace(";Invalide", ""), "line 3 does not have the header's 6 fields"),
        (GOOD.replace("Fluide", "Fluide;x"), "line 3 does not have the header's 6 fields"),
        (GOOD.replace("Fluide", '"Flu"ide'), "line 3: broken quoting"),
        (GOOD.replace("Fluide", '"Fluide'), "broken quoting"),
        (GOOD.replace("5.0", "5.x"), "record 2, field 'q': '5.x' is not a number"),
        (GOOD.replace("Fluide", "Fluidf"), "'Fluidf' is not a known traffic state"),
        (GOOD.replace("+00:00", "+0"), "'2023-01-01T00:00:00+0' is not an ISO 8601 time"),
        (GOOD.replace("4264", "42a4"), "field 'iu_ac': '42a4' is not an arc id"),
    ],
    ids=["nul", "short", "long", "quote", "unclosed", "number", "state", "time", "id"],
)
def test_strict_reading_refuses_what_the_portal_never_writes(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "slice.csv"
    path.write_bytes((HEADER + GOOD + body + GOOD).encode())
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_export(path, "csv", strict=True)


def test_strict_reading_accepts_quoted_fields_and_empty_values(tmp_path: Path) -> None:
    path = tmp_path / "slice.csv"
    text = 'iu_ac;t_1h;q;k;libelle\r\n4264;2023-01-01T00:00:00+00:00;;;"a;""b"""\r\n'
    path.write_text(text + "4264;2023-01-01T01:00:00Z;3;;x\r\n")
    parsed = parse_export(path, "csv", strict=True)
    assert parsed.panel["flow"].isna().tolist() == [True, False] and parsed.ordered
