"""The host agent daemon (``mewarden host agent``): the node side of heal liveness detection.

Two jobs, both optional to the controller:

* answer ``GET /healthz`` (port 9100) with ``{"status": "ok", "node", "reenroll_count"?,
  "uptime_s"}``: the controller's probe (:mod:`mewarden.heal.agent`) reads a 200 with a JSON
  object as "the host OS runs", and ``reenroll_count`` rising as "the PXE re-provision finished";
  the count is whatever integer the node's provisioning wrote to the re-enrolment file, read
  afresh on every probe so a new value needs no restart;
* push signed ``POST /heartbeat`` to a controller replica every interval (jittered), so a node
  that stops is looked at at once (:mod:`mewarden.heal.heartbeat` is the format).

h11 over asyncio streams for both sides, one request per connection (``Connection: close``),
each connection bounded in size and time. The wire rules are pure, in
:mod:`mewarden.host.health`. The heartbeat key is read once at start and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h11

from mewarden.errors import BadInputError, PeerError, PeerUnreachableError
from mewarden.fsutil import read_input_file
from mewarden.heal import heartbeat
from mewarden.host.health import (
    MAX_REENROLL_FILE,
    MAX_REQUEST_BODY,
    MAX_REQUEST_HEAD,
    REASONS,
    Route,
    health_body,
    heartbeat_error,
    jittered,
    next_counter,
    parse_reenroll_count,
    route,
)
from mewarden.log import get_logger
from mewarden.netio import RequestTooLarge, close_quietly, read_request

DEFAULT_REENROLL_FILE = Path("/var/lib/mewarden/reenroll-count")
READ_TIMEOUT_S = 5.0
"""A probe is one small request; a connection still open after this is dropped."""
LINGER_S = 1.0
LINGER_BYTES = 64 * 1024
_MAX_KEY_FILE = 64 * 1024
_JITTER_SOURCE = random.SystemRandom()
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = get_logger("mewarden.host.agent")


@dataclass(frozen=True, slots=True)
class NodeKey:
    """A node's name and heartbeat key, from its key file (the key never in a repr)."""

    node: str
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class HeartbeatReport:
    """One accepted heartbeat (``host agent --once``)."""

    node: str
    controller: str
    status: int
    counter: int


def load_key_file(path: Path) -> NodeKey:
    """The key file written by ``mewarden heal heartbeat-key``; BadInputError when it is not one."""
    what = f"heartbeat key file {path}"
    with contextlib.suppress(OSError):
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size > _MAX_KEY_FILE:
            raise BadInputError(f"{what}: not a mewarden heartbeat key file (too large)")
    raw = read_input_file(path, what="heartbeat key file")
    try:
        node, key = heartbeat.key_from_file_text(raw.decode("utf-8"))
    except (UnicodeDecodeError, BadInputError) as exc:
        reason = "not a mewarden heartbeat key file" if isinstance(exc, ValueError) else str(exc)
        raise BadInputError(f"{what}: {reason}") from None
    if not 0 < len(node) <= 128:
        raise BadInputError(f"{what}: the node name must be 1 to 128 characters")
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            log.warning("heartbeat key file is readable by other users", file=str(path))
    return NodeKey(node=node, key=key)


class ReenrollFile:
    """The node's re-enrolment count, read on every probe (missing file: no count)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._warned = False

    def read(self) -> int | None:
        """The count, or None when the file is missing, unreadable or not one integer."""
        try:
            # O_NONBLOCK: a FIFO (or worse) in its place must not stall the probe
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                raw = os.read(fd, MAX_REENROLL_FILE + 1)
            finally:
                os.close(fd)
        except FileNotFoundError:
            self._warned = False
            return None
        except OSError as exc:
            self._bad(f"not readable: {_reason(exc)}")
            return None
        count = parse_reenroll_count(raw)
        if count is None:
            self._bad("not a non-negative integer")
            return None
        self._warned = False
        return count

    def _bad(self, reason: str) -> None:
        if not self._warned:  # once until it is good (or gone) again, not once per probe
            self._warned = True
            log.warning("re-enrolment count omitted", file=str(self.path), reason=reason)


class HealthServer:
    """Answers ``GET /healthz``; anything else gets 404/405, garbage 400, oversized 413/431."""

    def __init__(
        self,
        node: str,
        reenroll: ReenrollFile,
        *,
        clock: Callable[[], float] = time.monotonic,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.node, self.reenroll, self.clock = node, reenroll, clock
        self.read_timeout_s = read_timeout_s
        self.started = clock()

    def document(self) -> bytes:
        """The current ``/healthz`` body."""
        return health_body(self.node, self.reenroll.read(), self.clock() - self.started)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Listen on ``host:port`` (port 0: any free one; see ``server.sockets``)."""
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        try:
            async with asyncio.timeout(self.read_timeout_s):
                try:
                    status = await _read_request(conn, reader)
                except h11.RemoteProtocolError as exc:  # garbage, or a head over the limit
                    status = exc.error_status_hint
                if status is not None:
                    writer.write(self._response(conn, status))
                    await writer.drain()
                    await _linger(reader, writer)
        except (OSError, TimeoutError, h11.ProtocolError):
            pass  # the client went away or stalled: nothing to answer
        finally:
            await close_quietly(writer)

    def _response(self, conn: h11.Connection, status: int) -> bytes:
        body = self.document() if status == Route.HEALTH else b""
        headers = [("Content-Length", str(len(body))), ("Connection", "close")]
        if status == Route.HEALTH:
            headers += [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        elif status == Route.METHOD_NOT_ALLOWED:
            headers.append(("Allow", "GET"))
        response = h11.Response(
            status_code=status, reason=REASONS.get(status, b""), headers=headers
        )
        return conn.send(response) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then read what the client still sends (bounded) before closing: closing
    with unread bytes (an oversized request) makes the kernel reset the connection, and the
    client may lose the answer that says why."""
    if writer.can_write_eof():
        writer.write_eof()
    seen = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_S):
            while seen < LINGER_BYTES and (chunk := await reader.read(4096)):
                seen += len(chunk)


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> int | None:
    """The status to answer with, or None when the client closed before a whole request."""
    try:
        got = await read_request(conn, reader, max_body=MAX_REQUEST_BODY)
    except RequestTooLarge:
        return 413
    if got is None:
        return None
    request, _body = got
    return int(route(request.method, request.target))


class HeartbeatSender:
    """Signed heartbeats to one controller replica; counters are rising Unix milliseconds."""

    def __init__(
        self,
        key: NodeKey,
        host: str,
        port: int,
        *,
        timeout_s: float = 5.0,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        unit: Callable[[], float] = _JITTER_SOURCE.random,
    ) -> None:
        self.key, self.host, self.port = key, host, port
        self.timeout_s, self.clock_ms, self.unit = timeout_s, clock_ms, unit
        self.controller = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._last = 0

    async def send_once(self) -> HeartbeatReport:
        """One heartbeat; a typed error unless the controller accepted it (2xx)."""
        counter = self._last = next_counter(self._last, self.clock_ms())
        body, sig = heartbeat.encode(self.key.node, counter, self.key.key)
        status = await self._post(body, sig)
        error = heartbeat_error(status, self.controller)
        if error is not None:
            raise error
        return HeartbeatReport(
            node=self.key.node, controller=self.controller, status=status, counter=counter
        )

    async def run(self, interval_s: float) -> None:
        """Send at once, then every ``interval_s`` (jittered) until cancelled; log failures."""
        failures = 0
        while True:
            try:
                report = await self.send_once()
            except PeerError as exc:  # every failure send_once raises is one of these
                failures += 1
                log.warning(
                    "heartbeat failed",
                    controller=self.controller,
                    error=str(exc),
                    failures=failures,
                )
            else:
                if failures:
                    log.info("heartbeats accepted again", controller=self.controller)
                failures = 0
                log.debug("heartbeat accepted", controller=self.controller, counter=report.counter)
            await asyncio.sleep(jittered(interval_s, self.unit()))

    async def _post(self, body: bytes, sig: str) -> int:
        writer: asyncio.StreamWriter | None = None
        where = f"heartbeat to {self.controller}"
        try:
            async with asyncio.timeout(self.timeout_s):
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except OSError as exc:
                    raise PeerUnreachableError(
                        f"{where}: cannot connect ({_reason(exc)})"
                    ) from None
                return await self._exchange(reader, writer, body, sig)
        except TimeoutError:
            raise PeerUnreachableError(f"{where}: no answer within {self.timeout_s:g} s") from None
        except OSError as exc:
            raise PeerUnreachableError(f"{where}: connection lost ({_reason(exc)})") from None
        except h11.ProtocolError:
            raise PeerError(f"{where}: the answer is not HTTP") from None
        finally:
            if writer is not None:
                await close_quietly(writer)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, sig: str
    ) -> int:
        conn = h11.Connection(our_role=h11.CLIENT)
        request = h11.Request(
            method="POST",
            target=heartbeat.PATH,
            headers=[
                ("Host", self.controller),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                (heartbeat.SIGNATURE_HEADER, sig),
            ],
        )
        writer.write(
            conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        )
        await writer.drain()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(4096)
                if not data:  # a hang-up, not a malformed answer
                    raise ConnectionResetError("closed before an answer")
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                return event.status_code


async def run_agent(
    server: HealthServer,
    listen: tuple[str, int],
    sender: HeartbeatSender | None = None,
    *,
    interval_s: float = 30.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve (and push) until SIGTERM/SIGINT, or until ``stop`` is set."""
    stop = asyncio.Event() if stop is None else stop
    try:
        listener = await server.serve(*listen)
    except OSError as exc:
        raise BadInputError(f"cannot listen on {listen[0]}:{listen[1]}: {_reason(exc)}") from None
    bound = listener.sockets[0].getsockname()
    log.info(
        "host agent listening",
        host=bound[0],
        port=bound[1],
        node=server.node,
        heartbeat_to=sender.controller if sender else None,
    )
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    pusher = asyncio.create_task(sender.run(interval_s)) if sender else None
    try:
        await stop.wait()
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await _shut_down(listener, pusher, grace_s=server.read_timeout_s + LINGER_S)
    log.info("host agent stopped")


async def _shut_down(
    listener: asyncio.Server, pusher: asyncio.Task[None] | None, *, grace_s: float
) -> None:
    if pusher is not None:  # a heartbeat in flight is dropped: the next start sends one
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pusher
    listener.close()
    with contextlib.suppress(TimeoutError):  # open connections end within their own timeout
        await asyncio.wait_for(listener.wait_closed(), grace_s)


def _reason(exc: OSError) -> str:
    """An OS error in words, without asyncio's decoration (addresses are in the message)."""
    if exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__
