"""``infotrafic publish``: send records of the v2.1 shape to ``paris/comptages/<iu_ac>``.

Sources: data files of any regime the ETL reads (replayed in time order), a local store, or the
portal's newest hours (:class:`~infotrafic.opendata.OpenDataClient`). Messages are published
with QoS 1 and the command returns once the broker has acknowledged every one of them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infotrafic.exceptions import ConfigurationError
from infotrafic.stream._broker import TOPIC_PREFIX, BrokerConfig, describe_reason
from infotrafic.stream._message import panel_to_records

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PublishSummary",
    "messages_of_records",
    "portal_panel",
    "publish_messages",
    "records_of_panel",
    "replay_order",
]

logger = logging.getLogger("infotrafic.stream")

#: Messages sent and not yet acknowledged at most (paho resends them after a reconnection).
PUBLISH_WINDOW = 1000


@dataclass(frozen=True)
class PublishSummary:
    """What :func:`publish_messages` sent.

    Attributes
    ----------
    messages : int
        Messages acknowledged by the broker.
    records : int
        Records in them.
    seconds : float
        Wall time from the first publish to the last acknowledgement.
    """

    messages: int
    records: int
    seconds: float

    def to_text(self) -> str:
        """One line for the command's output."""
        rate = self.records / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"{self.records} records in {self.messages} messages, {self.seconds:.1f} s "
            f"({rate:,.0f} records/s)"
        )


def replay_order(panel: pd.DataFrame) -> pd.DataFrame:
    """Sort a panel as a live feed would send it: by hour, then arc.

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel.

    Returns
    -------
    pandas.DataFrame
        A new frame.
    """
    return panel.sort_values(["time", "arc_id"], kind="stable").reset_index(drop=True)


def messages_of_records(
    records: Iterable[dict[str, Any]], *, per_message: int = 1, prefix: str = TOPIC_PREFIX
) -> Iterator[tuple[str, bytes, int]]:
    """Group records into messages: ``(topic, payload, number of records)``.

    One record is sent as a JSON object; several (consecutive records of one arc, at most
    ``per_message``) as a JSON array.

    Parameters
    ----------
    records : iterable of dict
        Records of the v2.1 shape (``iu_ac`` first).
    per_message : int, default 1
        Records per message at most.
    prefix : str, default "paris/comptages"
        Topic prefix; the topic is ``<prefix>/<iu_ac>``.

    Yields
    ------
    tuple of (str, bytes, int)

    Examples
    --------
    >>> recs = [{"iu_ac": "1", "q": 1.0}, {"iu_ac": "1", "q": 2.0}, {"iu_ac": "2", "q": 3.0}]
    >>> [(t, n) for t, _, n in messages_of_records(recs, per_message=5)]
    [('paris/comptages/1', 2), ('paris/comptages/2', 1)]
    """
    if per_message < 1:
        raise ConfigurationError(f"--per-message {per_message}: give a positive number")
    group: list[dict[str, Any]] = []

    def emit() -> tuple[str, bytes, int]:
        body: Any = group[0] if len(group) == 1 else group
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return f"{prefix}/{group[0]['iu_ac']}", payload, len(group)

    for record in records:
        if group and (record["iu_ac"] != group[0]["iu_ac"] or len(group) >= per_message):
            yield emit()
            group = []
        group.append(record)
    if group:
        yield emit()


def portal_panel(client: Any, arcs: Sequence[int] | None, hours: int) -> pd.DataFrame:
    """Fetch the portal's newest ``hours`` hours of ``arcs`` (all arcs when ``None``).

    Parameters
    ----------
    client : OpenDataClient
        The portal client.
    arcs : sequence of int, optional
        Arc ids.
    hours : int
        How many of the newest hours.

    Returns
    -------
    pandas.DataFrame
        A canonical panel (empty when the portal has no record).
    """
    import pandas as pd

    from infotrafic._schema import empty_panel

    if hours < 1:
        raise ConfigurationError(f"--hours {hours}: give a positive number of hours")
    bounds = client.time_bounds(list(arcs) if arcs else None)
    if bounds is None:
        return empty_panel()
    newest = bounds[1]
    start = newest - pd.Timedelta(hours=hours - 1)
    panel: pd.DataFrame = client.records(
        list(arcs) if arcs else None, start, newest + pd.Timedelta(hours=1)
    )
    return panel


def publish_messages(
    messages: Iterable[tuple[str, bytes, int]],
    broker: BrokerConfig,
    *,
    rate: float | None = None,
    qos: int = 1,
    client_id: str = "",
    timeout: float = 60.0,
) -> PublishSummary:
    """Publish messages and wait until the broker acknowledged them all.

    Parameters
    ----------
    messages : iterable of (topic, payload, records)
        What to send (see :func:`messages_of_records`).
    broker : BrokerConfig
        The broker.
    rate : float, optional
        At most this many records per second (default: as fast as the broker takes them).
    qos : {0, 1}, default 1
        QoS of the messages.
    client_id : str, default ""
        MQTT client id (empty: one chosen by the broker).
    timeout : float, default 60
        Longest wait (s) for the first connection, and without any acknowledgement from the
        broker (a broker restarted meanwhile is reconnected to, and unacknowledged messages
        are sent again).

    Returns
    -------
    PublishSummary

    Raises
    ------
    ConfigurationError
        When the broker cannot be reached or refuses the connection, or acknowledges nothing
        for ``timeout`` seconds.
    """
    if rate is not None and not rate > 0:
        raise ConfigurationError(f"--rate {rate}: give a positive number of records per second")
    client = broker.client(client_id)
    client.max_inflight_messages_set(PUBLISH_WINDOW)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    refused: list[str] = []
    acked = [0]
    progress = threading.Condition()

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            refused.append(describe_reason(reason))

    def on_publish(c: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with progress:
            acked[0] += 1
            progress.notify_all()

    def wait_acks(limit: int) -> None:
        # paho resends unacknowledged messages after a reconnection: give up only after
        # ``timeout`` seconds without any acknowledgement at all.
        with progress:
            last, since = acked[0], time.monotonic()
            while sent - acked[0] > limit:
                progress.wait(0.2)
                if acked[0] != last:
                    last, since = acked[0], time.monotonic()
                elif time.monotonic() - since > timeout:
                    raise ConfigurationError(
                        f"--broker {broker.address}: no acknowledgement for {timeout:g} s "
                        f"({sent - acked[0]} messages unacknowledged)"
                    )

    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        broker.check_tls()
        client.connect(**broker.connect_kwargs())
    except OSError as exc:
        raise ConfigurationError(
            f"--broker {broker.address}: cannot connect ({exc}); check the address and that "
            "the broker runs"
        ) from exc
    client.loop_start()
    sent = n_records = 0
    try:
        deadline = time.monotonic() + timeout
        while not client.is_connected():
            if refused or time.monotonic() > deadline:
                why = refused[0] if refused else f"no answer within {timeout:g} s"
                raise ConfigurationError(f"--broker {broker.address}: {why}")
            time.sleep(0.01)
        start = time.monotonic()
        for topic, payload, count in messages:
            if sent - acked[0] >= PUBLISH_WINDOW:
                wait_acks(PUBLISH_WINDOW - 1)
            client.publish(topic, payload, qos=qos)
            sent += 1
            n_records += count
            if rate is not None:
                ahead = start + n_records / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        wait_acks(0)
        seconds = time.monotonic() - start
    finally:
        client.disconnect()
        client.loop_stop()
    logger.info("published %d records in %d messages", n_records, sent)
    return PublishSummary(sent, n_records, seconds)


def records_of_panel(panel: pd.DataFrame, *, per_message: int = 1) -> Iterator[dict[str, Any]]:
    """Render a panel as v2.1 records in the order they are sent, as v2.1 records.

    With one record per message, a live feed's order (:func:`replay_order`: hour, then arc);
    with several, each arc's hours in a row so that a message holds consecutive hours of one arc.

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel.
    per_message : int, default 1
        Records per message (see :func:`messages_of_records`).

    Returns
    -------
    iterator of dict
    """
    if per_message == 1:
        return panel_to_records(replay_order(panel))
    ordered = panel.sort_values(["arc_id", "time"], kind="stable").reset_index(drop=True)
    return panel_to_records(ordered)
