"""The async AMT client: one per device endpoint (its I/O is :mod:`mewarden.amt.transport`).

* HTTP on 16992, TLS on 16993; AMT's self-signed certificates are trusted by **SHA-256
  pinning**: with a pin the certificate must match (strict); without one the first certificate
  seen is accepted and exposed as :attr:`AmtClient.observed_pin` so the caller can store it
  (trust on first use). Storage is the org's job.
* Digest via :class:`~mewarden.amt.digest.DigestSession` (one challenge, nonce reuse); a 401
  on a request that carried ``Authorization`` gets the fresh challenge and exactly one more try.
* One kept-alive connection per device (h11 over asyncio streams, no httpx on this path); the
  whole exchange (connect, TLS, a 401 and its reconnect) is bounded by ``timeout_s``.
* One request in flight per device (an :class:`asyncio.Lock`): AMT answers concurrent calls
  with concurrency faults.
* Retries only where safe: idempotent requests (reads) after a connection failure or busy
  fault; never a Put, Create, Delete or state-changing method, and never after a timeout: the
  device may still be working on the abandoned request (a retry would only collide with it and
  report "busy"), and the caller's time budget is ``timeout_s``, not a multiple of it.
* Legacy TLS ciphers (``TLS_RSA_WITH_AES_*``) only on request, for old firmware.
* Typed errors: refused/dropped connections are :class:`AmtUnreachableError`; its subclasses
  :class:`AmtTimeoutError` and :class:`AmtTlsHandshakeError` (not retried) have their own exit
  codes.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from dataclasses import dataclass, field
from types import TracebackType

from mewarden.amt.digest import DigestSession
from mewarden.amt.pinning import check_certificate, normalize_pin
from mewarden.amt.transport import DeviceTransport, HttpReply
from mewarden.errors import (
    AmtAuthError,
    AmtBusyError,
    AmtTimeoutError,
    AmtTlsHandshakeError,
    AmtUnreachableError,
    WsmanError,
)
from mewarden.secret import Secret
from mewarden.wsman.envelope import Request
from mewarden.wsman.parse import Response, parse_response
from mewarden.wsman.resources import PORT_HTTP, PORT_TLS, WSMAN_PATH

__all__ = ["AmtClient", "Endpoint", "normalize_pin"]  # normalize_pin lives in pinning

LEGACY_CIPHERS = "DEFAULT:AES128-GCM-SHA256:AES128-SHA:AES256-SHA:@SECLEVEL=0"
_FAULT_STATUSES = frozenset({400, 500})
_OK, _UNAUTHORIZED = 200, 401


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """How to reach and authenticate to one AMT device (the password stays a :class:`Secret`)."""

    host: str
    password: Secret = field(repr=False)
    username: str = "admin"
    port: int | None = None
    tls: bool = False
    pin_sha256: str | None = None
    """Expected certificate SHA-256 (hex, colons allowed); ``None`` = trust on first use."""
    legacy_ciphers: bool = False
    timeout_s: float = 10.0
    retries: int = 2
    """Extra attempts for idempotent requests after a connection error or busy fault."""

    @property
    def effective_port(self) -> int:
        """The port given, else 16993 for TLS and 16992 for HTTP."""
        return self.port or (PORT_TLS if self.tls else PORT_HTTP)

    @property
    def url(self) -> str:
        """The WS-MAN URL (never carries credentials)."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.effective_port}{WSMAN_PATH}"

    @property
    def label(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.effective_port}"


_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def _ssl_context(endpoint: Endpoint) -> ssl.SSLContext:
    """No CA verification (AMT certificates are self-signed): the pin is the trust anchor.

    One context per cipher choice, shared by every client (a context holds no peer state).
    """
    context = _CONTEXTS.get(endpoint.legacy_ciphers)
    if context is not None:
        return context
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if endpoint.legacy_ciphers:
        with warnings.catch_warnings():  # deliberate: pre-12th-gen firmware speaks TLS 1.0/1.1
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers(LEGACY_CIPHERS)
    _CONTEXTS[endpoint.legacy_ciphers] = context
    return context


def tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    """The shared client context for ``endpoint`` (WS-MAN and redirection use the same)."""
    return _ssl_context(endpoint)


class AmtClient:
    """An authenticated WS-MAN session with one device; use as ``async with``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._pin = normalize_pin(endpoint.pin_sha256) if endpoint.pin_sha256 else None
        self.observed_pin: str | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0
        self.auth = DigestSession(endpoint.username, endpoint.password)
        self.transport = DeviceTransport(
            endpoint.host,
            endpoint.effective_port,
            label=endpoint.label,
            ssl_context=_ssl_context(endpoint) if endpoint.tls else None,
            verify=self._verify_certificate,
        )

    async def __aenter__(self) -> AmtClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection."""
        await self.transport.aclose()

    def message_id(self) -> int:
        """Intel-style integer MessageID counter."""
        value = self._next_id
        self._next_id += 1
        return value

    def _verify_certificate(self, der: bytes | None) -> None:
        """At handshake: the pin if given, else the first certificate seen (TOFU) from then on."""
        seen = check_certificate(der, self._pin or self.observed_pin, self.endpoint.label)
        if self.observed_pin is None:
            self.observed_pin = seen

    async def send(self, request: Request) -> Response:
        """POST ``request``; one at a time per device; reads are retried when that is safe."""
        async with self._lock:
            attempts = 1 + (self.endpoint.retries if request.idempotent else 0)
            for attempt in range(attempts):
                try:
                    return await self._post(request)
                except (AmtTimeoutError, AmtTlsHandshakeError):
                    raise  # not retried: see the module docstring; a handshake fails again
                except (AmtUnreachableError, AmtBusyError):
                    if attempt + 1 >= attempts:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))
            raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, request: Request) -> Response:
        endpoint = self.endpoint
        try:
            async with asyncio.timeout(endpoint.timeout_s):
                reply = await self._authorized(request)
        except TimeoutError:
            raise AmtTimeoutError(
                f"{endpoint.label} did not answer within {endpoint.timeout_s:g} s"
            ) from None
        return _interpret(reply, endpoint.label, endpoint.username)

    async def _authorized(self, request: Request) -> HttpReply:
        """With the kept nonce; on a 401 adopt the fresh challenge and try exactly once more
        (AMT closes the connection after a 401: the transport opens the next one)."""
        auth, transport = self.auth, self.transport
        authorize = auth.authorization if auth.ready else None
        reply = await transport.post(request.body, authorize, idempotent=request.idempotent)
        if reply.status != _UNAUTHORIZED:
            return reply
        challenge = reply.header(b"www-authenticate")
        if not challenge:
            return reply
        auth.adopt(challenge)
        return await transport.post(request.body, auth.authorization, idempotent=request.idempotent)


def _interpret(reply: HttpReply, label: str, username: str) -> Response:
    status = reply.status
    if status == _UNAUTHORIZED:
        raise AmtAuthError(
            f"{label} rejected user {username!r} after a fresh challenge: wrong user name or "
            "password, or the account is temporarily locked"
        )
    if status in _FAULT_STATUSES and not reply.body.strip():
        raise WsmanError(f"{label} answered HTTP {status} with an empty body")
    if status == _OK or status in _FAULT_STATUSES:
        parsed = parse_response(reply.body)  # faults raise typed errors here
        if status != _OK:
            raise WsmanError(f"{label} answered HTTP {status} without a SOAP fault")
        return parsed
    raise WsmanError(f"{label} answered HTTP {status} to a WS-MAN request")
