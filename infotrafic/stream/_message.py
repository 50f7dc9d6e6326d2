"""MQTT messages <-> records of the portal's v2.1 shape, checked by the ETL's own rules.

A message carries a JSON object, or a JSON array of objects (the v2.1 ``/records`` envelope
``{"results": [...]}`` is accepted too), each a flat record as the Explore API v2.1 returns it::

    {"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "q": 764.0, "k": 11.3,
     "etat_trafic": "Fluide", "etat_barre": "Invalide"}

This module checks only the *envelope* (UTF-8, strict JSON, objects, the fields ``iu_ac``,
``t_1h`` and ``q`` or ``k`` present, numbers finite, an occupancy of at most 100 %). Values are
read by the ETL's reader (:func:`infotrafic.etl.read_file` on the batch written as a JSON list),
so ids, times, DST, state labels, negative values and duplicates follow exactly the rules of
``infotrafic etl``. Whatever
is rejected, at either level, becomes a :class:`Rejected` naming the message, the record and the
reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infotrafic.exceptions import DataValidationError

if TYPE_CHECKING:  # pandas only when a batch is decoded, never for the CLI's --help
    import pandas as pd

    from infotrafic.etl import ReadResult

__all__ = [
    "DecodedBatch",
    "StoreRows",
    "Message",
    "Rejected",
    "decode_batch",
    "message_key",
    "records_of_payload",
    "panel_to_records",
]

#: Fields every record must carry (``q`` or ``k`` is also required, either may be ``null``).
REQUIRED_FIELDS = ("iu_ac", "t_1h")
_NUMBERS = ("q", "k")


def message_key(topic: str, payload: bytes) -> str:
    """Identify a message by content: SHA-256 of its topic and payload (hex, 32 characters).

    Parameters
    ----------
    topic : str
        The MQTT topic.
    payload : bytes
        The raw payload.

    Returns
    -------
    str

    Examples
    --------
    >>> message_key("paris/comptages/4264", b"{}") == message_key("paris/comptages/4264", b"{}")
    True
    """
    digest = hashlib.sha256(topic.encode("utf-8", "replace") + b"\0" + payload)
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Message:
    """One received MQTT message, as the subscriber keeps it until it is stored.

    Attributes
    ----------
    topic : str
        The topic it was published on.
    payload : bytes
        The raw payload.
    received : float
        Reception time (Unix seconds).
    mid : int
        The MQTT packet id (0 for QoS 0), used to acknowledge it.
    qos : int
        The QoS it was delivered with.
    dup : bool
        The broker's DUP flag: a re-delivery of a message it sent before.
    connection : int
        Which connection of the subscriber received it (acks go only on that connection).
    """

    topic: str
    payload: bytes
    received: float = 0.0
    mid: int = 0
    qos: int = 0
    dup: bool = False
    connection: int = 0

    @property
    def key(self) -> str:
        """The content key of the message (:func:`message_key`)."""
        return message_key(self.topic, self.payload)


@dataclass(frozen=True)
class Rejected:
    """A message, or one record of it, that cannot be stored.

    Attributes
    ----------
    message : Message
        The message.
    reason : str
        Why: ``not_json``, ``not_utf8``, ``not_a_record``, ``empty``, ``missing_field``,
        ``bad_value``, ``bad_number``, or a reason of the ETL's quarantine (``bad_arc_id``,
        ``bad_time``, ``time_not_on_hour``, ``negative_flow``, ``occupancy_above_100``,
        ``dst_nonexistent``, ...).
    detail : str
        A sentence naming the field and the value at fault.
    record : int or None
        0-based position of the record in the message (``None``: the whole message).
    raw : str
        The rejected record as JSON, or the whole payload (decoded as UTF-8, invalid bytes
        replaced) when the message itself is rejected.
    field : str or None
        The field at fault, when one is.
    """

    message: Message
    reason: str
    detail: str
    record: int | None = None
    raw: str = ""
    field: str | None = None


@dataclass
class DecodedBatch:
    """What a batch of messages holds: the ETL's result for the good records and the rejects.

    Attributes
    ----------
    result : ReadResult or None
        The canonical panel (deduplicated by the ETL's policy, rows read later win), arcs and
        report of the records that passed; ``None`` when none did.
    rejected : list of Rejected
        Every rejected message or record, in arrival order.
    records : int
        Records found in the messages (passed or not).
    """

    result: ReadResult | None
    rejected: list[Rejected] = field(default_factory=list)
    records: int = 0

    @property
    def rows(self) -> int:
        """Rows of the panel to store."""
        return 0 if self.result is None else len(self.result.panel)

    def for_store(self) -> StoreRows | None:
        """Return what :meth:`infotrafic.etl.ParquetStore.ingest` receives: panel and arcs.

        The rejects are left out: the stream writes them, with their message, to its own
        quarantine file.
        """
        if self.result is None:
            return None
        quarantine = self.result.quarantine.iloc[0:0]
        return StoreRows(self.result.panel, self.result.arcs, quarantine)


@dataclass(frozen=True)
class StoreRows:
    """Panel, arcs table and (empty) quarantine: what a store ingests."""

    panel: pd.DataFrame
    arcs: pd.DataFrame
    quarantine: pd.DataFrame


def _strict_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON (use null for a missing value)")


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", errors="replace")


def records_of_payload(payload: bytes) -> list[Any]:
    """Decode a payload into its list of records (JSON object, array, or ``results`` envelope).

    Parameters
    ----------
    payload : bytes
        The raw MQTT payload.

    Returns
    -------
    list
        The records as decoded (not checked yet; see :func:`decode_batch`).

    Raises
    ------
    DataValidationError
        When the payload is not UTF-8 JSON, or neither an object nor an array; ``field`` holds
        the reason name (``not_utf8``, ``not_json``, ``not_a_record``, ``empty``).

    Examples
    --------
    >>> records_of_payload(b'{"iu_ac": "4264"}')
    [{'iu_ac': '4264'}]
    >>> records_of_payload(b'[1, 2]')
    [1, 2]
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"payload is not UTF-8 ({exc})", field="not_utf8") from exc
    try:
        doc = json.loads(text.lstrip("\ufeff"), parse_constant=_strict_constant)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise DataValidationError(f"payload is not JSON ({exc})", field="not_json") from exc
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        doc = doc["results"]  # the /records envelope, as the API answers it
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            raise DataValidationError("payload is an empty JSON array", field="empty")
        return doc
    raise DataValidationError(
        f"payload is a JSON {type(doc).__name__}, expected an object or an array of objects",
        field="not_a_record",
    )


def _check_record(record: Any) -> tuple[str, str, str | None] | None:
    """Apply the envelope rule: ``None`` when the record may go to the reader, else why not."""
    if not isinstance(record, dict):
        return "not_a_record", f"record is a JSON {type(record).__name__}, not an object", None
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if not any(f in record for f in _NUMBERS):
        missing.append("q")
    if missing:
        found = ", ".join(sorted(map(str, record))[:12]) or "none"
        return (
            "missing_field",
            f"record lacks field(s) {missing} (v2.1 records carry iu_ac, t_1h, q, k; "
            f"fields found: {found})",
            missing[0],
        )
    for name in (*REQUIRED_FIELDS, *_NUMBERS):
        value = record.get(name)
        if isinstance(value, (dict, list, bool)):
            return "bad_value", f"{name} is a JSON {type(value).__name__}: {value!r}", name
        if name in _NUMBERS and isinstance(value, float) and not math.isfinite(value):
            return "bad_number", f"{name} is not a finite number ({value!r})", name
    return None


def _dump(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _read_records(records: list[dict[str, Any]], name: str) -> ReadResult:
    """Read records with the ETL's reader (written as a JSON list to a private temp file)."""
    from infotrafic.etl import read_file

    fd, path = tempfile.mkstemp(prefix="infotrafic-stream-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(records, fh, ensure_ascii=False, separators=(",", ":"))
        return read_file(path, source_name=name)
    finally:
        os.unlink(path)


def decode_batch(messages: Sequence[Message], *, name: str = "mqtt") -> DecodedBatch:
    """Decode messages into the panel to store and the rejects to quarantine.

    Parameters
    ----------
    messages : sequence of Message
        In arrival order (for duplicates, a record read later wins, as in the ETL).
    name : str, default "mqtt"
        Source name given to the reader.

    Returns
    -------
    DecodedBatch

    Examples
    --------
    >>> ok = Message("paris/comptages/4264",
    ...              b'{"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00", "q": 764.0}')
    >>> bad = Message("paris/comptages/4264", b'[{"iu_ac": "4264", "t_1h": "x", "q": 1}, "?"]')
    >>> batch = decode_batch([ok, bad])
    >>> batch.result.panel[["arc_id", "flow"]].to_dict("records")
    [{'arc_id': 4264, 'flow': 764.0}]
    >>> [(r.reason, r.record) for r in batch.rejected]
    [('bad_time', 0), ('not_a_record', 1)]
    """
    rejected: list[Rejected] = []
    good: list[dict[str, Any]] = []
    origin: list[tuple[int, int]] = []  # (message index, record index) of every good record
    n_records = 0
    for i, message in enumerate(messages):
        try:
            records = records_of_payload(message.payload)
        except DataValidationError as exc:
            reason = exc.field or "not_json"
            detail = str(exc).split(": ", 1)[-1]
            rejected.append(Rejected(message, reason, detail, raw=_text(message.payload)))
            continue
        n_records += len(records)
        for j, record in enumerate(records):
            problem = _check_record(record)
            if problem is None:
                good.append(record)
                origin.append((i, j))
            else:
                reason, detail, fld = problem
                rejected.append(Rejected(message, reason, detail, j, _dump(record), fld))
    if not good:
        return DecodedBatch(None, rejected, n_records)
    result = _read_records(good, name)
    if len(result.quarantine):
        q = result.quarantine
        for line, fld, reason, raw in zip(
            q["line"], q["field"], q["reason"], q["raw"], strict=True
        ):
            i, j = origin[int(line) - 1]
            value = "" if raw is None else str(raw)
            rejected.append(
                Rejected(
                    messages[i],
                    str(reason),
                    f"{fld} = {value!r} rejected by the ETL rules ({reason})",
                    j,
                    _dump(good[int(line) - 1]),
                    str(fld) if fld else None,
                )
            )
    position = {id(m): k for k, m in enumerate(messages)}
    rejected.sort(key=lambda r: (position[id(r.message)], -1 if r.record is None else r.record))
    return DecodedBatch(result, rejected, n_records)


# -- the other way: panel rows -> records of the v2.1 shape (what `infotrafic publish` sends) ----


def panel_to_records(panel: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Render canonical panel rows as v2.1 records (``t_1h`` in Paris time with its offset).

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel (see :func:`infotrafic.validate_panel`).

    Yields
    ------
    dict
        ``{"iu_ac", "t_1h", "q", "k", "etat_trafic", "etat_barre"}``, ids as strings, missing
        values as ``None``, state codes as the portal's labels.

    Examples
    --------
    >>> import pandas as pd
    >>> panel = pd.DataFrame({"arc_id": [4264], "flow": [764.0],
    ...                       "time": pd.to_datetime(["2023-02-01 22:00"], utc=True)})
    >>> next(panel_to_records(panel))["t_1h"]
    '2023-02-01T23:00:00+01:00'
    """
    import pandas as pd

    from infotrafic._schema import CLOSURE_STATES, TRAFFIC_STATES, validate_panel

    frame = validate_panel(panel, name="records to publish", allow_duplicates=True)
    local = pd.DatetimeIndex(frame["time"]).tz_convert("Europe/Paris")
    stamps = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    times = [f"{s[:-2]}:{s[-2:]}" for s in stamps]

    def value(x: Any) -> float | None:
        return None if pd.isna(x) else float(x)

    def label(x: Any, table: dict[int, str]) -> str | None:
        return None if pd.isna(x) else table.get(int(x))

    columns = zip(
        frame["arc_id"].tolist(),
        times,
        frame["flow"].tolist(),
        frame["occupancy"].tolist(),
        frame["traffic_state"].tolist(),
        frame["closure_state"].tolist(),
        strict=True,
    )
    for arc, t_1h, q, k, traffic, closure in columns:
        yield {
            "iu_ac": str(arc),
            "t_1h": t_1h,
            "q": value(q),
            "k": value(k),
            "etat_trafic": label(traffic, TRAFFIC_STATES),
            "etat_barre": label(closure, CLOSURE_STATES),
        }
