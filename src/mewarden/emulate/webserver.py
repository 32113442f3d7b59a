"""The asyncio + h11 shells: AMT's HTTP(S) port, the host agent, and small HTTP helpers.

Wire behaviour follows the recorded AMT 15 frames (reference amt.md §6): 401 with
``Connection: close`` and AMT's HTML body; 200s chunked with 4-digit upper-case chunk sizes,
544 bytes first then 762; at most one request in flight per device (a second simultaneous one
gets the WS-MAN concurrency fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable

import h11

from mewarden.emulate.device import EmulatedDevice, FaultKind
from mewarden.emulate.dispatch import handle
from mewarden.emulate.soap import concurrency_fault, render_fault

MAX_BODY = 1 << 20
IDLE_TIMEOUT_S = 60.0
FIRST_CHUNK = 544
NEXT_CHUNK = 762
_LOGON_FAILED = (
    b"<HTML><HEAD><TITLE>Intel&reg; Active Management Technology</TITLE></HEAD><BODY>"
    b"Log on failed. Incorrect user name or password, or user account temporarily locked."
    b"</BODY></HTML>"
)
_INDEX = b"<HTML><HEAD><TITLE>Intel&reg; Active Management Technology</TITLE></HEAD></HTML>"
# A TLS "handshake_failure" alert: what a client sees from firmware whose TLS stack is broken.
_TLS_ALERT = bytes([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28])

Request = tuple[h11.Request, bytes]


def chunked(body: bytes) -> bytes:
    """Chunked transfer coding the way AMT frames it (without the final zero chunk)."""
    out = bytearray()
    pos, size = 0, FIRST_CHUNK
    while pos < len(body):
        piece = body[pos : pos + size]
        out += f"{len(piece):04X}\r\n".encode() + piece + b"\r\n"
        pos += len(piece)
        size = NEXT_CHUNK
    return bytes(out)


async def read_request(
    conn: h11.Connection, reader: asyncio.StreamReader, *, timeout: float = IDLE_TIMEOUT_S
) -> Request | None:
    """The next request and its body, or None on EOF, timeout or a protocol error."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return None
        if event is h11.NEED_DATA:
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except (TimeoutError, ConnectionError):
                return None
            conn.receive_data(data)
            if not data and conn.their_state is not h11.SEND_BODY:
                return None
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed | h11.PAUSED):
            return None


def _header(request: h11.Request, name: bytes) -> str | None:
    for key, value in request.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def send_simple(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]],
) -> None:
    """A response with ``Content-Length``."""
    all_headers = [*headers, ("Content-Length", str(len(body)))]
    writer.write(conn.send(h11.Response(status_code=status, headers=all_headers)))
    if body:
        writer.write(conn.send(h11.Data(data=body)))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()


async def send_chunked(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]],
) -> None:
    """A chunked response with AMT's chunk sizes (h11 frames the head and the last chunk)."""
    all_headers = [*headers, ("Transfer-Encoding", "chunked")]
    writer.write(conn.send(h11.Response(status_code=status, headers=all_headers)))
    writer.write(chunked(body))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (what a refusing or crashed listener looks like to a client)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, read and never answer, until the client gives up (a timeout for it)."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        while await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT_S):
            pass
    writer.transport.abort()


# --- AMT HTTP -------------------------------------------------------------------------------


class AmtHttp:
    """Serves one accepted connection on 16992 (or 16993 after the TLS handshake)."""

    def __init__(self, tls_context: Callable[[EmulatedDevice], ssl.SSLContext]) -> None:
        self._tls_context = tls_context
        self.requests_served = 0
        self.after_request: Callable[[EmulatedDevice], Awaitable[None]] | None = None
        """Runs after each WS-MAN request, before its reply (the fleet opens or closes the
        device's port 5900 as its KVM settings now say)."""

    async def serve(
        self,
        device: EmulatedDevice,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool,
    ) -> None:
        if device.drop_connection():
            reset(writer)
            return
        if FaultKind.AMT_UNREACHABLE in device.faults:
            await hold(reader, writer)
            return
        if tls and not await self._start_tls(device, writer):
            return
        conn = h11.Connection(h11.SERVER)
        try:
            while (req := await read_request(conn, reader)) is not None:
                if FaultKind.AMT_UNREACHABLE in device.faults:  # died on a kept-open connection
                    await hold(reader, writer)
                    return
                await self._respond(device, conn, writer, req)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (ConnectionError, h11.LocalProtocolError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort() if writer.is_closing() else writer.close()

    async def start_tls(self, device: EmulatedDevice, writer: asyncio.StreamWriter) -> bool:
        """The device's TLS handshake on an accepted connection (also for 16995)."""
        return await self._start_tls(device, writer)

    async def _start_tls(self, device: EmulatedDevice, writer: asyncio.StreamWriter) -> bool:
        if FaultKind.TLS_FAILURE in device.faults:
            writer.write(_TLS_ALERT)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return False
        raw = writer.transport
        try:
            await writer.start_tls(self._tls_context(device))
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
            raw.abort()
            return False
        if writer.transport is None:
            # The client left right after the handshake: asyncio (3.11) then hands back no
            # transport; put the raw one back so the writer can be closed and collected.
            writer._transport = raw
            raw.abort()
            return False
        return True

    def _base_headers(self, device: EmulatedDevice) -> list[tuple[str, str]]:
        version = device.identity.amt_version
        return [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Server", f"Intel(R) Active Management Technology {version}"),
            ("X-Frame-Options", "DENY"),
        ]

    async def _respond(
        self,
        device: EmulatedDevice,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        req: Request,
    ) -> None:
        request, body = req
        target = request.target.decode("latin-1")
        method = request.method.decode("ascii", "replace")
        base = self._base_headers(device)
        if method == "GET" and target == "/":
            await send_simple(conn, writer, 303, b"", [*base, ("Location", "/logon.htm")])
            return
        if target not in ("/wsman", "/index.htm"):
            await send_simple(conn, writer, 404, b"", base)
            return
        authorization = _header(request, b"authorization")
        if not device.digest.verify(authorization, method=method, target=target):
            await self._challenge(device, conn, writer, base)
            return
        if target == "/index.htm":
            await send_simple(conn, writer, 200, _INDEX, [*base, ("Content-Type", "text/html")])
            return
        await self._wsman(device, conn, writer, body, base)

    async def _challenge(
        self,
        device: EmulatedDevice,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        base: list[tuple[str, str]],
    ) -> None:
        headers = [
            *base,
            ("WWW-Authenticate", device.digest.challenge(device.new_nonce())),
            ("Content-Type", "text/html"),
            ("Connection", "close"),
        ]
        await send_simple(conn, writer, 401, _LOGON_FAILED, headers)

    async def _wsman(
        self,
        device: EmulatedDevice,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        body: bytes,
        base: list[tuple[str, str]],
    ) -> None:
        soap = [*base, ("Content-Type", "application/soap+xml; charset=UTF-8")]
        if device.inflight:
            fault = render_fault(
                concurrency_fault(), relates_to="", message_number=device.session.next_message()
            )
            await send_chunked(conn, writer, 400, fault, soap)
            return
        device.inflight += 1
        try:
            await asyncio.sleep(self._latency(device))
            if FaultKind.HTTP_500 in device.faults:
                await send_simple(conn, writer, 500, b"", base)
                return
            status, reply = handle(body, device.state, device.session, device.context())
            if FaultKind.MALFORMED_XML in device.faults:
                reply = reply[: len(reply) // 2] + b"<a:Unclosed"
            self.requests_served += 1
            if self.after_request is not None:
                await self.after_request(device)
        finally:
            device.inflight -= 1
        await send_chunked(conn, writer, status, reply, soap)

    def _latency(self, device: EmulatedDevice) -> float:
        timing = device.config.timing
        latency = timing.request_latency_s
        if device.materialized and not device.state.powered:
            latency *= 3  # replies are slower while the host sleeps (console#1082)
        if FaultKind.SLOW in device.faults:
            latency += timing.slow_extra_s
        return latency


# --- host agent -----------------------------------------------------------------------------


async def serve_agent(
    device: EmulatedDevice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """``GET /healthz`` on port 9100: answers only while the host OS runs."""
    state = device.state
    if state.host_hung and state.powered:
        await hold(reader, writer)
        return
    if not state.host_answers:
        reset(writer)
        return
    conn = h11.Connection(h11.SERVER)
    req = await read_request(conn, reader, timeout=10.0)
    if req is None:
        writer.close()
        return
    state = device.state
    if req[0].target != b"/healthz":
        await send_simple(conn, writer, 404, b"", [("Connection", "close")])
    else:
        body = json.dumps(
            {
                "status": "ok",
                "hostname": device.identity.hostname,
                "uuid": device.uuid,
                "mac": device.mac,
                "boot_count": state.boot_count,
                "reenroll_count": state.reenroll_count,
                "boot_target": state.boot_target.name.lower(),
            }
        ).encode()
        headers = [("Content-Type", "application/json"), ("Connection", "close")]
        await send_simple(conn, writer, 200, body, headers)
    writer.close()


JsonHandler = Callable[[str, str, bytes], Awaitable[tuple[int, object]]]


async def serve_json(
    handler: JsonHandler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A tiny JSON-over-HTTP server loop (the control API)."""
    conn = h11.Connection(h11.SERVER)
    try:
        while (req := await read_request(conn, reader)) is not None:
            request, body = req
            status, payload = await handler(
                request.method.decode("ascii", "replace"), request.target.decode("latin-1"), body
            )
            data = json.dumps(payload, indent=2).encode()
            await send_simple(conn, writer, status, data, [("Content-Type", "application/json")])
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                break
            conn.start_next_cycle()
    except (ConnectionError, h11.LocalProtocolError):
        pass
    finally:
        writer.close()
