"""Readers on the real Paris files (tests/data/paris): every regime, counts, values, metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infotrafic import ARC_COLUMNS, PANEL_COLUMNS, validate_panel
from infotrafic.etl import ReadResult, read_arcs, read_file, read_files
from infotrafic.exceptions import FileFormatError


def check_result(res: ReadResult) -> None:
    """Contract every reader output must satisfy."""
    panel = res.panel
    assert tuple(panel.columns) == PANEL_COLUMNS
    pd.testing.assert_frame_equal(validate_panel(panel), panel)
    assert not panel.duplicated(["arc_id", "time"]).any()
    assert tuple(res.arcs.columns) == ARC_COLUMNS
    assert res.arcs["arc_id"].dtype == "int64"
    assert list(res.quarantine.columns) == ["file", "line", "field", "reason", "raw"]
    for f in res.report.files:
        assert f.rows_read == (
            f.rows_loaded + f.n_quarantined + f.dst_nonexistent_empty + f.duplicates
        ), f
    assert len(res.quarantine) == res.report.n_quarantined
    assert res.report.rows_loaded == len(panel)


def independent_archive(path: Path) -> pd.DataFrame:
    """A careful, plain-pandas reading of an archive file (naive Paris wall clock)."""
    raw = pd.read_csv(path, usecols=["iu_ac", "t_1h", "q", "k"])
    wall = pd.to_datetime(raw["t_1h"])
    amb = np.zeros(len(raw), dtype=bool)  # the single fall-back 02:00 is standard time
    utc = wall.dt.tz_localize("Europe/Paris", ambiguous=amb, nonexistent="NaT")
    df = pd.DataFrame(
        {
            "arc_id": raw["iu_ac"],
            "time": utc.dt.tz_convert("UTC").dt.as_unit("ns"),
            "flow": raw["q"],
            "k": raw["k"],
        }
    )
    df = df[df["time"].notna()]
    df["order"] = np.arange(len(df))
    df["hf"], df["hk"] = df["flow"].notna(), df["k"].notna()
    df = df.sort_values(["arc_id", "time", "hf", "hk", "order"])
    return df.drop_duplicates(["arc_id", "time"], keep="last")


def independent_export(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=";", encoding="utf-8-sig")
    return pd.DataFrame(
        {
            "arc_id": raw["Identifiant arc"],
            "time": pd.to_datetime(raw["Date et heure de comptage"], utc=True).dt.as_unit("ns"),
            "flow": raw.iloc[:, 3],
        }
    )


def per_arc(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby("arc_id")["flow"].agg(["count", "sum"])


@pytest.mark.slow
def test_every_archive_file_matches_independent_reading(shared_data: Path) -> None:
    for path in sorted((shared_data / "archive").glob("*.csv.gz")):
        res = read_file(path)
        check_result(res)
        f = res.report.files[0]
        assert f.regime == "csv:fields"
        assert f.time_regimes == {"naive": f.rows_read}
        ref = independent_archive(path)
        pd.testing.assert_frame_equal(per_arc(res.panel), per_arc(ref), obj=path.name)
        # UTC times match the source at every hour with a flow
        got = res.panel.dropna(subset=["flow"]).set_index("time")["flow"]
        exp = ref.dropna(subset=["flow"]).set_index("time")["flow"].sort_index()
        if f.n_quarantined == 0:
            pd.testing.assert_series_equal(got, exp, check_names=False, obj=path.name)
        # exactly one empty spring-forward placeholder or one quarantined valued one per year
        assert f.dst_nonexistent_empty + f.quarantined.get("dst_nonexistent", 0) == 1
        assert f.dst_ambiguous == 1


@pytest.mark.slow
def test_every_export_file_matches_independent_reading(shared_data: Path) -> None:
    for path in sorted((shared_data / "exports").glob("*.csv.gz")):
        res = read_file(path)
        check_result(res)
        f = res.report.files[0]
        assert f.regime == "csv:labels"
        assert f.n_quarantined == 0 and f.duplicates == 0
        assert f.time_regimes == {"offset": f.rows_read}
        ref = independent_export(path)
        pd.testing.assert_frame_equal(per_arc(res.panel), per_arc(ref), obj=path.name)
        ref = ref.set_index("time")["flow"].sort_index()
        got = res.panel.set_index("time")["flow"]
        pd.testing.assert_series_equal(got, ref, check_names=False, obj=path.name)
        assert res.panel["traffic_state"].notna().all()
        assert res.report.files[0].unknown_codes == {}


def test_arc4264_2022_both_regimes_agree_hour_by_hour(shared_data: Path) -> None:
    archive = read_file(shared_data / "archive" / "arc4264_2022.csv.gz").panel
    export = read_file(shared_data / "exports" / "arc4264_2022.csv.gz").panel
    merged = archive.merge(export, on=["arc_id", "time"], suffixes=("_a", "_e"))
    assert len(merged) >= 7600
    both = merged["flow_a"].notna() & merged["flow_e"].notna()
    assert both.sum() > 6500
    # nothing shifted by an hour: every common hour carries the same flow and occupancy
    assert (merged.loc[both, "flow_a"] == merged.loc[both, "flow_e"]).all()
    assert (merged["flow_a"].isna() == merged["flow_e"].isna()).all()
    occ = merged["occupancy_a"].fillna(-1) == merged["occupancy_e"].fillna(-1)
    assert occ.all()
    assert (merged["traffic_state_a"] == merged["traffic_state_e"]).all()
    # the fall-back hour: archive 02:00 (single) == export 02:00+01:00 == 01:00 UTC
    t = pd.Timestamp("2022-10-30 01:00", tz="UTC")
    row = merged[merged["time"] == t]
    assert len(row) == 1 and row["flow_a"].iloc[0] == row["flow_e"].iloc[0] == 1107.0
    assert not (export["time"] == pd.Timestamp("2022-10-30 00:00", tz="UTC")).any()
    assert not (archive["time"] == pd.Timestamp("2022-10-30 00:00", tz="UTC")).any()
    # the export's hours are all in the archive but one (the year's first hour of the export)
    missing = set(export["time"]) - set(archive["time"])
    assert missing == {pd.Timestamp("2021-12-31 23:00", tz="UTC")}


def test_repeated_december_blocks_are_deduplicated(shared_data: Path) -> None:
    for arc in (4264, 5672):
        res = read_file(shared_data / "archive" / f"arc{arc}_2023.csv.gz")
        check_result(res)
        f = res.report.files[0]
        assert f.rows_read == 9503
        assert f.duplicates == 744  # December 2023 (31 x 24 hours) appears twice
        dec = res.panel[res.panel["time"] >= pd.Timestamp("2023-12-01", tz="UTC")]
        assert dec["time"].is_unique
        assert len(res.panel) == 8758


def test_conflicting_duplicates_are_counted(shared_data: Path) -> None:
    res = read_file(shared_data / "archive" / "arc4264_2019.csv.gz")
    f = res.report.files[0]
    assert f.duplicates == 120
    assert 0 < f.conflicts <= f.duplicates


def test_closure_state_is_kept_not_a_filter(shared_data: Path) -> None:
    res = read_file(shared_data / "exports" / "arc4264_2022-11_2023-12.csv.gz")
    panel = res.panel
    invalid = panel["closure_state"] == 3
    assert invalid.mean() > 0.9
    assert panel.loc[invalid, "flow"].notna().mean() > 0.8
    assert len(panel) == res.report.files[0].rows_read


def test_api_v21_records_results(shared_data: Path) -> None:
    res = read_file(shared_data / "api" / "v2.1_records_results_2026-06-21.json.gz")
    check_result(res)
    f = res.report.files[0]
    assert f.rows_read == 100 and f.rows_loaded == 100
    assert set(res.panel["time"]) == {pd.Timestamp("2026-06-20 22:00", tz="UTC")}
    raw = json.loads(
        pd.io.common.get_handle(
            str(shared_data / "api" / "v2.1_records_results_2026-06-21.json.gz"),
            "r",
            compression="gzip",
        ).handle.read()
    )
    n_flow = sum(r["q"] is not None for r in raw)
    assert res.panel["flow"].notna().sum() == n_flow
    assert res.panel.set_index("arc_id").loc[5381, "flow"] == 4859.0
    assert len(res.arcs) == 100
    arc = res.arcs.set_index("arc_id").loc[5381]
    assert arc["lat"] == pytest.approx(48.9001968502817)
    assert json.loads(arc["geometry"])["type"] == "LineString"
    assert str(arc["valid_from"].date()) == "1996-10-30"


def test_api_v1_search_envelope(shared_data: Path) -> None:
    res = read_file(shared_data / "api" / "v1_search_2023-02-01.json.gz")
    check_result(res)
    f = res.report.files[0]
    assert f.regime == "json:v1-search"
    assert f.rows_read == 3000 and f.rows_loaded == 3000
    # null fields omitted: q present in 1450 records, k in 1479
    assert res.panel["flow"].notna().sum() == 1450
    assert res.panel["occupancy"].notna().sum() == 1479
    counts = res.panel["time"].value_counts()
    assert counts[pd.Timestamp("2023-02-01 23:00", tz="UTC")] == 2982
    assert counts[pd.Timestamp("2023-02-01 22:00", tz="UTC")] == 18
    arc = res.arcs.set_index("arc_id").loc[4366]
    assert (arc["lat"], arc["lon"]) == pytest.approx((48.87539834196557, 2.2903532985048534))
    assert res.arcs["lat"].notna().sum() == 2960  # arcs with a geo_point_2d in some record


def test_multi_arc_damaged_file(shared_data: Path) -> None:
    path = shared_data / "multi-arc" / "69-arcs_55-days_resaved.csv.gz"
    res = read_file(path)
    check_result(res)
    f = res.report.files[0]
    assert f.rows_read == 18277
    assert f.rows_read == f.rows_loaded + f.n_quarantined + f.dst_nonexistent_empty + f.duplicates
    assert res.panel["arc_id"].nunique() == 69
    # accent-broken state labels ("Pr\ufffd-satur\ufffd", "Bloqu\ufffd", "Barr\ufffd") map
    assert f.unknown_codes == {}
    assert res.panel["traffic_state"].notna().all()
    assert set(res.panel["traffic_state"].unique()) == {1, 2, 3, 4}
    assert set(res.panel["closure_state"].unique()) == {2, 3}
    # "Debit horaire" (accent lost) still maps to the flow
    assert res.panel["flow"].notna().all()
    # the re-save split "lat,lon" in two columns and wrote dates as serial numbers
    arcs = res.arcs.set_index("arc_id")
    assert len(arcs) == 69
    row = arcs.loc[6532]
    assert row["lat"] == pytest.approx(48.8262465326126)
    assert row["lon"] == pytest.approx(2.34283196501946)
    assert str(row["valid_from"].date()) == "2003-03-28"  # serial 37708
    assert str(row["valid_to"].date()) == "2023-01-01"  # serial 44927


def test_referentiel(shared_data: Path) -> None:
    arcs = read_arcs(shared_data / "referentiel" / "referentiel-comptages-routiers_2020-12.csv.gz")
    assert tuple(arcs.columns) == ARC_COLUMNS
    assert arcs["arc_id"].dtype == "int64" and arcs["arc_id"].is_unique
    assert len(arcs) == 3348  # 3,739 rows, some arcs listed twice
    assert arcs["lat"].between(48.7, 49.0).all() and arcs["lon"].between(2.2, 2.5).all()
    assert arcs["geometry"].notna().all()
    row = arcs.set_index("arc_id").loc[5419]
    assert row["name"] == "PI_Champerret"
    assert row["upstream_node_id"] == 2746 and row["downstream_node_id"] == 2736
    assert str(row["valid_from"].date()) == "2005-01-01"


def test_referentiel_is_not_a_panel_file(shared_data: Path) -> None:
    with pytest.raises(FileFormatError, match="t_1h") as info:
        read_file(shared_data / "referentiel" / "referentiel-comptages-routiers_2020-12.csv.gz")
    assert "Identifiant arc" in str(info.value)  # lists the columns found


def test_read_files_merges_regimes_later_wins(shared_data: Path) -> None:
    paths = [
        shared_data / "archive" / "arc4264_2022.csv.gz",
        shared_data / "exports" / "arc4264_2022.csv.gz",
    ]
    res = read_files(paths)
    check_result(res)
    assert len(res.report.files) == 2
    assert res.report.merge_duplicates == 7654
    assert res.report.merge_conflicts == 0
    assert len(res.panel) == 8634 + 1
    # metadata: the export (read later) names the arc differently; the later vintage wins
    assert res.arcs.set_index("arc_id").loc[4264, "name"] == "AV_Champs_Elysees"
