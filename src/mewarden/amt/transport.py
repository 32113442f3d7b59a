"""The AMT client's HTTP/1.1 transport: one kept-alive connection per device, h11 over asyncio.

httpx and httpcore spent most of a fleet sweep's client CPU in machinery a WS-MAN session does
not use (a pool, redirects, cookies, auth generators, stream wrappers). What a session needs is
here: ``POST /wsman`` on one connection at a time, the caller serialising requests.

* Framing is h11's (sans-IO, in :class:`ReplyParser`): ``Content-Length``, chunked replies,
  ``Connection: close``. A reply head is bounded by :data:`MAX_HEAD` (h11's
  ``max_incomplete_event_size``), a body by :data:`MAX_BODY`, so a hostile device cannot make
  the client buffer without limit.
* TLS: the handshake runs on the connected socket, then ``verify`` sees the peer certificate
  (:mod:`mewarden.amt.pinning`) before a single byte of HTTP is written.
* Reuse: a connection is reused only when h11 finished the previous exchange cleanly on both
  sides and the event loop has not seen the device close it (end of file, reset). One found
  dead *before* the write is replaced without anything sent on it, which is safe for every
  request. Once bytes are written, only an idempotent request is sent again (once, on a fresh
  connection) when a kept-alive connection ends before a single byte of the reply: the usual
  race with a device closing an idle connection. A state-changing request never is: it may
  have reached the device.
* Time limits are the caller's (``asyncio.timeout`` around the whole exchange); an interrupted
  exchange (timeout, cancellation) discards its connection, whose state is then unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import h11

from mewarden.amt.pinning import Verify
from mewarden.errors import (
    AmtTlsHandshakeError,
    AmtUnreachableError,
    BadInputError,
    WsmanError,
)
from mewarden.wsman.resources import WSMAN_PATH

CONTENT_TYPE = "application/soap+xml; charset=utf-8"
MAX_HEAD = 16 * 1024
"""Status line plus headers (AMT sends about 200 bytes)."""
MAX_BODY = 16 * 1024 * 1024
"""The largest reply body accepted (the biggest recorded AMT reply is under 100 KiB)."""
READ_SIZE = 64 * 1024
IDLE_RECHECK_S = 1.0
"""A connection idle this long gets a look at pending socket events before it is reused."""
CLOSE_WAIT_S = 1.0

_CONTENT_TYPE = CONTENT_TYPE.encode("ascii")
_PATH = WSMAN_PATH.encode("ascii")

OpenStream = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
"""Opens a connection some other way than TCP (the APF channel of :mod:`mewarden.host.lme`)."""

Authorize = Callable[[], str]
"""Returns the ``Authorization`` value for one write (a Digest nonce count is used up)."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A complete reply: status, headers (lower-case names, as h11 gives them) and body."""

    status: int
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> str:
        """The first value of header ``name`` (lower case), or ``""``."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return ""


class FramingError(Exception):
    """The bytes are not a well-framed HTTP/1.1 reply, or the device ended it early."""


class ReplyTooLarge(Exception):
    """The reply body is over :data:`MAX_BODY`."""


class ReplyParser:
    """Sans-IO: one client connection's HTTP/1.1 framing (h11), with AMT's size limits."""

    __slots__ = ("_http", "_parts", "_response", "_size", "keep_alive")

    def __init__(self) -> None:
        self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self._response: h11.Response | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self.keep_alive = False
        """After a reply: whether the connection may carry the next request."""

    @property
    def idle(self) -> bool:
        """Both sides are between exchanges (nothing sent, nothing owed)."""
        http = self._http
        return http.our_state is h11.IDLE and http.their_state is h11.IDLE

    def request(self, host: bytes, body: bytes, authorization: str | None) -> bytes:
        """The bytes of ``POST /wsman`` carrying ``body`` (headers as bytes: h11 checks less)."""
        headers = [
            (b"Host", host),
            (b"Content-Type", _CONTENT_TYPE),
            (b"Content-Length", b"%d" % len(body)),
        ]
        if authorization is not None:
            headers.append((b"Authorization", authorization.encode("latin-1")))
        http = self._http
        head = http.send(h11.Request(method=b"POST", target=_PATH, headers=headers))
        data = http.send(h11.Data(data=body)) if body else b""
        end = http.send(h11.EndOfMessage())
        self._response, self._parts, self._size, self.keep_alive = None, [], 0, False
        return b"".join((head or b"", data or b"", end or b""))

    def feed(self, data: bytes) -> HttpReply | None:
        """Bytes read from the connection (``b""`` at end of file); the reply once complete."""
        http = self._http
        try:
            http.receive_data(data)
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    return None
                if isinstance(event, h11.Data):
                    self._add(event.data)
                elif isinstance(event, h11.Response):
                    self._start(event)
                elif isinstance(event, h11.EndOfMessage):
                    return self._finish()
                elif isinstance(event, h11.ConnectionClosed):
                    raise FramingError("the connection closed before a reply")
                # an InformationalResponse (1xx) is followed by the real one
        except h11.RemoteProtocolError as exc:
            raise FramingError(str(exc)) from None

    def _start(self, response: h11.Response) -> None:
        for name, value in response.headers:
            if name == b"content-length" and int(value) > MAX_BODY:
                raise ReplyTooLarge
        self._response = response

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > MAX_BODY:
            raise ReplyTooLarge
        self._parts.append(data)

    def _finish(self) -> HttpReply:
        response = self._response
        assert response is not None  # h11 yields EndOfMessage only after a Response
        reply = HttpReply(response.status_code, response.headers, b"".join(self._parts))
        self._parts = []
        http = self._http
        # Bytes past the reply, or a reply that ran to the close: not a connection to reuse.
        leftover, closed = http.trailing_data
        self.keep_alive = (
            http.our_state is h11.DONE
            and http.their_state is h11.DONE
            and not leftover
            and not closed
        )
        if self.keep_alive:
            http.start_next_cycle()
        return reply


class _NoReply(Exception):
    """A kept-alive connection ended before a single byte of the reply arrived."""


class _Connection:
    __slots__ = ("exchanges", "idle_since", "parser", "reader", "received", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = ReplyParser()
        self.exchanges = 0
        self.received = 0
        self.idle_since = 0.0

    def alive(self) -> bool:
        """Idle, and open as far as the event loop has seen."""
        reader = self.reader
        return (
            self.parser.idle
            and not self.writer.is_closing()
            and not reader.at_eof()
            and reader.exception() is None
        )


def _authority(host: str, port: int) -> bytes:
    """The ``Host`` header: ``host:port``, an IPv6 address in brackets, IDNA for names."""
    try:
        name = host.encode("ascii") if host.isascii() else host.encode("idna")
    except UnicodeError:
        raise BadInputError(f"{host!r} is not a usable host name") from None
    return b"[%s]:%d" % (name, port) if b":" in name else b"%s:%d" % (name, port)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


class DeviceTransport:
    """One device's connection: opened on demand, kept alive, replaced when the device ends it.

    ``connections`` counts the TCP connections opened (a TLS one counts before its handshake).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        label: str,
        ssl_context: ssl.SSLContext | None = None,
        verify: Verify | None = None,
        open_stream: OpenStream | None = None,
    ) -> None:
        self._open_stream = open_stream
        self._host = host
        self._port = port
        self._label = label
        self._host_header = _authority(host, port)
        self._ssl = ssl_context
        self._verify = verify
        self._conn: _Connection | None = None
        self.connections = 0

    def __repr__(self) -> str:
        return f"DeviceTransport({self._label!r}, tls={self._ssl is not None})"

    async def post(
        self, body: bytes, authorize: Authorize | None, *, idempotent: bool
    ) -> HttpReply:
        """``POST /wsman`` with ``body``; see the module docstring for when it is resent."""
        conn = await self._connection()
        try:
            return await self._exchange(conn, body, authorize)
        except _NoReply:
            if not idempotent:
                raise AmtUnreachableError(
                    f"{self._label} closed the kept-alive connection without replying; the "
                    "request was not resent, as it may have reached the device"
                ) from None
        return await self._exchange(await self._connection(), body, authorize)

    async def aclose(self) -> None:
        """Close the connection (politely, but without waiting long for the device)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.writer.close()
        try:
            async with asyncio.timeout(CLOSE_WAIT_S):
                await conn.writer.wait_closed()
        except (OSError, TimeoutError):
            conn.writer.transport.abort()

    async def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None:
            if asyncio.get_running_loop().time() - conn.idle_since > IDLE_RECHECK_S:
                # Two turns of the loop: one to poll the socket, one to run its callbacks,
                # so a close that arrived while the loop was busy is seen before the write.
                await asyncio.sleep(0)
                await asyncio.sleep(0)
            if conn.alive():
                return conn
            self._forget(conn, abort=True)
        conn = self._conn = await self._open()
        return conn

    async def _open(self) -> _Connection:
        if self._open_stream is not None:
            self.connections += 1
            return _Connection(*await self._open_stream())
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        except TimeoutError:
            raise  # the caller's kind of timeout (a connect that timed out in the kernel)
        except OSError as exc:
            raise AmtUnreachableError(f"cannot connect to {self._label}: {_reason(exc)}") from None
        self.connections += 1
        try:
            if self._ssl is not None:
                await self._handshake(writer, self._ssl)
        except BaseException:
            writer.transport.abort()
            raise
        return _Connection(reader, writer)

    async def _handshake(self, writer: asyncio.StreamWriter, context: ssl.SSLContext) -> None:
        try:
            await writer.start_tls(context, server_hostname=self._host)
        except OSError as exc:  # ssl.SSLError is one, and so is a reset mid-handshake
            raise AmtTlsHandshakeError(
                f"the TLS handshake with {self._label} failed ({_reason(exc)}); old firmware "
                "may need --legacy-ciphers, or the port may speak plain HTTP"
            ) from None
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if self._verify is not None:
            self._verify(der)

    async def _exchange(
        self, conn: _Connection, body: bytes, authorize: Authorize | None
    ) -> HttpReply:
        reused = conn.exchanges > 0
        conn.received = 0
        try:
            reply = await self._round_trip(conn, body, authorize)
        except (OSError, FramingError) as exc:
            self._forget(conn, abort=True)
            if reused and conn.received == 0:
                raise _NoReply from None
            reason = _reason(exc)
            raise AmtUnreachableError(f"{self._label} dropped the connection: {reason}") from None
        except ReplyTooLarge:
            self._forget(conn, abort=True)
            raise WsmanError(
                f"{self._label} sent a reply over {MAX_BODY >> 20} MiB; not reading it"
            ) from None
        except BaseException:
            self._forget(conn, abort=True)
            raise
        conn.exchanges += 1
        if conn.parser.keep_alive:
            conn.idle_since = asyncio.get_running_loop().time()
        else:
            self._forget(conn, abort=False)
        return reply

    async def _round_trip(
        self, conn: _Connection, body: bytes, authorize: Authorize | None
    ) -> HttpReply:
        authorization = authorize() if authorize is not None else None
        try:
            data = conn.parser.request(self._host_header, body, authorization)
        except h11.LocalProtocolError as exc:
            raise BadInputError(f"cannot send a request to {self._label}: {exc}") from None
        conn.writer.write(data)
        await conn.writer.drain()
        reader, parser = conn.reader, conn.parser
        while True:
            chunk = await reader.read(READ_SIZE)
            conn.received += len(chunk)
            reply = parser.feed(chunk)
            if reply is not None:
                return reply

    def _forget(self, conn: _Connection, *, abort: bool) -> None:
        """Drop ``conn``: aborted when its state is unknown, else closed after the reply."""
        if self._conn is conn:
            self._conn = None
        if abort:
            conn.writer.transport.abort()
        else:
            with contextlib.suppress(OSError):
                conn.writer.close()
