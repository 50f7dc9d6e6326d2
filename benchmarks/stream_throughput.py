"""MQTT ingest throughput: records/s stored by ``infotrafic stream`` next to a bare subscriber.

Usage::

    python benchmarks/stream_throughput.py [--data tests/data/paris] [--limit N] [--per-message K]
        [--flush 1s]

One run, one real Mosquitto (``tests/stream/mqtt_fixture.py``: loopback, persistence on, no cap
on queued messages), the real export files replayed (rendered as the portal's v2.1 records,
one message per record by default). Each side drains the same backlog:

1. its persistent session is created (connect, subscribe QoS 1, disconnect);
2. ``infotrafic publish``'s own code publishes the replay to the broker, which queues it for the
   offline session;
3. the side connects again and the clock runs from its connection to the last record:

* ``bare paho``: a paho-mqtt 2 client that only counts messages (automatic acknowledgements):
  the ceiling of what a Python subscriber receives from this broker on this machine;
* ``infotrafic stream``: the real command as a subprocess: decoding, the ETL's rules, the
  parquet store's merge, quarantine and acknowledgements after each durable batch. Its clock
  runs from its "connected" log line to the status file showing every record stored.

The publisher is not measured (the backlog is in the broker before a side connects).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _data import DEFAULT_DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "stream"))

from mqtt_fixture import Mosquitto  # the tests' broker: one way to start it

TOPIC = "paris/comptages/#"


def replay(data: Path, limit: int | None, per_message: int) -> list[tuple[str, bytes, int]]:
    import pandas as pd

    from infotrafic.etl import read_files
    from infotrafic.stream import messages_of_records, records_of_panel

    files = sorted((data / "exports").glob("*.csv.gz"))
    panel = read_files(files).panel
    panel = panel.sort_values(["time", "arc_id"]).reset_index(drop=True)
    if limit:
        panel = panel.head(limit)
    assert isinstance(panel, pd.DataFrame)
    records = records_of_panel(panel, per_message=per_message)
    return list(messages_of_records(records, per_message=per_message))


def publish(address: str, messages: list[tuple[str, bytes, int]]) -> None:
    from infotrafic.stream import BrokerConfig, parse_broker, publish_messages

    host, port = parse_broker(address)
    publish_messages(messages, BrokerConfig(host, port), timeout=120)


def bare(address: str, messages: list[tuple[str, bytes, int]]) -> float:
    import paho.mqtt.client as mqtt

    host, port = address.rsplit(":", 1)
    n = len(messages)
    got = [0]
    done = threading.Event()
    connected: list[float] = []

    def on_connect(client: mqtt.Client, *args: object) -> None:
        connected.append(time.perf_counter())
        client.subscribe(TOPIC, qos=1)

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        got[0] += 1
        if got[0] >= n:
            done.set()

    def client() -> mqtt.Client:
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id="bench-bare",
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        c.on_connect, c.on_message = on_connect, on_message
        return c

    first = client()  # create the session and its subscription
    first.connect(host, int(port))
    first.loop_start()
    while not connected:
        time.sleep(0.01)
    time.sleep(0.3)
    first.disconnect()
    first.loop_stop()
    publish(address, messages)
    connected.clear()
    second = client()
    second.connect(host, int(port))
    second.loop_start()
    if not done.wait(600):
        raise RuntimeError(f"bare subscriber got {got[0]} of {n} messages")
    end = time.perf_counter()
    second.disconnect()
    second.loop_stop()
    return end - connected[0]


def stream(address: str, messages: list[tuple[str, bytes, int]], flush: str) -> float:
    n_records = sum(count for _, _, count in messages)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "store"
        cmd = [sys.executable, "-m", "infotrafic", "-v", "stream", "--broker", address,
               "--out", str(out), "--flush", flush, "--client-id", "bench-stream"]  # fmt: skip

        def start(log: Path) -> tuple[subprocess.Popen[bytes], float]:
            handle = log.open("wb")
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=handle)
            while b"connected to" not in log.read_bytes():
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text())
                time.sleep(0.005)
            return proc, time.perf_counter()

        proc, _ = start(Path(tmp) / "first.log")  # create the session
        proc.terminate()
        proc.wait(60)
        publish(address, messages)
        proc, t0 = start(Path(tmp) / "second.log")
        status = out / "_stream" / "status.json"
        while True:
            if status.exists():
                try:
                    stored = json.loads(status.read_text())["run"]["records"]
                except (ValueError, KeyError):
                    stored = 0
                if stored >= n_records:
                    break
            if proc.poll() is not None:
                raise RuntimeError((Path(tmp) / "second.log").read_text())
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        proc.terminate()
        proc.wait(60)
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None, help="records replayed (all)")
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--flush", default="1s")
    args = parser.parse_args()
    messages = replay(args.data, args.limit, args.per_message)
    n_records = sum(count for _, _, count in messages)
    print(f"replay: {n_records} real records in {len(messages)} messages ({args.data})")
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker").start()
        try:
            t_bare = bare(broker.address, messages)
            t_stream = stream(broker.address, messages, args.flush)
        finally:
            broker.stop()
    bare_rate, stream_rate = n_records / t_bare, n_records / t_stream
    print(f"{'side':<20}{'seconds':>10}{'records/s':>12}")
    print(f"{'bare paho (ceiling)':<20}{t_bare:>10.2f}{bare_rate:>12,.0f}")
    print(f"{'infotrafic stream':<20}{t_stream:>10.2f}{stream_rate:>12,.0f}")
    print(f"ratio stream / ceiling: {stream_rate / bare_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
