"""Who may call the API, and what a request may carry (no endpoint logic here).

* :class:`TokenAuth`: bearer tokens from ``INFOTRAFIC_API_TOKEN`` (one or several) and
  ``INFOTRAFIC_API_TOKEN_FILE`` (one a line), compared in constant time
  (:func:`hmac.compare_digest` against every token). A caller is known by the fingerprint of its
  token (:func:`fingerprint`), which owns the jobs it submits; the token itself is never stored.
* :class:`RequestGuard`: an ASGI middleware in front of the routes that

  - refuses every request reaching a non-loopback address of the server when no token is
    configured (unless ``INFOTRAFIC_API_INSECURE``), whatever launched uvicorn;
  - accepts only ``application/json`` bodies on writes (415), so a cross-origin form or
    ``text/plain`` post cannot trigger work (CSRF: a JSON post from another origin needs a CORS
    preflight, and CORS is off unless configured);
  - limits the request body (413): a declared ``Content-Length`` over the limit is refused before
    reading, a chunked body is counted while it streams and refused as soon as it passes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from common.settings import ExampleSettings
from fastapi import HTTPException

from infotrafic import ConfigurationError

__all__ = [
    "LOCAL_CALLER",
    "RequestGuard",
    "TokenAuth",
    "fingerprint",
    "is_loopback",
    "load_tokens",
]

log = logging.getLogger("infotrafic.api.security")

#: The caller of a server without tokens (loopback only): every request is this one client.
LOCAL_CALLER = "local"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
_REALM = 'Bearer realm="infotrafic"'

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for a token (who owns a job)."""
    return "token-" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def load_tokens(settings: ExampleSettings) -> list[str]:
    """Every configured token: ``INFOTRAFIC_API_TOKEN`` then ``INFOTRAFIC_API_TOKEN_FILE``.

    Raises ``ConfigurationError`` when the token file cannot be read or a token has spaces.
    """
    tokens: list[str] = []
    if settings.api_token is not None:
        tokens += settings.api_token.get_secret_value().replace(",", " ").split()
    if settings.api_token_file is not None:
        path = Path(settings.api_token_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"INFOTRAFIC_API_TOKEN_FILE: cannot read {path} ({exc.__class__.__name__}); "
                "write one token a line there, or unset it"
            ) from exc
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if len(line.split()) != 1:
                raise ConfigurationError(
                    f"INFOTRAFIC_API_TOKEN_FILE {path} line {number}: one token a line, "
                    "without spaces"
                )
            tokens.append(line)
    if any(len(t) < 16 for t in tokens):
        log.warning("an API token is shorter than 16 characters: use e.g. secrets.token_urlsafe()")
    return list(dict.fromkeys(tokens))


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is a loopback address."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenAuth:
    """Check ``Authorization: Bearer <token>`` against the configured tokens."""

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = [(t.encode("utf-8"), fingerprint(t)) for t in tokens]

    @property
    def enabled(self) -> bool:
        """Whether any token is configured (else the server is loopback-only and open)."""
        return bool(self._tokens)

    def caller(self, token: str | None) -> str:
        """The caller's name for a presented token; HTTP 401 when missing or wrong."""
        if not self._tokens:
            return LOCAL_CALLER
        if not token:
            raise HTTPException(
                401,
                "authentication required: send 'Authorization: Bearer <token>' "
                "(INFOTRAFIC_API_TOKEN of the server)",
                headers={"WWW-Authenticate": _REALM},
            )
        given = token.encode("utf-8")
        found = None
        for known, name in self._tokens:  # no early exit: the time does not depend on which
            if hmac.compare_digest(given, known):
                found = name
        if found is None:
            raise HTTPException(
                401,
                "invalid token",
                headers={"WWW-Authenticate": _REALM + ', error="invalid_token"'},
            )
        return found


class _BodyTooLargeError(HTTPException):
    """Raised by the limited ``receive``: FastAPI re-raises HTTP errors met reading a body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _too_large(limit: int) -> str:
    return (
        f"request body larger than {limit} bytes (INFOTRAFIC_API_MAX_BODY): send a smaller request"
    )


async def _answer(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"message": message}).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware: loopback-only without tokens, JSON-only writes, bounded bodies."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, tokens_configured: bool, insecure: bool
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.loopback_only = not tokens_configured and not insecure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        server = scope.get("server") or ("", None)
        if self.loopback_only and not is_loopback(str(server[0])):
            await _answer(
                send,
                403,
                "this server has no API token configured and only answers on a loopback "
                "address: set INFOTRAFIC_API_TOKEN (or INFOTRAFIC_API_INSECURE=true)",
                {},
            )
            return
        if scope["method"] in _WRITE_METHODS:
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                await _answer(
                    send,
                    415,
                    f"{scope['method']} {scope['path']} accepts only a JSON body: send "
                    "'Content-Type: application/json' (and '{}' for the defaults)",
                    {"Accept": "application/json"},
                )
                return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "invalid Content-Length header", {})
                return
            if int(declared) > self.max_body:
                await _answer(send, 413, _too_large(self.max_body), {})
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLargeError(self.max_body)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _BodyTooLargeError:
            if started:
                raise
            await _answer(send, 413, _too_large(self.max_body), {})
