"""Broker options against a real Mosquitto: credentials, MQTT 3.1.1, several records a message."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mqtt_fixture import Mosquitto
from stream_helpers import assert_store_equals, publish, record_messages, status, wait_until

from infotrafic.cli import main

pytestmark = pytest.mark.server


@pytest.fixture
def secured(tmp_path: Path) -> Any:
    """A broker that requires a user name and password (mosquitto_passwd file)."""
    passwd = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwd), "ingest", "s3cret pass"],
        check=True,
        capture_output=True,
    )
    passwd.chmod(0o600)
    broker = Mosquitto(
        tmp_path / "broker",
        extra=f"password_file {passwd}\n",
    )
    broker.conf.write_text(
        broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
    )
    broker.start()
    yield broker
    broker.stop()


def test_credentials_from_a_file(
    secured: Any, stream_process: Any, tmp_path: Path, real_records: list[dict[str, Any]]
) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("s3cret pass\n")
    bad.write_text("guess\n")
    t0 = time.monotonic()
    result = CliRunner().invoke(
        main,
        ["stream", "--broker", secured.address, "--out", str(tmp_path / "s0"),
         "--username", "ingest", "--password-file", str(bad), "--connect-timeout", "20s"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert time.monotonic() - t0 < 10  # a refused login fails at once, not after the timeout
    assert "refused the connection" in result.output and "guess" not in result.output
    out = tmp_path / "store"
    stream = stream_process(
        secured.address, out, "--username", "ingest", "--password-file", str(good)
    ).start()
    messages = record_messages(real_records[:50])
    result = CliRunner().invoke(
        main,
        ["publish", "--broker", secured.address, "--username", "ingest",
         "--password-file", str(good), "--sample", "--arc", "191", "--rate", "100000/s"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    n_sample = int(result.output.split("published: ")[1].split()[0])
    wait_until(lambda: status(out)["run"].get("records") == n_sample, timeout=60, what="sample")
    code, _ = stream.stop(signal.SIGTERM)
    assert code == 0
    assert "s3cret" not in stream.logs()
    with pytest.raises(AssertionError, match="acknowledged"):  # anonymous clients are refused
        publish(secured.address, messages, timeout=3)


def test_mqtt_311_session_is_flushed_when_the_stream_pauses(
    mosquitto: Any, stream_process: Any, tmp_path: Path, real_records: list[dict[str, Any]]
) -> None:
    # mosquitto sends an MQTT 3.1.1 session at most max_inflight_messages (20) unacknowledged
    # messages: the subscriber must store and acknowledge without waiting for --flush
    out = tmp_path / "store"
    stream = stream_process(mosquitto.address, out, "--mqtt", "3.1.1", flush="10m").start()
    publish(mosquitto.address, record_messages(real_records[:300]))
    wait_until(lambda: status(out)["run"].get("messages") == 300, timeout=60, what="300")
    code, _ = stream.stop(signal.SIGTERM)
    assert code == 0
    assert_store_equals(out, real_records[:300])
    assert status(out)["run"]["acked"] == 300  # all acknowledged, none waited for --flush
