"""``infotrafic stream``: subscribe with QoS 1, store batches, acknowledge what is stored.

The delivery contract, end to end:

* **at least once in**: QoS 1 subscription in a persistent session (MQTT 5 ``clean_start=False``
  with a session that does not expire, or MQTT 3.1.1 ``clean_session=False``) under a fixed
  client id, and ``manual_ack``: a message is acknowledged (``client.ack(mid, qos)``) only once
  its records are in the store and its rejects in the quarantine file, both synced to disk. The
  broker keeps every unacknowledged message of the session and delivers it again after a
  reconnection or a restart of either side.
* **exactly once in the store**: records go through the ETL's reader and the store's one dedupe
  policy (:meth:`infotrafic.etl.ParquetStore.ingest`, atomic per partition), so a message stored
  and delivered again leaves the store as it was.
* acknowledgements go only on the connection that received the message (packet ids are per
  connection); a message received on a lost connection is stored but left to the broker, which
  delivers it again.
* a lost connection is retried with exponential backoff (1 s doubling to ``max_backoff``); a store
  that cannot be written keeps the batch in memory, unacknowledged, and is retried.
* :func:`run_stream` returns after ``stop`` is set (the CLI sets it on SIGTERM and SIGINT) once
  the pending batch is stored and acknowledged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infotrafic.exceptions import ConfigurationError, DataValidationError, StoreError
from infotrafic.stream._broker import DEFAULT_TOPIC, BrokerConfig, describe_reason
from infotrafic.stream._message import DecodedBatch, Message, Rejected, decode_batch
from infotrafic.stream._quarantine import QuarantineLog

__all__ = [
    "QUARANTINE_FILE",
    "STATUS_FILE",
    "StreamConfig",
    "StreamStats",
    "default_client_id",
    "run_stream",
    "stop_on_signals",
]

logger = logging.getLogger("infotrafic.stream")

#: The stream's quarantine, relative to the store (a ``_`` folder: invisible to parquet readers).
QUARANTINE_FILE = Path("_stream") / "quarantine.jsonl"
#: Counters of the last run and of every run, rewritten atomically at each flush.
STATUS_FILE = Path("_stream") / "status.json"
#: Seconds without a new message after which an MQTT 3.1.1 subscriber stores its batch (the
#: broker stops sending after ``max_inflight_messages`` unacknowledged messages).
IDLE_FLUSH_V311 = 1.0


def default_client_id(out: Path) -> str:
    """Return the default client id: stable for a store folder, so that a restart resumes.

    Parameters
    ----------
    out : pathlib.Path
        The store folder.

    Returns
    -------
    str
        ``infotrafic-stream-`` and 12 hex digits of the folder's absolute path.

    Examples
    --------
    >>> from pathlib import Path
    >>> default_client_id(Path("/data/processed"))[:18]
    'infotrafic-stream-'
    """
    digest = hashlib.sha256(str(out.expanduser().resolve()).encode("utf-8")).hexdigest()
    return f"infotrafic-stream-{digest[:12]}"


@dataclass(frozen=True)
class StreamConfig:
    """What ``infotrafic stream`` does.

    Parameters
    ----------
    broker : BrokerConfig
        The broker.
    out : pathlib.Path
        The store folder (a :class:`~infotrafic.etl.ParquetStore`).
    topics : sequence of str, default ("paris/comptages/#",)
        Topic filters subscribed with QoS 1.
    flush : float, default 10
        Longest time (s) a received message waits before its batch is stored.
    max_batch : int, default 20000
        Store as soon as this many messages wait.
    client_id : str, optional
        The MQTT client id; default :func:`default_client_id` of ``out``. Two subscribers must
        never share one.
    connect_timeout : float, default 30
        Give up (with an error) if the *first* connection fails for this long; later losses
        are retried forever.
    max_backoff : int, default 30
        Longest wait (s) between two reconnection attempts.
    """

    broker: BrokerConfig
    out: Path
    topics: Sequence[str] = (DEFAULT_TOPIC,)
    flush: float = 10.0
    max_batch: int = 20_000
    client_id: str | None = None
    connect_timeout: float = 30.0
    max_backoff: int = 30

    def __post_init__(self) -> None:
        if not self.flush > 0:
            raise ConfigurationError(f"--flush {self.flush}: give a positive duration, e.g. 10s")
        if self.max_batch < 1:
            raise ConfigurationError(f"max_batch {self.max_batch}: give a positive number")
        if not self.topics or any(not t for t in self.topics):
            raise ConfigurationError("--topic: give a topic filter, e.g. 'paris/comptages/#'")


@dataclass
class StreamStats:
    """Counters of one run of :func:`run_stream`.

    Attributes
    ----------
    messages : int
        Messages received (re-deliveries included).
    records : int
        Records found in them.
    rows_new, rows_updated, rows_unchanged : int
        What the store did with the rows (see :class:`~infotrafic.etl.IngestSummary`).
    duplicates : int
        Rows dropped by the dedupe policy within a batch (a row already stored with the same
        values counts in ``rows_unchanged``).
    quarantined : int
        Lines written to the quarantine file.
    redelivered_rejects : int
        Re-delivered messages whose rejects were already in the quarantine file.
    flushes : int
        Batches stored.
    acked : int
        Messages acknowledged to the broker.
    unacked : int
        Messages stored but left to the broker (received on a connection since lost).
    connections : int
        Successful connections (1 + reconnections).
    store_errors : int
        Failed attempts to store a batch (retried).
    """

    messages: int = 0
    records: int = 0
    rows_new: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    redelivered_rejects: int = 0
    flushes: int = 0
    acked: int = 0
    unacked: int = 0
    connections: int = 0
    store_errors: int = 0

    def to_text(self) -> str:
        """One line for the command's output."""
        return (
            f"{self.messages} messages, {self.records} records: {self.rows_new} new rows, "
            f"{self.rows_updated} updated, {self.rows_unchanged} unchanged, "
            f"{self.duplicates} duplicates, {self.quarantined} quarantined "
            f"({self.flushes} batches, {self.connections} connections)"
        )


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM and SIGINT while the block runs (main thread only).

    Parameters
    ----------
    stop : threading.Event
        The event :func:`run_stream` watches.

    Yields
    ------
    None
    """
    previous = {}

    def handler(signum: int, frame: Any) -> None:
        logger.warning(
            "%s received: storing the pending batch, then exiting", signal.strsignal(signum)
        )
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class _State:
    """What the network thread and the main thread share (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)
    pending: list[Message] = field(default_factory=list)
    connection: int = 0
    connected: bool = False
    last_message: float = 0.0
    first_error: str | None = None
    fatal: str | None = None
    stopping: bool = False


class _Subscriber:
    def __init__(self, config: StreamConfig) -> None:
        from infotrafic.etl import ParquetStore

        self.config = config
        self.store = ParquetStore(config.out)
        self.quarantine = QuarantineLog(config.out / QUARANTINE_FILE)
        self.stats = StreamStats()
        self.state = _State()
        self.client_id = config.client_id or default_client_id(config.out)
        self.client = config.broker.client(self.client_id, manual_ack=True, persistent=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, config.max_backoff))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self._total = self._read_totals()
        self._started = time.time()

    # -- network thread ------------------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            text = describe_reason(reason)
            logger.error("%s refused the connection: %s", self.config.broker.address, text)
            with self.state.lock:
                if not self.state.connection and self.state.first_error is None:
                    self.state.first_error = text
                if not self.state.connection and ("authori" in text.lower() or "user" in text):
                    self.state.fatal = f"the broker refused the connection: {text}"
                    self.state.wake.set()
            return
        with self.state.lock:
            self.state.connection += 1
            self.state.connected = True
            self.stats.connections += 1
        logger.info(
            "connected to %s as %s (session %s)",
            self.config.broker.address,
            self.client_id,
            "resumed" if getattr(flags, "session_present", False) else "new",
        )
        self._subscribe(client)
        self.state.wake.set()

    def _subscribe(self, client: Any) -> None:
        """Subscribe with QoS 1 (again after each connection: the topics may have changed)."""
        if self.config.broker.protocol == "5":
            from paho.mqtt.subscribeoptions import SubscribeOptions

            # retained messages only for a new subscription, not at every reconnection
            options = SubscribeOptions(qos=1, retainHandling=1)
            client.subscribe([(topic, options) for topic in self.config.topics])
        else:
            client.subscribe([(topic, 1) for topic in self.config.topics])

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        with self.state.lock:
            if not self.state.connection and self.state.first_error is None:
                self.state.first_error = "no answer (connection refused or unreachable)"
        logger.warning("cannot reach %s; retrying with backoff", self.config.broker.address)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        with self.state.lock:
            was = self.state.connected and not self.state.stopping
            self.state.connected = False
        if was:
            logger.warning(
                "connection to %s lost (%s); reconnecting with backoff",
                self.config.broker.address,
                describe_reason(reason),
            )

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        now = time.time()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("received %s mid=%d dup=%d", msg.topic, msg.mid, msg.dup)
        with self.state.lock:
            message = Message(
                topic=msg.topic,
                payload=bytes(msg.payload),
                received=now,
                mid=int(msg.mid),
                qos=int(msg.qos),
                dup=bool(msg.dup),
                connection=self.state.connection,
            )
            self.state.pending.append(message)
            self.state.last_message = now
            full = len(self.state.pending) >= self.config.max_batch
        if full:
            self.state.wake.set()

    # -- main thread ---------------------------------------------------------------------------
    def _due(self, now: float) -> bool:
        with self.state.lock:
            if not self.state.pending:
                return False
            if len(self.state.pending) >= self.config.max_batch:
                return True
            if now - self.state.pending[0].received >= self.config.flush:
                return True
            idle = now - self.state.last_message
            return self.config.broker.protocol != "5" and idle >= min(
                IDLE_FLUSH_V311, self.config.flush
            )

    def _decode(self, batch: list[Message]) -> DecodedBatch:
        try:
            return decode_batch(batch)
        except DataValidationError as exc:
            # The envelope checks make this unexpected; find the culprits one message at a time.
            logger.warning("batch unreadable as a whole (%s); reading message by message", exc)
        readable: list[Message] = []
        rejects: list[Rejected] = []
        for message in batch:
            try:
                decode_batch([message])
            except DataValidationError as exc:
                rejects.append(Rejected(message, "unreadable", str(exc), raw=_text(message)))
            else:
                readable.append(message)
        merged = decode_batch(readable) if readable else DecodedBatch(None)
        merged.rejected.extend(rejects)
        return merged

    def flush(self) -> bool:
        """Store the pending batch, write its rejects, acknowledge it; False if it must wait."""
        with self.state.lock:
            batch, self.state.pending = self.state.pending, []
        if not batch:
            return True
        fresh = [m for m in batch if not (m.dup and self.quarantine.seen(m))]
        skipped = len(batch) - len(fresh)
        try:
            decoded = self._decode(fresh)
            rows = decoded.for_store()
            summary = None if rows is None else self.store.ingest(rows)
            written = self.quarantine.write(decoded.rejected)
        except (StoreError, OSError) as exc:
            self.stats.store_errors += 1
            logger.error("cannot store a batch of %d messages (%s); retrying", len(batch), exc)
            with self.state.lock:
                self.state.pending[:0] = batch
            return False
        acked = self._ack(batch)
        stats = self.stats
        stats.messages += len(batch)
        stats.records += decoded.records
        stats.redelivered_rejects += skipped
        stats.quarantined += written
        stats.flushes += 1
        stats.acked += acked
        stats.unacked += sum(1 for m in batch if m.qos) - acked
        if decoded.result is not None:
            stats.duplicates += decoded.result.report.duplicates  # within the batch
        if summary is not None:
            stats.rows_new += summary.rows_new
            stats.rows_updated += summary.rows_updated
            stats.rows_unchanged += summary.rows_unchanged
        logger.info(
            "stored %d messages: %d rows (%d new), %d rejects quarantined, %d acknowledged",
            len(batch),
            decoded.rows,
            0 if summary is None else summary.rows_new,
            written,
            acked,
        )
        self._write_status()
        return True

    def _ack(self, batch: list[Message]) -> int:
        acked = 0
        with self.state.lock:  # no reconnection between the check and the acks
            if not self.state.connected:
                return 0
            current = self.state.connection
            for m in batch:
                if m.qos and m.connection == current:
                    self.client.ack(m.mid, m.qos)
                    acked += 1
        return acked

    def _read_totals(self) -> dict[str, int]:
        path = self.config.out / STATUS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {k: int(v) for k, v in data.get("total", {}).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _write_status(self) -> None:
        from infotrafic._io import atomic_write_text

        run = asdict(self.stats)
        total = {k: self._total.get(k, 0) + v for k, v in run.items()}
        status = {
            "client_id": self.client_id,
            "broker": self.config.broker.address,
            "topics": list(self.config.topics),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._started)),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "quarantine_file": str(QUARANTINE_FILE),
            "run": run,
            "total": total,
        }
        try:
            atomic_write_text(self.config.out / STATUS_FILE, json.dumps(status, indent=1))
        except OSError as exc:
            logger.warning("cannot write %s (%s)", self.config.out / STATUS_FILE, exc)

    def _wait_first_connection(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + self.config.connect_timeout
        while time.monotonic() < deadline and not stop.is_set():
            with self.state.lock:
                if self.state.connection or self.state.fatal:
                    break
            self.state.wake.wait(0.1)
            self.state.wake.clear()
        with self.state.lock:
            fatal, ok, why = self.state.fatal, self.state.connection > 0, self.state.first_error
        if fatal or (not ok and not stop.is_set()):
            reason = fatal or f"no connection within {self.config.connect_timeout:g} s ({why})"
            raise ConfigurationError(
                f"--broker {self.config.broker.address}: {reason}; check the address, that the "
                "broker runs, and the credentials/TLS options"
            )

    def run(self, stop: threading.Event) -> StreamStats:
        self.config.broker.check_tls()
        self.client.connect_async(**self.config.broker.connect_kwargs(persistent=True))
        self.client.loop_start()
        try:
            self._wait_first_connection(stop)
            backoff = 1.0
            while not stop.is_set():
                self.state.wake.wait(0.1)
                self.state.wake.clear()
                if self._due(time.time()):
                    if self.flush():
                        backoff = 1.0
                    else:
                        stop.wait(backoff)
                        backoff = min(backoff * 2, float(self.config.max_backoff))
            for attempt in range(5):  # stopping: store what waits (a few tries if the disk fails)
                if self.flush():
                    break
                time.sleep(min(2.0**attempt, 5.0))
            time.sleep(0.05)  # let the network thread send the last acknowledgements
        finally:
            with self.state.lock:
                self.state.stopping = True
            with contextlib.suppress(Exception):
                self.client.disconnect()
            self.client.loop_stop()
        return self.stats


def _text(message: Message) -> str:
    return message.payload.decode("utf-8", errors="replace")


def run_stream(config: StreamConfig, stop: threading.Event | None = None) -> StreamStats:
    """Subscribe to the broker and store every valid record until ``stop`` is set.

    See the module docstring for the guarantees. Received messages are stored in batches: when
    the oldest has waited ``config.flush`` seconds, when ``config.max_batch`` wait, and when
    stopping.

    Parameters
    ----------
    config : StreamConfig
        Broker, store folder, topics, batching.
    stop : threading.Event, optional
        Set it to stop (see :func:`stop_on_signals`); default: run until the process ends.

    Returns
    -------
    StreamStats
        The counters of the run.

    Raises
    ------
    ConfigurationError
        When the first connection fails for ``config.connect_timeout`` seconds or is refused
        (bad credentials), or paho-mqtt is missing.
    StoreError
        When the store or its quarantine file cannot be opened.
    """
    config.out.mkdir(parents=True, exist_ok=True)
    return _Subscriber(config).run(stop or threading.Event())
