"""The ``stream`` and ``publish`` commands: light --help, clear errors, a real round trip."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from mqtt_fixture import free_port
from stream_helpers import quarantine_lines, status, stored, wait_until

from infotrafic.cli import main
from infotrafic.cli._stream import parse_duration, parse_rate

EXPORT = "exports/arc5672_2022-11_2023-12.csv.gz"


@pytest.mark.parametrize("command", ["stream", "publish"])
def test_help_imports_neither_paho_nor_pandas(command: str) -> None:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['infotrafic', {command!r}, '--help']\n"
        "try:\n    runpy.run_module('infotrafic', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('paho', 'pandas', 'numpy'))\n"
        "print('@@', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--broker HOST:PORT" in out.stdout
    assert out.stdout.strip().endswith("@@ []"), out.stdout[-300:]


def test_durations_and_rates() -> None:
    assert parse_duration("250ms") == 0.25 and parse_duration("1.5m") == 90.0
    assert parse_rate("120/min") == 2.0
    for bad in ("0s", "-1", "ten", "5 parsecs"):
        with pytest.raises(Exception, match="positive duration"):
            parse_duration(bad)


def test_unreachable_broker_is_a_one_line_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = CliRunner().invoke(
        main,
        ["stream", "--broker", f"127.0.0.1:{port}", "--out", str(tmp_path / "s"),
         "--connect-timeout", "1.5s"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"--broker 127.0.0.1:{port}: no connection within 1.5 s" in result.output
    result = CliRunner().invoke(main, ["publish", "--broker", f"127.0.0.1:{port}", "--sample"])
    assert result.exit_code == 1 and "cannot connect" in result.output


def test_bad_options_name_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["stream", "--broker", "127.0.0.1:99999", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1 and "port must be a number in 1-65535" in result.output
    result = CliRunner().invoke(
        main, ["stream", "--broker", "h:1", "--out", str(tmp_path), "--flush", "soon"]
    )
    assert result.exit_code == 2 and "--flush" in result.output
    result = CliRunner().invoke(main, ["publish", "--broker", "h:1"])
    assert result.exit_code == 2 and "exactly one source" in result.output


@pytest.mark.server
@pytest.mark.parametrize("per_message", [1, 24])
def test_publish_a_real_file_into_a_running_stream(
    mosquitto: Any, stream_process: Any, tmp_path: Path, shared_data: Path, per_message: int
) -> None:
    out = tmp_path / "store"
    stream = stream_process(mosquitto.address, out).start()
    result = subprocess.run(
        [sys.executable, "-m", "infotrafic", "publish", "--broker", mosquitto.address,
         str(shared_data / EXPORT), "--per-message", str(per_message)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # the oracle: the export's own columns read with plain pandas (not the library's reader)
    raw = pd.read_csv(shared_data / EXPORT, sep=";", encoding="utf-8-sig")
    raw = raw.drop_duplicates(["Identifiant arc", "Date et heure de comptage"], keep="last")
    n = len(raw)
    assert f"published: {n} records" in result.stdout
    messages = -(-n // per_message) if per_message > 1 else n
    wait_until(lambda: status(out)["run"].get("records") == n, timeout=120, what="all records")
    code, _ = stream.stop(signal.SIGTERM)
    assert code == 0
    got = stored(out)
    assert len(got) == n and quarantine_lines(out) == []
    want_times = pd.to_datetime(raw["Date et heure de comptage"], utc=True, format="ISO8601")
    assert set(got["time"]) == set(want_times)
    by_time = dict(zip(want_times, raw["Débit horaire"], strict=True))
    flows = got["flow"].to_numpy()
    expect = pd.Series([by_time[t] for t in got["time"]]).to_numpy(dtype=float)
    assert ((flows == expect) | (pd.isna(flows) & pd.isna(expect))).all()
    run = json.loads((out / "_stream" / "status.json").read_text())["run"]
    assert run["messages"] == run["acked"] == messages  # one arc: arrays of 24 hours in a row


@pytest.mark.server
def test_publish_relays_the_portals_newest_hours(
    mosquitto: Any, stream_process: Any, tmp_path: Path
) -> None:
    from infotrafic.datasets import load_sample, load_sample_arcs
    from infotrafic.testing import OpenDataServer

    sample = load_sample()
    served = sample[sample["time"] > sample["time"].max() - pd.Timedelta(days=2)]
    newest = served["time"].max()
    want = served[(served["arc_id"] == 4264) & (served["time"] > newest - pd.Timedelta(hours=6))]
    assert len(want) == 6
    out = tmp_path / "store"
    stream = stream_process(mosquitto.address, out).start()
    with OpenDataServer(panel=served, arcs=load_sample_arcs()) as portal:
        result = CliRunner().invoke(
            main,
            ["publish", "--broker", mosquitto.address, "--from-portal",
             "--base-url", portal.url, "--arc", "4264", "--hours", "6"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "published: 6 records in 6 messages" in result.output
    wait_until(lambda: status(out)["run"].get("records") == 6, what="six records")
    assert stream.stop(signal.SIGTERM)[0] == 0
    got = stored(out)
    assert got["time"].tolist() == want["time"].tolist()
    assert got["flow"].tolist() == want["flow"].tolist()
