"""Decoding MQTT payloads: envelope checks here, values by the ETL's rules (no broker needed)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_helpers import expected_store

from infotrafic.stream import Message, decode_batch, panel_to_records, records_of_payload
from infotrafic.stream._quarantine import QuarantineLog, read_quarantine

TOPIC = "paris/comptages/4264"


def _msg(body: Any, *, raw: bytes | None = None, mid: int = 0, dup: bool = False) -> Message:
    payload = raw if raw is not None else json.dumps(body).encode()
    return Message(TOPIC, payload, received=1.7e9, mid=mid, qos=1, dup=dup)


def _rec(t_1h: str = "2023-02-01T23:00:00+01:00", **fields: Any) -> dict[str, Any]:
    return {"iu_ac": "4264", "t_1h": t_1h, "q": 764.0, "k": 11.28, **fields}


def test_real_api_records_decode_like_the_oracle(real_records: list[dict[str, Any]]) -> None:
    api = real_records[:100]
    batch = decode_batch([_msg(api[:40]), *[_msg(r) for r in api[40:]]])
    assert batch.rejected == []
    assert batch.records == 100
    got = batch.result.panel[["arc_id", "time", "flow", "occupancy"]]
    got = got.sort_values(["arc_id", "time"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected_store(api), check_dtype=False)
    assert set(batch.result.panel["traffic_state"].dropna()) <= {0, 1, 2, 3, 4}
    assert len(batch.result.arcs) == 100  # libelle, nodes, geometry kept for the arcs table


def test_the_results_envelope_is_accepted() -> None:
    batch = decode_batch([_msg({"total_count": 1, "results": [_rec()]})])
    assert batch.rows == 1 and batch.rejected == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not_json"),
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b"[]", "empty"),
        (b"42", "not_a_record"),
        (b'"text"', "not_a_record"),
        (b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "q": NaN}', "not_json"),
        (b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "q": 1e999}', "bad_number"),
        (b'{"foo": 1}', "missing_field"),
        (b'{"iu_ac": "4264", "q": 3}', "missing_field"),
        (b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00"}', "missing_field"),
        (b'{"iu_ac": [1], "t_1h": "2023-02-01T23:00:00+01:00", "q": 3}', "bad_value"),
        (b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "q": true}', "bad_value"),
        (
            b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "k": 150}',
            "occupancy_above_100",
        ),
        (
            b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "k": "100.5"}',
            "occupancy_above_100",
        ),
    ],
)
def test_malformed_envelopes_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    batch = decode_batch([_msg(None, raw=payload), _msg(_rec())])
    assert batch.rows == 1  # the good message next to it is kept
    (rejected,) = batch.rejected
    assert rejected.reason == reason
    assert rejected.detail
    assert rejected.raw  # the payload (or record) as text, for the quarantine


@pytest.mark.parametrize(
    ("record", "reason", "field"),
    [
        (_rec(iu_ac="abc"), "bad_arc_id", "iu_ac"),
        (_rec(t_1h="2023-13-45T00:00:00+01:00"), "bad_time", "t_1h"),
        (_rec(t_1h="2023-02-01T23:30:00+01:00"), "time_not_on_hour", "t_1h"),
        (_rec(q=-5.0), "negative_flow", "q"),
        (_rec(k=-1.0), "negative_occupancy", "k"),
        (_rec(q="lots"), "bad_flow", "q"),
        # the ETL's DST rule: a naive time in the spring-forward gap, with a value
        (_rec(t_1h="2023-03-26 02:00:00"), "dst_nonexistent", "t_1h"),
    ],
)
def test_impossible_values_follow_the_etl_rules(record: dict, reason: str, field: str) -> None:
    batch = decode_batch([_msg([_rec(t_1h="2023-02-01T22:00:00+01:00"), record])])
    assert batch.rows == 1  # the valid record of the same message is kept
    (rejected,) = batch.rejected
    assert (rejected.reason, rejected.field, rejected.record) == (reason, field, 1)
    assert json.loads(rejected.raw) == record


def test_duplicates_in_a_batch_keep_the_later_record() -> None:
    first, second = _rec(q=100.0), _rec(q=200.0)
    batch = decode_batch([_msg(first), _msg(second), _msg(second)])
    assert batch.result.panel["flow"].tolist() == [200.0]
    assert batch.result.report.duplicates == 2


def test_a_record_with_flow_beats_a_later_one_without() -> None:  # the ETL's dedupe policy
    batch = decode_batch([_msg(_rec(q=100.0)), _msg(_rec(q=None))])
    assert batch.result.panel["flow"].tolist() == [100.0]


def test_fall_back_hours_with_offsets_are_two_distinct_rows() -> None:
    summer, winter = "2023-10-29T02:00:00+02:00", "2023-10-29T02:00:00+01:00"
    batch = decode_batch([_msg([_rec(t_1h=summer, q=1.0), _rec(t_1h=winter, q=2.0)])])
    times = batch.result.panel["time"].dt.strftime("%H:%M").tolist()
    assert times == ["00:00", "01:00"]  # UTC, nothing shifted


def test_records_of_payload_lists() -> None:
    assert records_of_payload(b'{"a": 1}') == [{"a": 1}]
    assert records_of_payload(b'[{"a": 1}, {"b": 2}]') == [{"a": 1}, {"b": 2}]


ARCS = [4264, 5672, 191]
_flows = st.one_of(st.none(), st.floats(min_value=0, max_value=1e5, allow_nan=False))
_occupancies = st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(
    hours=st.lists(
        st.tuples(
            st.integers(0, 24 * 400), st.sampled_from([4264, 5672, 191]), _flows, _occupancies
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda x: (x[0], x[1]),
    )
)
def test_round_trip_of_published_records(hours: list[tuple[int, int, Any, Any]]) -> None:
    base = pd.Timestamp("2022-11-01T00:00Z")
    panel = pd.DataFrame(
        {
            "arc_id": [a for _, a, _, _ in hours],
            "time": [base + pd.Timedelta(hours=h) for h, _, _, _ in hours],
            "flow": [float("nan") if q is None else q for _, _, q, _ in hours],
            "occupancy": [float("nan") if k is None else k for _, _, _, k in hours],
        }
    )
    records = list(panel_to_records(panel))
    assert all(r["t_1h"][-6] in "+-" and r["t_1h"][-3] == ":" for r in records)
    batch = decode_batch([_msg(r) for r in records])
    assert batch.rejected == []
    got = batch.result.panel[["arc_id", "time", "flow", "occupancy"]]
    got = got.sort_values(["arc_id", "time"]).reset_index(drop=True)
    want = expected_store(records)  # the oracle reads the same records with plain pandas
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=200))
def test_any_payload_is_stored_or_quarantined_never_raises(payload: bytes) -> None:
    batch = decode_batch([_msg(None, raw=payload)])
    assert batch.rows + len(batch.rejected) >= 1  # stored or quarantined, never lost


def test_quarantine_log_repairs_a_cut_line_and_knows_redeliveries(tmp_path) -> None:
    path = tmp_path / "q.jsonl"
    message = _msg(None, raw=b"garbage", mid=7)
    log = QuarantineLog(path)
    batch = decode_batch([message])
    assert log.write(batch.rejected) == 1
    with path.open("ab") as fh:
        fh.write(b'{"time": "cut by a kill')
    again = QuarantineLog(path)
    assert again.count == 1 and len(read_quarantine(path)) == 1
    assert path.read_bytes().endswith(b"\n")
    assert again.seen(Message(TOPIC, b"garbage", mid=7, dup=True))
    assert not again.seen(Message(TOPIC, b"garbage", mid=8, dup=True))
    (entry,) = read_quarantine(path)
    assert entry["topic"] == TOPIC and entry["payload"] == "garbage"
    assert entry["reason"] == "not_json" and entry["time"].startswith("2023-11-14T")
