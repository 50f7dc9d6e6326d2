"""CLI commands of the MQTT ingest: ``stream`` (broker -> store) and ``publish`` (-> broker)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from infotrafic.cli._options import data_source_options

__all__ = ["parse_duration", "parse_rate", "register"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str, option: str = "--flush") -> float:
    """Read a duration: ``10s``, ``500ms``, ``2m``, ``1h`` or a number of seconds.

    Parameters
    ----------
    text : str
        As typed.
    option : str, default "--flush"
        The option's name, for the error message.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    click.BadParameter
        When the text is not a positive duration.

    Examples
    --------
    >>> parse_duration("10s"), parse_duration("500ms"), parse_duration("2")
    (10.0, 0.5, 2.0)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m|h)?\s*", text)
    if match is None or float(match[1]) <= 0:
        raise click.BadParameter(
            f"{text!r}: give a positive duration such as 10s, 500ms or 2m", param_hint=option
        )
    return float(match[1]) * _UNITS[match[2] or "s"]


def parse_rate(text: str) -> float:
    """Read a rate of records per second: ``200/s``, ``200`` or ``6000/min``.

    Parameters
    ----------
    text : str
        As typed.

    Returns
    -------
    float
        Records per second.

    Raises
    ------
    click.BadParameter
        When the text is not a positive rate.

    Examples
    --------
    >>> parse_rate("200/s"), parse_rate("60/min"), parse_rate("5")
    (200.0, 1.0, 5.0)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(s|m|min|h))?\s*", text)
    if match is None or float(match[1]) <= 0:
        raise click.BadParameter(
            f"{text!r}: give a positive number of records per second, e.g. 200/s",
            param_hint="--rate",
        )
    return float(match[1]) / _UNITS[match[2] or "s"]


def _broker_options(command: Any) -> Any:
    """Add the options every MQTT command shares: address, credentials, TLS, protocol."""
    options = [
        click.option(
            "--broker",
            required=True,
            metavar="HOST:PORT",
            help="The MQTT broker, e.g. 127.0.0.1:1883 (port 1883 by default, 8883 with --tls).",
        ),
        click.option("--username", default=None, help="User name for the broker."),
        click.option(
            "--password-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="File whose first line is the broker password (kept off the command line).",
        ),
        click.option("--tls", is_flag=True, help="Connect with TLS (system CAs unless --tls-ca)."),
        click.option(
            "--tls-ca",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="CA bundle (PEM) to trust for the broker's certificate; implies --tls.",
        ),
        click.option(
            "--tls-cert",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Client certificate (PEM), with --tls-key; implies --tls.",
        ),
        click.option(
            "--tls-key",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Private key of --tls-cert (PEM).",
        ),
        click.option(
            "--tls-insecure",
            is_flag=True,
            help="Do not check the broker's host name against its certificate (tests only).",
        ),
        click.option(
            "--mqtt",
            "protocol",
            type=click.Choice(["5", "3.1.1"]),
            default="5",
            show_default=True,
            help="MQTT protocol version.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _broker(options: dict[str, Any]) -> Any:
    """Build the :class:`~infotrafic.stream.BrokerConfig` of the shared options."""
    from infotrafic.stream import BrokerConfig, parse_broker

    tls = bool(
        options["tls"] or options["tls_ca"] or options["tls_cert"] or options["tls_insecure"]
    )
    host, port = parse_broker(options["broker"], tls=tls)
    password = None
    if options["password_file"] is not None:
        lines = options["password_file"].read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
    return BrokerConfig(
        host,
        port,
        username=options["username"],
        password=password,
        tls=tls,
        ca_file=options["tls_ca"],
        cert_file=options["tls_cert"],
        key_file=options["tls_key"],
        tls_insecure=options["tls_insecure"],
        protocol=options["protocol"],
    )


_BROKER_KEYS = (
    "broker",
    "username",
    "password_file",
    "tls",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "tls_insecure",
    "protocol",
)


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    broker = {k: kwargs.pop(k) for k in _BROKER_KEYS}
    return broker, kwargs


@click.command("stream")
@_broker_options
@click.option(
    "--topic",
    "topics",
    multiple=True,
    default=("paris/comptages/#",),
    show_default=True,
    help="Topic filter to subscribe to with QoS 1 (repeatable).",
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Store directory to create or update; the quarantine is DIR/_stream/quarantine.jsonl.",
)
@click.option(
    "--flush",
    default="10s",
    show_default=True,
    help="Longest time a received message waits before its batch is stored (10s, 500ms, 1m).",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Store as soon as this many messages wait.",
)
@click.option(
    "--client-id",
    default=None,
    help="MQTT client id; the broker keeps the session under it (default: derived from --out, "
    "so that a restart resumes; never run two subscribers with one id).",
)
@click.option(
    "--connect-timeout",
    default="30s",
    show_default=True,
    help="Fail if the first connection cannot be made within this time (later losses are "
    "retried forever with backoff).",
)
def stream_command(**kwargs: Any) -> None:
    """Subscribe to the broker and store every valid record into the store --out DIR.

    Messages are JSON objects or arrays of objects in the portal's v2.1 record shape (iu_ac,
    t_1h with its offset, q, k, etat_trafic, ...) on paris/comptages/<iu_ac>. They are read
    with the ETL's rules and stored in batches; a message is acknowledged only once stored, in a
    persistent session, so a restart resumes where it stopped and nothing is stored twice.
    Rejected messages and records go to DIR/_stream/quarantine.jsonl. SIGTERM or Ctrl-C stores
    the pending batch and exits with status 0.
    """
    import threading

    from infotrafic.stream import StreamConfig, run_stream, stop_on_signals

    broker_options, options = _split(kwargs)
    out: Path = options["out"]
    config = StreamConfig(
        broker=_broker(broker_options),
        out=out,
        topics=tuple(options["topics"]),
        flush=parse_duration(options["flush"]),
        max_batch=options["max_batch"],
        client_id=options["client_id"],
        connect_timeout=parse_duration(options["connect_timeout"], "--connect-timeout"),
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        stats = run_stream(config, stop)
    click.echo(f"store: {out}")
    click.echo(f"streamed: {stats.to_text()}")


@click.command("publish")
@_broker_options
@data_source_options
@click.option(
    "--from-portal",
    is_flag=True,
    help="Relay the portal's newest hours (--hours, --arc) instead of FILE... or --store.",
)
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="Portal root URL for --from-portal (default: INFOTRAFIC_BASE_URL or "
    "https://opendata.paris.fr).",
)
@click.option(
    "--arc",
    "arcs",
    multiple=True,
    type=int,
    help="Only this arc id (repeatable; default: every arc of the source).",
)
@click.option(
    "--hours",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --from-portal: how many of the newest hours to relay.",
)
@click.option(
    "--rate",
    default=None,
    metavar="N/s",
    help="At most N records per second (default: as fast as the broker acknowledges).",
)
@click.option(
    "--per-message",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Records per message: 1 sends JSON objects in time order; more sends JSON arrays of "
    "consecutive hours of one arc.",
)
@click.option(
    "--topic-prefix",
    default="paris/comptages",
    show_default=True,
    help="Messages go to PREFIX/<iu_ac>.",
)
@click.option("--client-id", default="", help="MQTT client id (default: chosen by the broker).")
def publish_command(**kwargs: Any) -> None:
    """Publish records to the broker on paris/comptages/<iu_ac>, in the v2.1 record shape.

    The records come from FILE... (any file the ETL reads: exports, archives, API JSON;
    replayed in time order), from a store (--store DIR) or from the portal's newest hours
    (--from-portal). Messages use QoS 1; the command returns once the broker acknowledged all.
    """
    from infotrafic.stream import (
        messages_of_records,
        portal_panel,
        publish_messages,
        records_of_panel,
    )

    broker_options, options = _split(kwargs)
    sources = sum(
        (bool(options["files"]), options["store"] is not None, options["sample"]),
        int(options["from_portal"]),
    )
    if sources != 1:
        raise click.UsageError("give exactly one source: FILE..., --store DIR, --sample or "
                               "--from-portal")  # fmt: skip
    broker = _broker(broker_options)
    arcs = list(options["arcs"])
    if options["from_portal"]:
        from infotrafic.cli._opendata import _client

        with _client(options["base_url"]) as client:
            panel = portal_panel(client, arcs or None, options["hours"])
    else:
        from infotrafic.cli._options import load_panel

        panel = load_panel(options["files"], options["store"], options["sample"], arcs)
        if arcs:
            panel = panel[panel["arc_id"].isin(arcs)]
    rate = None if options["rate"] is None else parse_rate(options["rate"])
    per_message = options["per_message"]
    messages = messages_of_records(
        records_of_panel(panel, per_message=per_message),
        per_message=per_message,
        prefix=options["topic_prefix"].rstrip("/"),
    )
    summary = publish_messages(messages, broker, rate=rate, client_id=options["client_id"])
    click.echo(f"published: {summary.to_text()}")


def register(group: click.Group) -> None:
    """Add ``stream`` and ``publish`` to ``group``."""
    group.add_command(stream_command)
    group.add_command(publish_command)
