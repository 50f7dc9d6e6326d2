"""The duplicate policy against a plain-Python reference, and a few more reader edge cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from infotrafic.etl import deduplicate, iter_read, read_file
from infotrafic.etl._dedupe import dedupe_sorted, finalize_panel

values = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.0]))
rows = st.lists(
    st.tuples(st.integers(1, 3), st.integers(0, 3), values, values), min_size=0, max_size=40
)


def reference(data: list[tuple[int, int, float | None, float | None]]) -> tuple[dict, int, int]:
    """Keep, per key, the row with a flow, then an occupancy, then the last one."""
    kept: dict[tuple[int, int], tuple[int, float | None, float | None]] = {}
    for i, (arc, hour, flow, occ) in enumerate(data):
        rank = (flow is not None, occ is not None, i)
        key = (arc, hour)
        if key not in kept or rank > (
            kept[key][1] is not None,
            kept[key][2] is not None,
            kept[key][0],
        ):
            kept[key] = (i, flow, occ)
    conflicts = 0
    for i, (arc, hour, flow, occ) in enumerate(data):
        j, kf, ko = kept[(arc, hour)]
        if i == j:
            continue
        if (flow is not None and kf is not None and flow != kf) or (
            occ is not None and ko is not None and occ != ko
        ):
            conflicts += 1
    return kept, len(data) - len(kept), conflicts


@settings(max_examples=80, deadline=None)
@given(rows)
def test_deduplicate_matches_reference(
    data: list[tuple[int, int, float | None, float | None]],
) -> None:
    panel = pd.DataFrame(
        {
            "arc_id": np.array([r[0] for r in data], dtype="int64"),
            "time": pd.to_datetime([r[1] for r in data], unit="h", utc=True).as_unit("ns"),
            "flow": np.array([np.nan if r[2] is None else r[2] for r in data], dtype="float64"),
            "occupancy": np.array(
                [np.nan if r[3] is None else r[3] for r in data], dtype="float64"
            ),
            "row": np.arange(len(data)),
        }
    )
    before = panel.copy()
    out, stats = deduplicate(panel)
    pd.testing.assert_frame_equal(panel, before)  # input not mutated
    kept, dups, conflicts = reference(data)
    assert stats.rows_in == len(data)
    assert (stats.duplicates, stats.conflicts) == (dups, conflicts)
    assert sorted(out["row"].tolist()) == sorted(v[0] for v in kept.values())
    assert not out.duplicated(["arc_id", "time"]).any()
    full = panel.drop(columns="row").assign(
        traffic_state=pd.array([1] * len(data), dtype="Int8"),
        closure_state=pd.array([pd.NA] * len(data), dtype="Int8"),
    )
    fast, fast_stats = dedupe_sorted(full)
    pd.testing.assert_frame_equal(fast, finalize_panel(deduplicate(full)[0]))
    assert fast_stats == stats
    for _, r in out.iterrows():
        _, flow, occ = kept[(int(r["arc_id"]), int(r["time"].timestamp() // 3600))]
        assert (math.isnan(r["flow"]) and flow is None) or r["flow"] == flow


def test_unsound_serial_times_are_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "serial.csv"
    path.write_text(
        "iu_ac;t_1h;q\n"
        "1;44959.041666666664;3\n"  # 2023-02-02 01:00 Paris: sound
        "1;44959.05;4\n"  # 01:12: not on the hour
        "1;12.5;5\n"  # 1900: not a plausible date
    )
    res = read_file(path)
    assert res.panel["flow"].tolist() == [3.0]
    assert res.panel["time"].tolist() == [pd.Timestamp("2023-02-02 00:00", tz="UTC")]
    assert sorted(res.quarantine["reason"]) == ["bad_time", "time_not_on_hour"]


def test_occupancy_only_file_and_iter_read(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_text("iu_ac,t_1h,k\n5672,2015-06-01 10:00:00,3.5\n")
    res = read_file(path)
    assert np.isnan(res.panel["flow"].iloc[0]) and res.panel["occupancy"].iloc[0] == 3.5
    pieces = list(iter_read(path))
    assert len(pieces) == 1 and pieces[0].panel.equals(res.panel)
