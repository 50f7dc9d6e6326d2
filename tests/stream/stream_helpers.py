"""Helpers of the MQTT tests: an independent oracle, a plain paho publisher, the stream process.

The oracle is independent of the library: the expected store is computed from the published
records with plain pandas (``iu_ac`` as an integer, ``t_1h`` parsed with its offset, ``q``/``k``
as floats), never with the ETL the subscriber uses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def expected_store(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows a store must hold for these valid records (one per arc and hour, last wins)."""
    frame = pd.DataFrame(
        {
            "arc_id": [int(r["iu_ac"]) for r in records],
            "time": pd.to_datetime([r["t_1h"] for r in records], utc=True, format="ISO8601"),
            "flow": [float("nan") if r.get("q") is None else float(r["q"]) for r in records],
            "occupancy": [float("nan") if r.get("k") is None else float(r["k"]) for r in records],
        }
    )
    frame = frame.drop_duplicates(["arc_id", "time"], keep="last")
    return frame.sort_values(["arc_id", "time"]).reset_index(drop=True)


def stored(out: Path) -> pd.DataFrame:
    if not any(out.glob("*/*.parquet")):
        return expected_store([])
    frame = pd.read_parquet(out)[["arc_id", "time", "flow", "occupancy"]]
    frame["time"] = frame["time"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return frame.sort_values(["arc_id", "time"]).reset_index(drop=True)


def assert_store_equals(out: Path, records: Sequence[dict[str, Any]]) -> None:
    got, want = stored(out), expected_store(records)
    want["time"] = want["time"].astype("datetime64[ns, UTC]")
    assert len(got) == len(want), f"{len(got)} rows stored, {len(want)} valid unique published"
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def quarantine_lines(out: Path) -> list[dict[str, Any]]:
    path = out / "_stream" / "quarantine.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def topic_of(record: Any) -> str:
    arc = record.get("iu_ac", "x") if isinstance(record, dict) else "x"
    return f"paris/comptages/{arc}"


def publish(
    address: str,
    messages: Sequence[tuple[str, bytes]],
    *,
    rate: float | None = None,
    timeout: float = 60,
) -> None:
    """Publish raw messages with QoS 1 through a plain paho client; wait for every PUBACK.

    paho resends unacknowledged messages after a reconnection, so a broker restarted meanwhile
    loses nothing (it may receive a message twice: the store must not care). ``rate`` spreads
    the messages (messages per second) so that a fault can land in the middle of the stream.
    """
    import threading

    import paho.mqtt.client as mqtt

    host, port = address.rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.reconnect_delay_set(min_delay=1, max_delay=1)
    client.max_inflight_messages_set(100)
    acked = [0]
    cond = threading.Condition()

    def on_publish(*args: Any) -> None:
        with cond:
            acked[0] += 1
            cond.notify_all()

    client.on_publish = on_publish
    client.connect(host, int(port))
    client.loop_start()
    try:
        for i, (topic, payload) in enumerate(messages):
            client.publish(topic, payload, qos=1)
            if rate and i % 10 == 9:
                time.sleep(10 / rate)
        deadline = time.monotonic() + timeout
        with cond:
            while acked[0] < len(messages):
                assert time.monotonic() < deadline, f"{acked[0]}/{len(messages)} acknowledged"
                cond.wait(0.1)
    finally:
        client.disconnect()
        client.loop_stop()


def record_messages(records: Sequence[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [(topic_of(r), json.dumps(r).encode()) for r in records]


def status(out: Path) -> dict[str, Any]:
    path = out / "_stream" / "status.json"
    return json.loads(path.read_text()) if path.exists() else {"run": {}, "total": {}}


def wait_until(predicate: Any, *, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def keys_are_unique(out: Path) -> bool:
    frame = pd.read_parquet(out, columns=["arc_id", "time"])
    return not frame.duplicated().any()


class StreamProcess:
    """``infotrafic stream`` as a real subprocess (its stderr kept in a file of its own)."""

    count = 0

    def __init__(
        self, address: str, out: Path, *extra: str, flush: str = "0.5s", debug: bool = False
    ) -> None:
        self.out = out
        StreamProcess.count += 1
        self.log = out.parent / f"{out.name}-stream-{StreamProcess.count}.log"
        level = "-vv" if debug else "-v"
        self.args = [
            sys.executable, "-m", "infotrafic", level, "stream", "--broker", address,
            "--out", str(out), "--flush", flush, "--client-id", f"test-{out.name}", *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> StreamProcess:
        self.log_handle = self.log.open("a")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=self.log_handle, text=True, env=env
        )
        self.wait_for("connected to", timeout=30)
        return self

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.logs().count(text) < count:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"stream exited {self.proc.returncode}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} x{count} within {timeout} s:\n{self.logs()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str]:
        assert self.proc is not None
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=timeout)
        self.log_handle.close()
        return self.proc.returncode, out

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.communicate(timeout=30)
        self.log_handle.close()

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.kill()
        if hasattr(self, "log_handle"):
            self.log_handle.close()
