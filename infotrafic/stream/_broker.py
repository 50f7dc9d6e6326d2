"""Where the broker is and how to talk to it: address, credentials, TLS, the paho client.

paho-mqtt (the ``stream`` extra) is imported here only, and only when a client is built.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infotrafic.exceptions import ConfigurationError

__all__ = ["DEFAULT_TOPIC", "BrokerConfig", "parse_broker", "require_paho"]

#: Topic filter the subscriber listens to; messages go to ``paris/comptages/<iu_ac>``.
DEFAULT_TOPIC = "paris/comptages/#"
#: Prefix of the topics the publisher writes to (``<prefix>/<iu_ac>``).
TOPIC_PREFIX = "paris/comptages"
#: MQTT v5 session expiry asked for (seconds): the largest value, "never" for the broker.
SESSION_EXPIRY = 0xFFFFFFFF
#: MQTT v5 Receive Maximum asked for: how many unacknowledged QoS 1 messages the broker may send.
#: The subscriber acknowledges only at flush time, so it needs a wide window (the broker's
#: default for clients that do not ask is ``max_inflight_messages``, 20).
RECEIVE_MAXIMUM = 65535
PROTOCOLS = ("5", "3.1.1")


def require_paho() -> Any:
    """Import :mod:`paho.mqtt.client` or say which extra installs it.

    Returns
    -------
    module
        ``paho.mqtt.client``.

    Raises
    ------
    ConfigurationError
        When paho-mqtt 2 is not installed.
    """
    try:
        import paho.mqtt.client as mqtt
    except ImportError as exc:
        raise ConfigurationError(
            "the MQTT commands need paho-mqtt >= 2: pip install 'infotrafic[stream]'"
        ) from exc
    if not hasattr(mqtt, "CallbackAPIVersion"):
        raise ConfigurationError(
            "paho-mqtt is older than 2.0; upgrade it: pip install 'infotrafic[stream]'"
        )
    return mqtt


def parse_broker(address: str, *, tls: bool = False) -> tuple[str, int]:
    """Read ``HOST:PORT`` (``[::1]:1883`` for IPv6; the port defaults to 1883, 8883 with TLS).

    Parameters
    ----------
    address : str
        The broker address as typed.
    tls : bool, default False
        Whether TLS is used (decides the default port).

    Returns
    -------
    tuple of (str, int)

    Raises
    ------
    ConfigurationError
        When the address is empty or its port is not a number in 1-65535.

    Examples
    --------
    >>> parse_broker("127.0.0.1:1883"), parse_broker("mosquitto"), parse_broker("[::1]:8883")
    (('127.0.0.1', 1883), ('mosquitto', 1883), ('::1', 8883))
    """
    text = address.strip()
    default = 8883 if tls else 1883
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ConfigurationError(f"--broker {address!r}: expected HOST:PORT, e.g. 127.0.0.1:1883")
    if not port_text:
        return host, default
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigurationError(
            f"--broker {address!r}: the port must be a number in 1-65535, e.g. {host}:{default}"
        )
    return host, int(port_text)


@dataclass(frozen=True)
class BrokerConfig:
    """How to reach the broker.

    Parameters
    ----------
    host : str
        Host name or address.
    port : int, default 1883
        TCP port.
    username, password : str, optional
        Credentials (``password`` is never logged nor shown in ``repr``).
    tls : bool, default False
        Connect with TLS (the system's CAs unless ``ca_file`` is given).
    ca_file, cert_file, key_file : pathlib.Path, optional
        CA bundle to trust; client certificate and key.
    tls_insecure : bool, default False
        Skip the check of the server's host name (self-signed test brokers only).
    protocol : {"5", "3.1.1"}, default "5"
        MQTT version. With 5 the subscriber asks for a wide Receive Maximum and a session that
        does not expire; with 3.1.1 the broker's ``max_inflight_messages`` bounds what it sends
        before an acknowledgement, so the subscriber also stores a batch after one second
        without any new message.
    keepalive : int, default 30
        Seconds between keep-alive pings.
    """

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    protocol: str = "5"
    keepalive: int = 30

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigurationError(
                f"MQTT protocol {self.protocol!r}: use one of {', '.join(PROTOCOLS)}"
            )
        if self.password is not None and self.username is None:
            raise ConfigurationError("a broker password needs a user name (--username)")
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigurationError("a TLS client certificate needs its key: give both")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigurationError(f"TLS {name.replace('_', ' ')} {path}: no such file")

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username else ""
        return f"BrokerConfig({self.address!r}{user}, tls={self.tls}, protocol={self.protocol!r})"

    @property
    def address(self) -> str:
        """``host:port`` as shown in messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def client(self, client_id: str, *, manual_ack: bool = False, persistent: bool = False) -> Any:
        """Build a paho client (callback API version 2) configured for this broker.

        Parameters
        ----------
        client_id : str
            The MQTT client id (a persistent session is found again by it).
        manual_ack : bool, default False
            Acknowledge received QoS 1 messages only through ``client.ack(mid, qos)``.
        persistent : bool, default False
            Keep the session when disconnected (MQTT 3.1.1 ``clean_session=False``; for MQTT 5
            see :meth:`connect_kwargs`).

        Returns
        -------
        paho.mqtt.client.Client
        """
        mqtt = require_paho()
        kwargs: dict[str, Any] = {
            "callback_api_version": mqtt.CallbackAPIVersion.VERSION2,
            "client_id": client_id,
            "protocol": mqtt.MQTTv5 if self.protocol == "5" else mqtt.MQTTv311,
            "manual_ack": manual_ack,
            "reconnect_on_failure": True,
        }
        if self.protocol != "5":
            kwargs["clean_session"] = not persistent
        client = mqtt.Client(**kwargs)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set_context(self.ssl_context())
        return client

    def ssl_context(self) -> ssl.SSLContext:
        """Return this broker's one TLS context (paho's connections and :meth:`check_tls`).

        Returns
        -------
        ssl.SSLContext
            The system CAs, or ``ca_file``; the client certificate when given; with
            ``tls_insecure`` the host name is not checked against the certificate.
        """
        context = ssl.create_default_context(
            cafile=None if self.ca_file is None else str(self.ca_file)
        )
        if self.cert_file is not None:
            context.load_cert_chain(
                str(self.cert_file), None if self.key_file is None else str(self.key_file)
            )
        if self.tls_insecure:
            context.check_hostname = False
        return context

    def check_tls(self, timeout: float = 5.0) -> None:
        """Refuse at once a broker whose certificate this client does not trust.

        paho reports a failed TLS handshake like an unreachable broker and retries forever;
        one handshake here turns an untrusted certificate into an error naming the fix. An
        unreachable broker is left to the connection's retries.

        Parameters
        ----------
        timeout : float, default 5.0
            Seconds for the TCP connection and the handshake.

        Raises
        ------
        ConfigurationError
            When the broker's certificate fails verification.
        """
        if not self.tls or self.tls_insecure:
            return
        try:
            with (
                socket.create_connection((self.host, self.port), timeout=timeout) as raw,
                self.ssl_context().wrap_socket(raw, server_hostname=self.host),
            ):
                return
        except ssl.SSLCertVerificationError as exc:
            hint = "--tls-ca with the CA that signed it" if self.ca_file is None else "--tls-ca"
            raise ConfigurationError(
                f"--broker {self.address}: its TLS certificate is not trusted "
                f"({exc.verify_message}); give {hint}, or --tls-insecure to skip the check"
            ) from exc
        except (OSError, ssl.SSLError):  # unreachable, or refused later: the retries report it
            return

    def connect_kwargs(self, *, persistent: bool = False) -> dict[str, Any]:
        """Keyword arguments of ``client.connect``/``connect_async`` for this broker.

        Parameters
        ----------
        persistent : bool, default False
            For MQTT 5: ``clean_start=False`` on every connection, a session that does not
            expire and a wide Receive Maximum (:data:`RECEIVE_MAXIMUM`).

        Returns
        -------
        dict
        """
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "keepalive": self.keepalive,
        }
        if self.protocol == "5" and persistent:
            require_paho()
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY
            props.ReceiveMaximum = RECEIVE_MAXIMUM
            kwargs["clean_start"] = False
            kwargs["properties"] = props
        return kwargs


def describe_reason(reason_code: Any) -> str:
    """Return a paho reason code as text (``Not authorized``, ``Unspecified error``, ...)."""
    name = getattr(reason_code, "getName", None)
    return str(name()) if callable(name) else str(reason_code)
