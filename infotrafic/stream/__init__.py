"""MQTT ingest: ``infotrafic stream`` stores what a broker delivers; ``publish`` feeds it.

Messages are JSON objects (or arrays of them) in the portal's Explore API v2.1 record shape,
published on ``paris/comptages/<iu_ac>``. The subscriber (:func:`run_stream`) takes them with
QoS 1 in a persistent session, reads them with the ETL's rules (ids, times with their DST policy,
state labels, negative values) into the parquet store, whose one dedupe policy makes a
re-delivered message change nothing, and acknowledges a message only once it is stored
(at-least-once in, exactly-once in the store). What cannot be stored goes to a JSON-lines
quarantine file with the reason and the raw payload.

Needs the ``stream`` extra (paho-mqtt >= 2), imported only when a client is built.
"""

from infotrafic.stream._broker import DEFAULT_TOPIC, TOPIC_PREFIX, BrokerConfig, parse_broker
from infotrafic.stream._message import (
    DecodedBatch,
    Message,
    Rejected,
    decode_batch,
    panel_to_records,
    records_of_payload,
)
from infotrafic.stream._publish import (
    PublishSummary,
    messages_of_records,
    portal_panel,
    publish_messages,
    records_of_panel,
)
from infotrafic.stream._quarantine import read_quarantine
from infotrafic.stream._subscriber import (
    QUARANTINE_FILE,
    STATUS_FILE,
    StreamConfig,
    StreamStats,
    default_client_id,
    run_stream,
    stop_on_signals,
)

__all__ = [
    "DEFAULT_TOPIC",
    "QUARANTINE_FILE",
    "STATUS_FILE",
    "TOPIC_PREFIX",
    "BrokerConfig",
    "DecodedBatch",
    "Message",
    "PublishSummary",
    "Rejected",
    "StreamConfig",
    "StreamStats",
    "decode_batch",
    "default_client_id",
    "messages_of_records",
    "panel_to_records",
    "parse_broker",
    "portal_panel",
    "publish_messages",
    "read_quarantine",
    "records_of_panel",
    "records_of_payload",
    "run_stream",
    "stop_on_signals",
]
