"""The stream's quarantine: one JSON line per rejected message or record, synced to disk.

Each line holds ``time`` (reception, UTC ISO 8601), ``topic``, ``reason``, ``detail``,
``field``, ``record`` (0-based position in the message, ``null`` for the whole message),
``payload`` (the rejected record as JSON, or the whole payload as text), ``key`` (the
message's content key, :func:`~infotrafic.stream._message.message_key`) and ``mid`` (its MQTT
packet id).

A message the broker delivers again (its DUP flag set) after its rejects were already written
with the same packet id is not written twice: the subscriber was stopped, or lost its
connection, between writing them and acknowledging the message. A line cut by a killed process
is removed when the file is opened again.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infotrafic.exceptions import StoreError
from infotrafic.stream._message import Message, Rejected

__all__ = ["QuarantineLog", "read_quarantine"]


def _iso(seconds: float) -> str:
    moment = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_quarantine(path: Path) -> list[dict[str, Any]]:
    """Read the complete lines of a quarantine file (an absent file reads as empty).

    Parameters
    ----------
    path : pathlib.Path
        The JSON-lines file.

    Returns
    -------
    list of dict
        One entry per line, in writing order; a trailing incomplete line is left out.
    """
    if not path.exists():
        return []
    out = []
    with path.open("rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                out.append(json.loads(line))
    return out


def _seen_key(message: Message) -> str:
    return f"{message.key}:{message.mid}"


class QuarantineLog:
    """Append rejects to a JSON-lines file, each batch written and synced in one go.

    Parameters
    ----------
    path : pathlib.Path
        The file (created with its folder on the first write).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: set[str] = set()
        self.count = 0
        try:
            self._repair()
            for entry in read_quarantine(path):
                self._keys.add(f"{entry.get('key')}:{entry.get('mid')}")
                self.count += 1
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"{path}: unreadable stream quarantine ({exc}); move it away to start a new one"
            ) from exc

    def _repair(self) -> None:
        """Cut a last line left incomplete by a killed writer."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as fh:
            data = fh.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                fh.truncate(end)
                os.fsync(fh.fileno())

    def seen(self, message: Message) -> bool:
        """Tell whether rejects of this message (same content, same packet id) were written."""
        return _seen_key(message) in self._keys

    def write(self, rejects: Iterable[Rejected]) -> int:
        """Append the rejects and sync them to disk; return how many lines were written.

        Parameters
        ----------
        rejects : iterable of Rejected
            What to write.

        Returns
        -------
        int

        Raises
        ------
        StoreError
            When the file cannot be written.
        """
        lines = []
        keys = []
        for r in rejects:
            key = r.message.key
            keys.append(_seen_key(r.message))
            entry = {
                "time": _iso(r.message.received),
                "topic": r.message.topic,
                "reason": r.reason,
                "detail": r.detail,
                "field": r.field,
                "record": r.record,
                "payload": r.raw,
                "key": key,
                "mid": r.message.mid,
            }
            lines.append(json.dumps(entry, ensure_ascii=False) + "\n")
        if not lines:
            return 0
        data = "".join(lines).encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write the stream quarantine ({exc})") from exc
        self._keys.update(keys)
        self.count += len(lines)
        return len(lines)
