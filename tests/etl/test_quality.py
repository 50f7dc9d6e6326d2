"""Quality report numbers on hand-made panels, checked exactly."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from infotrafic.etl._quality import QUALITY_COLUMNS, QualityReport, quality_report


def _panel(rows: list[tuple[int, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arc_id": [r[0] for r in rows],
            "time": pd.to_datetime([r[1] for r in rows], utc=True),
            "flow": [r[2] for r in rows],
            "occupancy": [r[3] for r in rows],
        }
    )


NAN = float("nan")


@pytest.fixture
def hand_panel() -> pd.DataFrame:
    # arc 1: 10 grid hours 00:00..09:00; rows at 00,01,02,05,06,09; flow NaN at 06 (occupancy
    # only), flow 0 at 01 and 09. Flow hours: 00,01,02,05,09 -> gaps 03-04 (2 h), 06-08 (3 h).
    # arc 2: a single hour with missing flow and missing occupancy.
    return _panel(
        [
            (1, "2024-01-01 09:00", 0.0, 1.0),
            (1, "2024-01-01 00:00", 5.0, 1.0),
            (1, "2024-01-01 01:00", 0.0, 1.0),
            (1, "2024-01-01 02:00", 7.0, NAN),
            (1, "2024-01-01 05:00", 3.0, 2.0),
            (1, "2024-01-01 06:00", NAN, 2.0),
            (2, "2024-01-02 00:00", NAN, NAN),
        ]
    )


def test_hand_made_numbers(hand_panel: pd.DataFrame) -> None:
    table = quality_report(hand_panel).to_frame().set_index("arc_id")
    a = table.loc[1]
    assert a["first_time"] == pd.Timestamp("2024-01-01 00:00Z")
    assert a["last_time"] == pd.Timestamp("2024-01-01 09:00Z")
    assert a["hours_expected"] == 10
    assert a["hours_present"] == 6
    assert a["hours_missing"] == 4
    assert a["hours_with_flow"] == 5
    assert a["missing_flow_share"] == pytest.approx(0.5)
    assert a["zero_flow_hours"] == 2
    assert a["occupancy_only_hours"] == 1
    assert a["gaps"] == 2
    assert a["longest_gap_hours"] == 3
    assert (a["dst_spring_days"], a["dst_fall_days"]) == (0, 0)
    b = table.loc[2]
    assert (b["hours_expected"], b["hours_present"], b["hours_with_flow"]) == (1, 1, 0)
    assert b["missing_flow_share"] == 1.0
    assert (b["gaps"], b["longest_gap_hours"], b["occupancy_only_hours"]) == (1, 1, 0)


def test_columns_and_types(hand_panel: pd.DataFrame) -> None:
    frame = quality_report(hand_panel).to_frame()
    assert tuple(frame.columns) == QUALITY_COLUMNS
    assert str(frame["first_time"].dtype) == "datetime64[ns, UTC]"
    assert frame["gaps"].dtype == np.int64


def test_input_not_mutated(hand_panel: pd.DataFrame) -> None:
    before = hand_panel.copy()
    quality_report(hand_panel)
    pd.testing.assert_frame_equal(hand_panel, before)


def test_leading_and_trailing_missing_flow_are_gaps() -> None:
    p = _panel(
        [
            (3, "2024-01-01 00:00", NAN, 1.0),
            (3, "2024-01-01 01:00", 4.0, 1.0),
            (3, "2024-01-01 02:00", NAN, 1.0),
            (3, "2024-01-01 03:00", NAN, 1.0),
        ]
    )
    r = quality_report(p).to_frame().iloc[0]
    assert (r["gaps"], r["longest_gap_hours"], r["occupancy_only_hours"]) == (2, 2, 3)


def _paris_day_hours(day: str) -> pd.DatetimeIndex:
    """UTC ends of every hour of a Paris local day."""
    start = pd.Timestamp(day).tz_localize("Europe/Paris").tz_convert("UTC")
    end = (pd.Timestamp(day) + pd.Timedelta(days=1)).tz_localize("Europe/Paris").tz_convert("UTC")
    return pd.date_range(start + pd.Timedelta(hours=1), end, freq="h")


def test_dst_days_counted_exactly() -> None:
    spring = _paris_day_hours("2023-03-26")  # 23 hours
    fall = _paris_day_hours("2023-10-29")  # 25 hours
    assert (len(spring), len(fall)) == (23, 25)
    times = spring.append(fall[:-1])  # the span now ends before the fall day does
    p = pd.DataFrame({"arc_id": 9, "time": times, "flow": 1.0})
    r = quality_report(p).to_frame().iloc[0]
    # The fall day is not wholly inside [first, last] any more (its last hour is missing).
    assert (r["dst_spring_days"], r["dst_spring_hours"]) == (1, 23)
    assert (r["dst_fall_days"], r["dst_fall_hours"]) == (0, 0)
    p2 = pd.DataFrame({"arc_id": 9, "time": spring.append(fall), "flow": 1.0})
    p2 = p2[p2["time"] != fall[3]]  # one real hour of the fall day missing, inside the span
    r2 = quality_report(p2).to_frame().iloc[0]
    assert (r2["dst_fall_days"], r2["dst_fall_hours"]) == (1, 24)


def test_reports_counts_attributed() -> None:
    p = _panel([(1, "2024-01-01 00:00", 1.0, NAN), (2, "2024-01-01 00:00", 1.0, NAN)])
    rep = SimpleNamespace(duplicates=3, conflicts=1, quarantined=2)
    r = quality_report(p, reports=[rep])
    assert r.unattributed == {"duplicates": 3, "conflicts": 1, "quarantined": 2}
    assert r.totals()["duplicates"] == 3
    assert "not tied to an arc" in r.to_text()


def test_renderings(hand_panel: pd.DataFrame) -> None:
    r = quality_report(hand_panel)
    assert isinstance(r, QualityReport)
    data = json.loads(r.to_json())
    assert [a["arc_id"] for a in data["arcs"]] == [1, 2]
    assert data["arcs"][0]["longest_gap_hours"] == 3
    assert data["total"]["hours_expected"] == 11
    assert data["total"]["arcs"] == 2
    lines = r.to_text().splitlines()
    assert lines[0].split()[0] == "arc"
    assert lines[2].split()[0] == "1"
    assert lines[-1].startswith("TOTAL 2 arcs")
    # aligned: every table line has the same length as the separator
    widths = {len(line) for line in lines if line.startswith("-")}
    assert len(widths) == 1


def test_empty_panel() -> None:
    from infotrafic import empty_panel

    r = quality_report(empty_panel())
    assert r.to_frame().empty
    assert json.loads(r.to_json())["total"]["arcs"] == 0
    assert "TOTAL 0 arcs" in r.to_text()


def test_frozen(hand_panel: pd.DataFrame) -> None:
    r = quality_report(hand_panel)
    with pytest.raises(AttributeError):
        r.table = pd.DataFrame()  # type: ignore[misc]


def test_quality_of_files_matches_read_files(shared_data) -> None:  # type: ignore[no-untyped-def]
    from infotrafic.etl import quality_of_files, read_files

    files = [
        shared_data / "archive" / "arc4264_2022.csv.gz",
        shared_data / "exports" / "arc4264_2022.csv.gz",
    ]
    ref = read_files(files)
    r = quality_of_files(files)
    row = r.to_frame().set_index("arc_id").loc[4264]
    assert row["hours_present"] == len(ref.panel)
    assert row["hours_with_flow"] == int(ref.panel["flow"].notna().sum())
    assert row["zero_flow_hours"] == int((ref.panel["flow"] == 0).sum())
    # within-file and between-file duplicates all tied to the one arc
    assert row["duplicates"] == ref.report.duplicates > 7000
    assert row["conflicts"] == ref.report.conflicts
    assert row["quarantined"] == ref.report.n_quarantined
    assert r.unattributed == {"duplicates": 0, "conflicts": 0, "quarantined": 0}
    # 2022 in Paris: one spring day (23 h) and one fall day (24 of 25 h published)
    assert (row["dst_spring_days"], row["dst_spring_hours"]) == (1, 23)
    assert (row["dst_fall_days"], row["dst_fall_hours"]) == (1, 24)


def test_read_result_of_several_arcs_is_unattributed() -> None:
    from infotrafic.etl import FileReport, ReadReport, ReadResult

    p = _panel([(1, "2024-01-01 00:00", 1.0, NAN), (2, "2024-01-01 00:00", 1.0, NAN)])
    report = ReadReport((FileReport("f.csv", "csv:fields", duplicates=4, conflicts=1),))
    res = ReadResult(panel=p, arcs=pd.DataFrame(), quarantine=pd.DataFrame(), report=report)
    r = quality_report(p, res)
    assert r.unattributed["duplicates"] == 4
    one = ReadResult(
        panel=p[p["arc_id"] == 1], arcs=p.iloc[:0], quarantine=p.iloc[:0], report=report
    )
    t = quality_report(p, [one]).to_frame().set_index("arc_id")
    assert (t.loc[1, "duplicates"], t.loc[1, "conflicts"], t.loc[2, "duplicates"]) == (4, 1, 0)
