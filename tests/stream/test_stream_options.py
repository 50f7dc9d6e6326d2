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


def _certificates(folder: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)
    p = {k: folder / k for k in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")}
    san = folder / "san.cnf"
    san.write_text("subjectAltName=IP:127.0.0.1\n")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(p["ca.key"]),
        "-out", str(p["ca.pem"]), "-days", "2", "-subj", "/CN=infotrafic test CA")  # fmt: skip
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(p["server.key"]),
        "-out", str(p["server.csr"]), "-subj", "/CN=127.0.0.1")  # fmt: skip
    ssl("x509", "-req", "-in", str(p["server.csr"]), "-CA", str(p["ca.pem"]), "-CAkey",
        str(p["ca.key"]), "-CAcreateserial", "-out", str(p["server.pem"]), "-days", "2",
        "-extfile", str(san))  # fmt: skip
    return p


def test_tls_with_a_private_ca(
    stream_process: Any, tmp_path: Path, real_records: list[dict[str, Any]]
) -> None:
    certs = _certificates(tmp_path / "certs")
    broker = Mosquitto(
        tmp_path / "broker",
        extra=(
            f"cafile {certs['ca.pem']}\ncertfile {certs['server.pem']}\n"
            f"keyfile {certs['server.key']}\n"
        ),
    ).start()
    try:
        # the system CAs do not know this broker: refused at once, with a message
        t0 = time.monotonic()
        result = CliRunner().invoke(
            main,
            ["stream", "--broker", broker.address, "--out", str(tmp_path / "s0"), "--tls",
             "--connect-timeout", "20s"],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        assert "TLS certificate is not trusted" in result.output and "--tls-ca" in result.output
        assert time.monotonic() - t0 < 10  # at once, not after --connect-timeout
        out = tmp_path / "store"
        stream = stream_process(broker.address, out, "--tls-ca", str(certs["ca.pem"])).start()
        result = CliRunner().invoke(
            main,
            ["publish", "--broker", broker.address, "--tls-ca", str(certs["ca.pem"]),
             "--sample", "--arc", "191", "--rate", "100000/s"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        n_sample = int(result.output.split("published: ")[1].split()[0])
        wait_until(lambda: status(out)["run"].get("records") == n_sample, timeout=60, what="tls")
        code, _ = stream.stop(signal.SIGTERM)
        assert code == 0
        assert status(out)["run"]["acked"] == n_sample > 0
    finally:
        broker.stop()
