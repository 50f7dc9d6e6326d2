"""A real Mosquitto broker for the tests and the stream benchmark (no mock, loopback only).

:class:`Mosquitto` runs ``/usr/sbin/mosquitto`` (Debian package ``mosquitto``) with its own
configuration in a temporary folder: a listener on a free ``127.0.0.1`` port, anonymous access,
``persistence true`` (sessions and queued messages survive a restart), no cap on queued
messages. ``restart()`` stops it with SIGTERM (it saves its database) and starts it again on the
same port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BINARY = os.environ.get("INFOTRAFIC_MOSQUITTO", "/usr/sbin/mosquitto")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str | None:
    if os.path.isfile(BINARY) and os.access(BINARY, os.X_OK):
        return BINARY
    return shutil.which("mosquitto")


class Mosquitto:
    """A mosquitto process on 127.0.0.1 with persistence, in ``folder``."""

    def __init__(self, folder: Path, *, port: int | None = None, extra: str = "") -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError(
                f"mosquitto not found at {BINARY} nor on PATH: apt-get install mosquitto "
                "(or set INFOTRAFIC_MOSQUITTO)"
            )
        self.binary = binary
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        # As root, mosquitto drops to the user "mosquitto", who could not write its database
        # into this folder: keep the current user.
        user = pwd.getpwuid(os.getuid()).pw_name
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"user {user}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n" + extra,
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.address}: {self.tail()}")

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None

    def restart(self, *, down: float = 0.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
