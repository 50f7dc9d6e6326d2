"""Readers on small synthetic files covering every regime variant (written to tmp_path)."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infotrafic import validate_panel
from infotrafic.etl import detect_kind, iter_read, read_arcs, read_file, read_files

DATA = Path(__file__).parent / "data"

LABELS = (
    "Identifiant arc;Libelle;Date et heure de comptage;Débit horaire;Taux d'occupation;"
    "Etat trafic;Identifiant noeud amont;Libelle noeud amont;Identifiant noeud aval;"
    "Libelle noeud aval;Etat arc;Date debut dispo data;Date fin dispo data;geo_point_2d;geo_shape"
)
GEO = '"{""coordinates"": [[2.30, 48.87], [2.31, 48.86]], ""type"": ""LineString""}"'
EXPORT_ROWS = [
    f"4264;AV_Champs;2023-02-01T23:00:00+01:00;764.0;11.28;Fluide;2294;W;2293;B;Invalide;"
    f"2005-01-01;2019-06-01;48.87, 2.30;{GEO}",
    f"4264;AV_Champs;2023-02-01T21:00:00+01:00;819.0;16.52;Pré-saturé;2294;W;2293;B;Barré;"
    f"2005-01-01;2019-06-01;48.87, 2.30;{GEO}",
    f"4264;AV_Champs;2023-02-01T22:00:00+01:00;;;Inconnu;2294;W;2293;B;Ouvert;"
    f"2005-01-01;2019-06-01;48.87, 2.30;{GEO}",
]
EXPECTED_TIMES = pd.to_datetime(
    ["2023-02-01 20:00", "2023-02-01 21:00", "2023-02-01 22:00"], utc=True
).as_unit("ns")


def write(path: Path, text: str, *, encoding: str = "utf-8", newline: str = "\n") -> Path:
    data = text.replace("\n", newline).encode(encoding)
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def export_text(header: str = LABELS, sep: str = ";") -> str:
    rows = [header, *EXPORT_ROWS]
    if sep != ";":
        rows = [r.replace(";", sep) for r in rows]
    return "\n".join(rows) + "\n"


def check_export_panel(panel: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(validate_panel(panel), panel)
    assert panel["arc_id"].tolist() == [4264] * 3
    assert panel["time"].tolist() == EXPECTED_TIMES.tolist()
    assert panel["flow"].iloc[0] == 819.0 and np.isnan(panel["flow"].iloc[1])
    assert panel["flow"].iloc[2] == 764.0
    assert panel["traffic_state"].tolist() == [2, 0, 1]
    assert panel["closure_state"].tolist() == [2, 1, 3]


@pytest.mark.parametrize(
    ("variant", "kwargs"),
    [
        ("plain", {}),
        ("bom", {"encoding": "utf-8-sig"}),
        ("crlf", {"newline": "\r\n"}),
        ("bom-crlf", {"encoding": "utf-8-sig", "newline": "\r\n"}),
        ("cp1252", {"encoding": "cp1252"}),
    ],
)
def test_export_csv_variants(tmp_path: Path, variant: str, kwargs: dict[str, str]) -> None:
    for suffix in (".csv", ".csv.gz"):
        path = write(tmp_path / f"{variant}{suffix}", export_text(), **kwargs)
        res = read_file(path)
        check_export_panel(res.panel)
        assert res.report.files[0].regime == "csv:labels"
        assert res.report.files[0].unknown_codes == {}
        arc = res.arcs.iloc[0]
        assert (arc["lat"], arc["lon"]) == (48.87, 2.30)
        assert json.loads(arc["geometry"])["type"] == "LineString"


@pytest.mark.parametrize(
    "broken", ["D\ufffdbit horaire", "Debit horaire", "DÃ©bit horaire", "DEBIT_HORAIRE"]
)
def test_accent_broken_labels_and_codes(tmp_path: Path, broken: str) -> None:
    text = export_text(LABELS.replace("Débit horaire", broken))
    text = text.replace("Pré-saturé", "Pr\ufffd-satur\ufffd").replace("Barré", "Barr\ufffd")
    res = read_file(write(tmp_path / "broken.csv", text))
    check_export_panel(res.panel)


def test_comma_separated_labels_with_quoted_geo(tmp_path: Path) -> None:
    text = export_text(sep=",").replace("48.87, 2.30", '"48.87, 2.30"')
    res = read_file(write(tmp_path / "comma.csv", text))
    check_export_panel(res.panel)
    assert res.arcs["lat"].iloc[0] == 48.87


ARCHIVE = (
    "iu_ac,libelle,iu_nd_amont,libelle_nd_amont,iu_nd_aval,libelle_nd_aval,t_1h,q,k,"
    "etat_trafic,etat_barre\n"
    "4264,AV,2294,W,2293,B,2023-02-01 23:00:00,764.0,11.28,1,3\n"
    "4264,AV,2294,W,2293,B,2023-02-01 21:00:00,819.0,16.52,2,2\n"
    "4264,AV,2294,W,2293,B,2023-02-01 22:00:00,,,0,1\n"
)


def test_archive_raw_names_naive_times_integer_codes(tmp_path: Path) -> None:
    res = read_file(write(tmp_path / "a.csv", ARCHIVE))
    check_export_panel(res.panel)
    assert res.report.files[0].regime == "csv:fields"
    assert res.report.files[0].time_regimes == {"naive": 3}


def test_archive_semicolon_float_codes_and_extra_columns(tmp_path: Path) -> None:
    lines = ARCHIVE.strip().split("\n")
    out = [";" + lines[0].replace(",", ";") + ";dessin;diff"]
    for i, line in enumerate(lines[1:]):
        cells = line.split(",")
        cells[-2], cells[-1] = cells[-2] + ".0", cells[-1] + ".0"
        out.append(f"{i};" + ";".join(cells) + ';"<PLINE><PT X=""1""/></PLINE>";0 days')
    res = read_file(write(tmp_path / "extra.txt.gz", "\n".join(out) + "\n"))
    check_export_panel(res.panel)


def test_mixed_time_regimes_in_one_file(tmp_path: Path) -> None:
    text = (
        "iu_ac;t_1h;q\n"
        "1;2023-02-01T23:00:00+01:00;1\n"
        "1;2023-02-02 00:00:00;2\n"
        "1;44959.041666666664;3\n"  # serial: 2023-02-02 01:00 Paris
        "1;02/02/2023 02:00;4\n"  # day-first wall clock
        "1;2023-02-02T02:00:00Z;5\n"  # 03:00 Paris
    )
    res = read_file(write(tmp_path / "mixed.csv", text))
    assert res.panel["time"].tolist() == list(
        pd.date_range("2023-02-01 22:00", periods=5, freq="h", tz="UTC")
    )
    assert res.panel["flow"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert res.report.files[0].time_regimes == {"naive": 2, "offset": 2, "serial": 1}


def test_bad_rows_are_quarantined_with_line_numbers(tmp_path: Path) -> None:
    text = (
        "iu_ac;t_1h;q;k\n"
        "7;2023-02-01 10:00:00;100;1.5\n"  # line 2 ok
        "x7;2023-02-01 11:00:00;100;1.5\n"  # line 3 bad arc id
        "7;2023-02-31 12:00:00;100;1.5\n"  # line 4 bad time
        "7;2023-02-01 13:00:00;abc;1.5\n"  # line 5 non-numeric flow
        "7;2023-02-01 14:00:00;-5;1.5\n"  # line 6 negative flow
        "7;2023-02-01 15:30:00;100;1.5\n"  # line 7 not on the hour
        "7;;100;1.5\n"  # line 8 missing time
        "7;2023-02-01 16:00:00;100;1.5;extra;fields\n"  # line 9 trailing extras: tolerated
        "7;2023-02-01 17:00:00;1,5;bad\n"  # line 10 decimal comma ok, bad occupancy
        "7;2023-02-01 18:00:00;200;\n"  # line 11 ok
        "7;2023-02-01 19:00:00;200;100.5\n"  # line 12 occupancy above 100 %
        "7;2023-02-01 20:00:00;200;100\n"  # line 13 ok: the loop occupied the whole hour
    )
    res = read_file(write(tmp_path / "bad.csv", text), source_name="bad.csv")
    q = res.quarantine.sort_values("line").reset_index(drop=True)
    assert q["line"].tolist() == [3, 4, 5, 6, 7, 8, 10, 12]
    assert q["reason"].tolist() == [
        "bad_arc_id",
        "bad_time",
        "bad_flow",
        "negative_flow",
        "time_not_on_hour",
        "missing_time",
        "bad_occupancy",
        "occupancy_above_100",
    ]
    assert q["field"].tolist()[:6] == ["iu_ac", "t_1h", "q", "q", "t_1h", "t_1h"]
    assert q["raw"].tolist()[:4] == ["x7", "2023-02-31 12:00:00", "abc", "-5"]
    assert set(q["file"]) == {"bad.csv"}
    f = res.report.files[0]
    assert f.rows_read == 12
    assert f.rows_loaded == 4 and res.panel["flow"].tolist() == [100.0, 100.0, 200.0, 200.0]
    assert f.rows_read == f.rows_loaded + f.n_quarantined + f.dst_nonexistent_empty + f.duplicates


def test_unknown_state_label_is_kept_and_counted(tmp_path: Path) -> None:
    text = "iu_ac;t_1h;q;etat_trafic;etat_barre\n1;2023-02-01 10:00:00;5;Bouché;9\n"
    res = read_file(write(tmp_path / "u.csv", text))
    assert len(res.panel) == 1
    assert res.panel["traffic_state"].isna().all() and res.panel["closure_state"].isna().all()
    assert res.report.files[0].unknown_codes == {"closure_state": 1, "traffic_state": 1}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("hello world\nthis is not a table\n", "delimiter"),
        ("iu_ac;q;k\n1;2;3\n", r"t_1h.*columns found: 'iu_ac', 'q', 'k'"),
        ("a,b,c\n1,2,3\n", "missing column"),
        ("iu_ac;t_1h\n1;2023-01-01 01:00:00\n", "flow"),
        ('{"hello": 1}', "'results'"),
        ('[{"iu_ac": "1"}]', "t_1h"),
        ("[1, 2]", "record 1"),
    ],
)
def test_unrecognisable_files_raise_file_format_error(
    tmp_path: Path, text: str, match: str
) -> None:
    from infotrafic.exceptions import FileFormatError

    path = write(tmp_path / "odd.dat", text)
    with pytest.raises(FileFormatError, match=match) as info:
        read_file(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    from infotrafic.exceptions import FileFormatError

    with pytest.raises(FileFormatError, match="no such file"):
        read_file(tmp_path / "nope.csv")


RECORDS = [
    {
        "iu_ac": "4264",
        "libelle": "AV",
        "t_1h": "2023-02-01T23:00:00+01:00",
        "q": 764.0,
        "k": 11.28,
        "etat_trafic": "Fluide",
        "iu_nd_amont": "2294",
        "libelle_nd_amont": "W",
        "iu_nd_aval": "2293",
        "libelle_nd_aval": "B",
        "etat_barre": "Invalide",
        "date_debut": "2005-01-01",
        "date_fin": "2019-06-01",
        "geo_point_2d": {"lon": 2.30, "lat": 48.87},
        "geo_shape": {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[2.3, 48.87], [2.31, 48.86]]},
            "properties": {},
        },
    },
    {
        "iu_ac": "4264",
        "libelle": "AV",
        "t_1h": "2023-02-01T21:00:00+01:00",
        "q": 819.0,
        "k": 16.52,
        "etat_trafic": "Pré-saturé",
        "etat_barre": "Barré",
    },
    {
        "iu_ac": "4264",
        "t_1h": "2023-02-01T22:00:00+01:00",
        "q": None,
        "k": None,
        "etat_trafic": "Inconnu",
        "etat_barre": "Ouvert",
    },
]


def _v1(records: list[dict[str, object]]) -> dict[str, object]:
    out = []
    for r in records:
        fields = {k: v for k, v in r.items() if v is not None}
        if isinstance(fields.get("geo_point_2d"), dict):
            point = fields["geo_point_2d"]
            assert isinstance(point, dict)
            fields["geo_point_2d"] = [point["lat"], point["lon"]]
            shape = fields["geo_shape"]
            assert isinstance(shape, dict)
            fields["geo_shape"] = shape["geometry"]
        out.append({"datasetid": "x", "recordid": "r", "fields": fields})
    return {"nhits": len(out), "parameters": {}, "records": out, "facet_groups": []}


@pytest.mark.parametrize(
    ("name", "content", "regime"),
    [
        ("records.json", json.dumps({"total_count": 3, "results": RECORDS}), "json:v2.1-records"),
        ("results.json", json.dumps(RECORDS), "json:list"),
        ("export.json.gz", json.dumps(RECORDS, indent=2), "json:list"),
        ("export.jsonl", "\n".join(json.dumps(r) for r in RECORDS) + "\n", "jsonl"),
        ("v1.json", json.dumps(_v1(RECORDS)), "json:v1-search"),
    ],
)
def test_json_shapes(tmp_path: Path, name: str, content: str, regime: str) -> None:
    res = read_file(write(tmp_path / name, content))
    check_export_panel(res.panel)
    assert res.report.files[0].regime == regime
    arc = res.arcs.iloc[0]
    assert (arc["lat"], arc["lon"]) == (48.87, 2.30)
    assert json.loads(arc["geometry"]) == {
        "type": "LineString",
        "coordinates": [[2.3, 48.87], [2.31, 48.86]],
    }
    assert arc["upstream_node_id"] == 2294


def test_parquet_string_and_timestamp_times(tmp_path: Path) -> None:
    frame = pd.DataFrame(RECORDS).drop(columns=["geo_point_2d", "geo_shape"])
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "s.parquet")
    check_export_panel(read_file(tmp_path / "s.parquet").panel)
    aware = frame.assign(t_1h=pd.to_datetime(frame["t_1h"], utc=True))
    pq.write_table(pa.Table.from_pandas(aware), tmp_path / "t.parquet")
    res = read_file(tmp_path / "t.parquet")
    check_export_panel(res.panel)
    assert res.report.files[0].time_regimes == {"datetime": 3}
    naive = aware.assign(t_1h=aware["t_1h"].dt.tz_convert("Europe/Paris").dt.tz_localize(None))
    pq.write_table(pa.Table.from_pandas(naive), tmp_path / "n.parquet")
    check_export_panel(read_file(tmp_path / "n.parquet").panel)
    assert detect_kind(tmp_path / "n.parquet") == "parquet"


def _zip(path: Path, members: dict[str, str], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_zip_archive_weekly_members(tmp_path: Path) -> None:
    week1 = ARCHIVE.replace(",", ";")
    week2 = (
        "iu_ac;t_1h;q;k;etat_trafic;etat_barre\n"
        "4264;2023-02-02T00:00:00+01:00;700;10;1;3\n"
        "4264;2023-02-01T23:00:00+01:00;765;11;1;3\n"  # overlaps week1: later member wins
    )
    path = _zip(tmp_path / "opendata_txt_2023.zip", {"w05.txt": week1, "dir/w06.txt": week2})
    res = read_file(path)
    f = res.report.files[0]
    assert f.regime == "zip:archive" and f.members == 2
    assert f.rows_read == 5 and f.rows_loaded == 4 and f.duplicates == 1 and f.conflicts == 1
    assert res.panel["flow"].tolist()[-2:] == [765.0, 700.0]
    pieces = list(iter_read(path))
    assert [p.report.files[0].rows_read for p in pieces] == [3, 2]
    assert pieces[1].report.files[0].file.endswith("::dir/w06.txt")


def test_real_deflate64_fixture() -> None:
    """A tiny ZIP made by ``7z -mm=Deflate64`` from real archive rows (arcs 4264, 5672)."""
    pytest.importorskip("zipfile_deflate64", reason="the archive extra reads deflate64")
    path = DATA / "opendata_txt_mini_deflate64.zip"
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {9}  # 9 = deflate64
    res = read_file(path)
    f = res.report.files[0]
    assert f.members == 2 and f.rows_read == 144 and f.rows_loaded == 144
    assert f.time_regimes == {"naive": 96, "offset": 48}
    assert f.dst_ambiguous == 2  # 2022-10-30 02:00 for each arc, read as standard time
    assert sorted(res.arcs["arc_id"]) == [4264, 5672]
    one = res.panel[(res.panel["arc_id"] == 4264)]
    t = pd.Timestamp("2022-10-30 01:00", tz="UTC")
    assert one.set_index("time").loc[t, "flow"] == 1107.0
    assert not (one["time"] == pd.Timestamp("2022-10-30 00:00", tz="UTC")).any()


def test_gzip_inside_detection_and_read_files_order(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv.gz", "iu_ac;t_1h;q\n1;2023-01-01 01:00:00;\n")
    b = write(tmp_path / "b.txt", "iu_ac,t_1h,q\n1,2023-01-01T01:00:00+01:00,5\n")
    c = write(tmp_path / "c.txt", "iu_ac,t_1h,q\n1,2023-01-01T01:00:00+01:00,6\n")
    # prefer the non-null flow, then the later file
    assert read_files([b, a]).panel["flow"].tolist() == [5.0]
    assert read_files([b, c]).panel["flow"].tolist() == [6.0]
    assert read_files([c, b]).panel["flow"].tolist() == [5.0]
    assert read_files([]).panel.empty


def test_read_arcs_json_and_csv_variants(tmp_path: Path) -> None:
    json_path = write(tmp_path / "ref.json", json.dumps(_v1(RECORDS[:1])))
    arcs = read_arcs(json_path)
    assert arcs["arc_id"].tolist() == [4264] and arcs["lat"].tolist() == [48.87]
    csv_path = write(
        tmp_path / "ref.csv",
        "iu_ac;libelle;date_debut;date_fin;geo_point_2d\n"
        "1;A;20/01/1997;2023-01-01T00:00:00+01:00;[48.1, 2.1]\n"
        "1;A2;;;\n",
    )
    arcs = read_arcs(csv_path)
    row = arcs.iloc[0]
    assert row["name"] == "A2"  # the last value wins ...
    assert str(row["valid_from"].date()) == "1997-01-20"  # ... but empty cells do not erase
    assert str(row["valid_to"].date()) == "2023-01-01"
    assert (row["lat"], row["lon"]) == (48.1, 2.1)


def test_input_never_mutated_and_report_serialises(tmp_path: Path) -> None:
    res = read_file(write(tmp_path / "a.csv", ARCHIVE))
    payload = json.loads(res.report.to_json())
    assert payload["rows_read"] == 3
    assert "a.csv" in res.report.to_text()
    assert res.report.to_frame()["rows_loaded"].tolist() == [3]
    buf = io.StringIO()
    res.panel.to_csv(buf, index=False)
    again = read_file(write(tmp_path / "again.csv", buf.getvalue()))
    pd.testing.assert_frame_equal(again.panel, res.panel)


def test_headerless_files_in_the_known_field_orders(tmp_path: Path) -> None:
    archive_rows = ARCHIVE.split("\n", 1)[1].replace(",", ";")
    res = read_file(write(tmp_path / "noheader.txt", archive_rows))
    check_export_panel(res.panel)
    assert res.report.files[0].regime == "csv:headerless"
    assert res.report.files[0].rows_read == 3
    live = "".join(r + "\n" for r in EXPORT_ROWS)
    res = read_file(write(tmp_path / "noheader_live.csv", live))
    check_export_panel(res.panel)
    assert res.arcs["name"].tolist() == ["AV_Champs"]


def test_late_invalid_bytes_and_trailing_separators(tmp_path: Path) -> None:
    # a clean UTF-8 head, then cp1252 bytes far past the sniffed part: replaced, not fatal
    head = "iu_ac;t_1h;q;etat_trafic;\n"
    body = "".join(
        f"1;2023-01-{1 + i // 24:02d} {i % 24:02d}:00:00;{i};Fluide;\n" for i in range(24 * 28)
    )
    tail = "1;2023-01-29 01:00:00;5;Satur\xe9;\n".encode("cp1252")
    path = tmp_path / "late.csv"
    path.write_bytes(head.encode() + body.encode() + tail)
    res = read_file(path)
    assert res.report.files[0].rows_loaded == 24 * 28 + 1
    assert res.panel["traffic_state"].iloc[-1] == 3  # "Satur\ufffd" still maps
    assert res.report.files[0].unknown_codes == {}
