"""The async AMT client: one per device endpoint, the only module here that does network I/O.

* HTTP on 16992, TLS on 16993; AMT's self-signed certificates are trusted by **SHA-256
  pinning**: with a pin the certificate must match (strict); without one the first certificate
  seen is accepted and exposed as :attr:`AmtClient.observed_pin` so the caller can store it
  (trust on first use). Storage is the org's job.
* Digest via :class:`~mewarden.amt.digest.AmtDigestAuth` (one challenge, nonce reuse).
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
import hashlib
import hmac
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from types import TracebackType

import httpcore
import httpx

from mewarden.amt.digest import AmtDigestAuth
from mewarden.amt.pinning import PinningBackend, TlsHandshakeFailed
from mewarden.errors import (
    AmtAuthError,
    AmtBusyError,
    AmtTimeoutError,
    AmtTlsHandshakeError,
    AmtUnreachableError,
    BadInputError,
    TlsPinMismatchError,
    WsmanError,
)
from mewarden.secret import Secret
from mewarden.wsman.envelope import Request
from mewarden.wsman.parse import Response, parse_response
from mewarden.wsman.resources import PORT_HTTP, PORT_TLS, WSMAN_PATH

CONTENT_TYPE = "application/soap+xml; charset=utf-8"
LEGACY_CIPHERS = "DEFAULT:AES128-GCM-SHA256:AES128-SHA:AES256-SHA:@SECLEVEL=0"
_FAULT_STATUSES = frozenset({400, 500})


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


def normalize_pin(pin: str) -> str:
    """Lower-case hex without separators; a bad pin is bad input."""
    cleaned = pin.replace(":", "").replace(" ", "").lower()
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise BadInputError("a TLS pin must be a SHA-256 fingerprint: 64 hex digits")
    return cleaned


_PLAIN_CONTEXT: ssl.SSLContext | None = None


def _ssl_context(endpoint: Endpoint) -> ssl.SSLContext:
    """No CA verification (AMT certificates are self-signed): the pin is the trust anchor."""
    global _PLAIN_CONTEXT  # noqa: PLW0603 - one shared context for all plain-HTTP clients
    if not endpoint.tls and _PLAIN_CONTEXT is not None:
        return _PLAIN_CONTEXT
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if endpoint.legacy_ciphers:
        with warnings.catch_warnings():  # deliberate: pre-12th-gen firmware speaks TLS 1.0/1.1
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers(LEGACY_CIPHERS)
    if not endpoint.tls:
        _PLAIN_CONTEXT = context
    return context


def _pinning_transport(
    context: ssl.SSLContext,
    limits: httpx.Limits,
    verify: Callable[[bytes | None], None],
) -> httpx.AsyncHTTPTransport:
    """httpx's transport over a pool on our backend (asyncio streams; TLS handshakes are
    pin-checked before any request).

    httpx takes no network backend, so the transport's pool is swapped for an equivalent one
    that has ours (same SSL context and limits).
    """
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PinningBackend(verify),
    )
    return transport


class _NoCookieJar(CookieJar):
    """AMT sets no cookies; skipping the jar saves a few percent of CPU per request."""

    def extract_cookies(self, response: object, request: object) -> None:
        return


class AmtClient:
    """An authenticated WS-MAN session with one device; use as ``async with``."""

    def __init__(
        self, endpoint: Endpoint, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.endpoint = endpoint
        self._pin = normalize_pin(endpoint.pin_sha256) if endpoint.pin_sha256 else None
        self.observed_pin: str | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0
        self.auth = AmtDigestAuth(endpoint.username, endpoint.password, check=self._check_pin)
        context = _ssl_context(endpoint)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        if transport is None:
            transport = _pinning_transport(context, limits, self._verify_certificate)
        self._http = httpx.AsyncClient(
            auth=self.auth,
            timeout=httpx.Timeout(endpoint.timeout_s),
            verify=context,
            limits=limits,
            headers={"Content-Type": CONTENT_TYPE},
            transport=transport,
            trust_env=False,
            cookies=httpx.Cookies(_NoCookieJar()),
        )
        self._url = httpx.URL(endpoint.url)

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
        await self._http.aclose()

    def message_id(self) -> int:
        """Intel-style integer MessageID counter."""
        value = self._next_id
        self._next_id += 1
        return value

    def _verify_certificate(self, der: bytes | None) -> None:
        """At handshake: the pin if given, else the first certificate seen (TOFU) from then on."""
        if not self.endpoint.tls:
            return
        if not der:
            raise TlsPinMismatchError(f"{self.endpoint.label} presented no TLS certificate")
        seen = hashlib.sha256(der).hexdigest()
        expected = self._pin or self.observed_pin
        if expected is not None and not hmac.compare_digest(seen, expected):
            raise TlsPinMismatchError(
                f"the TLS certificate of {self.endpoint.label} has SHA-256 {seen}, "
                "not the pinned fingerprint; refusing to talk to it"
            )
        if self.observed_pin is None:
            self.observed_pin = seen

    def _check_pin(self, response: httpx.Response) -> None:
        """Second line of defence: every response must come over a verified TLS stream."""
        if not self.endpoint.tls:
            return
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self._verify_certificate(der)

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
        label = self.endpoint.label
        try:
            reply = await self._http.post(self._url, content=request.body)
        except httpx.TimeoutException:
            raise AmtTimeoutError(
                f"{label} did not answer within {self.endpoint.timeout_s:g} s"
            ) from None
        except httpx.ConnectError as exc:
            if isinstance(exc.__cause__, TlsHandshakeFailed):
                detail = _reason(exc).removeprefix("TLS handshake failed: ")
                raise AmtTlsHandshakeError(
                    f"the TLS handshake with {label} failed ({detail}); old firmware may need "
                    "--legacy-ciphers, or the port may speak plain HTTP"
                ) from None
            raise AmtUnreachableError(f"cannot connect to {label}: {_reason(exc)}") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise AmtUnreachableError(f"{label} dropped the connection: {_reason(exc)}") from None
        return _interpret(reply, label, self.endpoint.username)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


def _interpret(reply: httpx.Response, label: str, username: str) -> Response:
    status = reply.status_code
    if status == httpx.codes.UNAUTHORIZED:
        raise AmtAuthError(
            f"{label} rejected user {username!r} after a fresh challenge: wrong user name or "
            "password, or the account is temporarily locked"
        )
    if status in _FAULT_STATUSES and not reply.content.strip():
        raise WsmanError(f"{label} answered HTTP {status} with an empty body")
    if status == httpx.codes.OK or status in _FAULT_STATUSES:
        parsed = parse_response(reply.content)  # faults raise typed errors here
        if status != httpx.codes.OK:
            raise WsmanError(f"{label} answered HTTP {status} without a SOAP fault")
        return parsed
    raise WsmanError(f"{label} answered HTTP {status} to a WS-MAN request")
