"""Reading export files back: delimiters, labels, quarantine, the server built from files."""

from __future__ import annotations

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
