"""``infotrafic stream`` as a real process against a real Mosquitto, with faults.

Each test publishes real records (the bundled v2.1 API file and export rows rendered as v2.1
records), duplicates and garbage, and checks that the store equals the set of valid unique
records published (computed by an oracle that does not use the library) and that every bad item
is in the quarantine file exactly once.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from stream_helpers import (
    assert_store_equals,
    expected_store,
    keys_are_unique,
    publish,
    quarantine_lines,
    record_messages,
    status,
    stored,
    wait_until,
)

# real broker restarts and killed subscribers: run once, in the full (pandas 2) session
pytestmark = [pytest.mark.server, pytest.mark.slow]

#: Bad messages (one quarantine line each) and the reason written for each.
GARBAGE: list[tuple[bytes, str]] = [
    (b"not json at all", "not_json"),
    (b"\xff\xfe\xfa", "not_utf8"),
    (b"[]", "empty"),
    (b'{"foo": "bar"}', "missing_field"),
    (b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "q": NaN}', "not_json"),
    (b'{"iu_ac": "4264", "t_1h": "2023-13-40T25:00:00+01:00", "q": 3}', "bad_time"),
    (b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "q": -12}', "negative_flow"),
    (b'{"iu_ac": "x9", "t_1h": "2023-02-01T23:00:00+01:00", "q": 5}', "bad_arc_id"),
    (b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "k": 250}', "occupancy_above_100"),
]


def _garbage() -> list[tuple[str, bytes]]:
    return [("paris/comptages/4264", payload) for payload, _ in GARBAGE]


def _mixed(records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """Valid records, a repeat of a fifth of them, and the garbage spread in between."""
    messages = record_messages(records)
    messages += record_messages(records[::5])  # duplicates (a re-sent block)
    garbage = _garbage()
    step = len(messages) // (len(garbage) + 1)
    for i, item in enumerate(garbage):
        messages.insert((i + 1) * step, item)
    return messages


def _check_quarantine(out: Path) -> None:
    lines = quarantine_lines(out)
    assert sorted(e["reason"] for e in lines) == sorted(r for _, r in GARBAGE), lines
    for entry in lines:
        assert entry["topic"] == "paris/comptages/4264"
        assert entry["payload"] and entry["detail"] and entry["time"].endswith("Z")


def test_duplicates_and_garbage(
    mosquitto: Any, stream_process: Any, tmp_path: Path, real_records: list[dict[str, Any]]
) -> None:
    out = tmp_path / "store"
    stream = stream_process(mosquitto.address, out).start()
    messages = _mixed(real_records)
    publish(mosquitto.address, messages)
    wait_until(lambda: status(out)["run"].get("messages") == len(messages), what="all messages")
    code, summary = stream.stop(signal.SIGTERM)
    assert code == 0, stream.logs()
    assert_store_equals(out, real_records)
    _check_quarantine(out)
    run = status(out)["run"]
    assert run["quarantined"] == len(GARBAGE)
    assert run["acked"] == len(messages) and run["unacked"] == 0
    repeats = len(real_records[::5])  # they changed nothing
    assert run["duplicates"] + run["rows_unchanged"] == repeats
    assert f"{len(GARBAGE)} quarantined" in summary


def test_broker_restarted_mid_stream(
    mosquitto: Any, stream_process: Any, tmp_path: Path, real_records: list[dict[str, Any]]
) -> None:
    out = tmp_path / "store"
    stream = stream_process(mosquitto.address, out).start()
    messages = _mixed(real_records)
    publisher = threading.Thread(
        target=publish, args=(mosquitto.address, messages), kwargs={"rate": 400}
    )
    publisher.start()
    wait_until(lambda: len(stored(out)) > 50, what="the first rows stored")
    mosquitto.restart(down=1.0)  # SIGTERM: the broker saves its sessions, then comes back
    publisher.join(120)
    assert not publisher.is_alive()
    want = len(expected_store(real_records))
    wait_until(lambda: len(stored(out)) == want, timeout=60, what="every record stored")
    stream.wait_for("connected to", count=2)
    time.sleep(1.0)  # re-deliveries of what the lost connection had not acknowledged
    code, _ = stream.stop(signal.SIGTERM)
    assert code == 0, stream.logs()
    assert "connection to" in stream.logs() and "lost" in stream.logs()
    assert_store_equals(out, real_records)
    assert keys_are_unique(out)
    _check_quarantine(out)


def test_sigkilled_subscriber_restarted(
    mosquitto: Any, stream_process: Any, tmp_path: Path, real_records: list[dict[str, Any]]
) -> None:
    out = tmp_path / "store"
    first = stream_process(mosquitto.address, out, flush="0.3s").start()
    messages = _mixed(real_records)
    publisher = threading.Thread(
        target=publish, args=(mosquitto.address, messages), kwargs={"rate": 400}
    )
    publisher.start()
    wait_until(lambda: len(stored(out)) > 50, what="the first rows stored")
    first.kill()  # SIGKILL: some messages stored and acknowledged, some only stored, some neither
    publisher.join(120)
    assert not publisher.is_alive()
    partial = len(stored(out))
    second = stream_process(mosquitto.address, out).start()
    assert "session resumed" in second.logs()
    want = len(expected_store(real_records))
    wait_until(lambda: len(stored(out)) == want, timeout=60, what="every record stored")
    time.sleep(1.0)
    code, _ = second.stop(signal.SIGTERM)
    assert code == 0, second.logs()
    assert partial < want  # the kill really landed mid-stream
    assert_store_equals(out, real_records)
    assert keys_are_unique(out)
    _check_quarantine(out)  # re-delivered garbage is not quarantined twice
    assert not list(out.rglob(".*.tmp"))  # the store's writes are atomic


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_stores_the_pending_batch(
    mosquitto: Any,
    stream_process: Any,
    tmp_path: Path,
    real_records: list[dict[str, Any]],
    sig: signal.Signals,
) -> None:
    out = tmp_path / "store"
    stream = stream_process(mosquitto.address, out, flush="10m", debug=True).start()
    messages = _mixed(real_records[:200])
    publish(mosquitto.address, messages)
    stream.wait_for("received paris/comptages/", count=len(messages))
    assert stored(out).empty  # nothing is due before ten minutes...
    code, summary = stream.stop(sig)  # ...but SIGTERM (or Ctrl-C) stores it, then exits 0
    assert code == 0, stream.logs()
    assert_store_equals(out, real_records[:200])
    _check_quarantine(out)
    assert "streamed:" in summary
    assert json.loads((out / "_stream" / "status.json").read_text())["run"]["acked"] == len(
        messages
    )
    if sig != signal.SIGTERM:
        return
    # the acknowledgements reached the broker before the exit: the session gives nothing again
    again = stream_process(mosquitto.address, out, debug=True).start()
    assert "session resumed" in again.logs()
    time.sleep(1.0)
    assert again.stop(signal.SIGTERM)[0] == 0
    assert "received paris/comptages/" not in again.logs()
