"""The local RFB bridge of ``mewarden amt kvm --listen``: a standard VNC viewer connects to it;
it opens AMT's KVM (redirection handshake, digest, TLS: :mod:`mewarden.redirect.session`) and
relays the desktop.

AMT sends Intel's RLE in 16-bit RGB565 or 8-bit RGB332, which most viewers cannot read (noVNC
forces 8-bit against AMT: reference dashboard.md §6). So the bridge is an RFB client upstream
(it asks AMT for RLE in the pixel format chosen with ``colour_bits``) and an RFB server
downstream: it keeps a mirror of the screen, current through continuous incremental requests,
and serves any viewer Raw pixels in the viewer's own format (32-bit true colour by default),
with VNC Authentication on the local side. Keys and pointer events go upstream as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from mewarden.errors import AmtUnreachableError
from mewarden.rfb.client import Connected, DesktopSize, Rectangle, RfbClient, UpdateDone
from mewarden.rfb.messages import (
    Encoding,
    KeyEvent,
    PointerEvent,
    SecurityType,
    ServerInit,
    SetEncodings,
    SetPixelFormat,
    UpdateRequest,
    rect_header,
    update_header,
)
from mewarden.rfb.pixels import (
    RGB332,
    RGB565,
    RGB888,
    PixelFormat,
    rgb_to_values,
    values_to_bytes,
)
from mewarden.rfb.server import AuthFailed, FrameEncoder, RfbServer

if TYPE_CHECKING:
    from mewarden.rfb.pixels import Rgb
    from mewarden.secret import Secret

READ_SIZE = 256 * 1024
UPSTREAM_ENCODINGS = (Encoding.INTEL_RLE, Encoding.RAW, Encoding.DESKTOP_SIZE)
COLOUR_FORMATS = {16: RGB565, 8: RGB332}


@dataclass(frozen=True, slots=True, kw_only=True)
class RawStream:
    """An RFB byte stream to AMT: what opening the redirection session gave."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    leftover: bytes = b""
    observed_pin: str | None = None
    """The TLS certificate's SHA-256 seen without a pin (trust on first use)."""


Opener = Callable[[], Awaitable[RawStream]]


class ByteReader(Protocol):
    """Where a viewer's bytes come from: a socket's StreamReader, or a WebSocket adapter."""

    async def read(self, n: int = -1, /) -> bytes:
        """Some bytes; b"" when the viewer has left."""
        ...


class ByteWriter(Protocol):
    """Where a viewer's bytes go: a socket's StreamWriter, or a WebSocket adapter."""

    def write(self, data: bytes, /) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class Mirror:
    """The upstream side: an RFB client to AMT and the latest complete frame."""

    def __init__(self, stream: RawStream, *, colour_bits: int = 16) -> None:
        self._stream = stream
        self._client = RfbClient()
        self._format: PixelFormat = COLOUR_FORMATS[colour_bits]
        self._working: Rgb | None = None
        self.frame: Rgb | None = None
        self.version = 0
        self.name = ""
        self.updates = 0
        self.failure: BaseException | None = None
        self._subscribers: set[asyncio.Event] = set()

    def subscribe(self) -> asyncio.Event:
        """An event set on every new frame (and when the upstream session ends)."""
        event = asyncio.Event()
        self._subscribers.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._subscribers.discard(event)

    def _notify(self) -> None:
        for event in self._subscribers:
            event.set()

    async def start(self, timeout_s: float) -> None:
        """Handshake and wait for the first complete frame."""
        async with asyncio.timeout(timeout_s):
            await self._feed(self._stream.leftover)
            while self.frame is None:
                await self._read_once()

    async def pump(self) -> None:
        """Keep the mirror current until AMT closes the stream (then ``failure`` says why)."""
        try:
            while True:
                await self._read_once()
        except Exception as exc:
            self.failure = exc
            raise
        finally:
            if self.failure is None:
                self.failure = AmtUnreachableError("the KVM session ended")
            self._notify()

    async def _read_once(self) -> None:
        data = await self._stream.reader.read(READ_SIZE)
        if not data:
            raise AmtUnreachableError("AMT closed the KVM session")
        await self._feed(data)

    async def _feed(self, data: bytes) -> None:
        import numpy as np

        for event in self._client.receive(data):
            if isinstance(event, Connected):
                self._on_connected(event)
            elif isinstance(event, Rectangle) and self._working is not None:
                height, width = event.pixels.shape[:2]
                self._working[event.y : event.y + height, event.x : event.x + width] = event.pixels
            elif isinstance(event, DesktopSize):
                self._working = np.zeros((event.height, event.width, 3), dtype=np.uint8)
            elif isinstance(event, UpdateDone) and self._working is not None:
                self._publish()
        await self._flush()

    def _on_connected(self, event: Connected) -> None:
        import numpy as np

        self.name = event.init.name
        self._working = np.zeros((event.init.height, event.init.width, 3), dtype=np.uint8)
        self._client.send(SetEncodings(encodings=UPSTREAM_ENCODINGS))
        self._client.send(SetPixelFormat(pixel_format=self._format))
        self._request(incremental=False)

    def _publish(self) -> None:
        assert self._working is not None
        self.frame = self._working.copy()
        self.version += 1
        self.updates += 1
        self._notify()
        self._request(incremental=True)

    def _request(self, *, incremental: bool) -> None:
        assert self._working is not None
        height, width = self._working.shape[:2]
        self._client.send(
            UpdateRequest(incremental=incremental, x=0, y=0, width=width, height=height)
        )

    def send_input(self, message: KeyEvent | PointerEvent) -> None:
        self._client.send(message)

    async def _flush(self) -> None:
        out = self._client.data_to_send()
        if out:
            self._stream.writer.write(out)
            await self._stream.writer.drain()

    async def flush_input(self) -> None:
        await self._flush()

    def close(self) -> None:
        self._stream.writer.transport.abort()


@dataclass(slots=True)
class _Viewer:
    server: RfbServer
    mirror: Mirror
    writer: ByteWriter
    wake: asyncio.Event
    pending: UpdateRequest | None = None
    sent_version: int = -1
    encoder: FrameEncoder = field(default_factory=lambda: FrameEncoder(allow_rle=False))
    cached: tuple[int, PixelFormat, tuple[int, ...], bytes] | None = None
    shown: Rgb | None = None
    """The frame as of the last update sent: what the viewer's framebuffer holds."""
    frames: int = 0


async def serve_viewer(
    reader: ByteReader,
    writer: ByteWriter,
    *,
    mirror: Mirror,
    password: Secret | None,
) -> int:
    """One viewer connection on a started mirror: relay until the viewer (or AMT) leaves;
    returns the frames sent. ``password``: VNC Authentication with it; None: security type
    None, for a transport that has already authenticated the viewer (mewarden serve's
    WebSocket)."""
    assert mirror.frame is not None
    height, width = mirror.frame.shape[:2]
    init = ServerInit(
        width=width, height=height, pixel_format=RGB888, name=f"mewarden: {mirror.name}"
    )
    if password is None:
        server = RfbServer(init=init, security=SecurityType.NONE)
    else:
        server = RfbServer(
            init=init,
            security=SecurityType.VNC_AUTHENTICATION,
            password=password,
            challenge=os.urandom(16),
        )
    viewer = _Viewer(server=server, mirror=mirror, writer=writer, wake=mirror.subscribe())
    try:
        await _relay(viewer, reader)
    finally:
        mirror.unsubscribe(viewer.wake)
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()
    return viewer.frames


async def _relay(viewer: _Viewer, reader: ByteReader) -> None:
    viewer.writer.write(viewer.server.data_to_send())
    await viewer.writer.drain()  # a buffering writer (the WebSocket's) sends only on drain
    tasks = [
        asyncio.create_task(_read_viewer(viewer, reader)),
        asyncio.create_task(_write_viewer(viewer)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, ConnectionError | _ViewerLeft):
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _ViewerLeft(Exception):
    """The viewer closed its connection or failed authentication."""


async def _read_viewer(viewer: _Viewer, reader: ByteReader) -> None:
    server = viewer.server
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            raise _ViewerLeft
        forwarded = False
        for event in server.receive(data):
            if isinstance(event, AuthFailed):
                viewer.writer.write(server.data_to_send())
                await viewer.writer.drain()
                raise _ViewerLeft
            if isinstance(event, UpdateRequest):
                if viewer.pending is None or not event.incremental:
                    viewer.pending = event
                viewer.wake.set()
            elif isinstance(event, KeyEvent | PointerEvent):
                viewer.mirror.send_input(event)
                forwarded = True
        viewer.writer.write(server.data_to_send())
        await viewer.writer.drain()
        if forwarded:
            await viewer.mirror.flush_input()


async def _write_viewer(viewer: _Viewer) -> None:
    while True:
        await viewer.wake.wait()
        viewer.wake.clear()
        request, mirror = viewer.pending, viewer.mirror
        if mirror.failure is not None:
            raise mirror.failure
        if request is None or mirror.frame is None or not viewer.server.ready:
            continue
        if request.incremental and viewer.sent_version == mirror.version:
            continue
        data = _update_bytes(viewer, mirror.frame, mirror.version, request.incremental)
        viewer.sent_version = mirror.version
        if not data:
            continue  # a new frame, the same pixels: the incremental request stays pending
        viewer.pending = None
        viewer.writer.write(data)
        viewer.frames += 1
        await viewer.writer.drain()


def _update_bytes(viewer: _Viewer, frame: Rgb, version: int, incremental: bool) -> bytes:
    """The whole frame, or for an incremental request only the rectangle around what changed
    since the last update sent (a typed key costs a few hundred bytes, not 3 MB of Raw)."""
    server = viewer.server
    frame, prefix = server.fit(frame)
    previous, viewer.shown = viewer.shown, frame
    if incremental and not prefix and previous is not None and previous.shape == frame.shape:
        return _changed_rect(frame, previous, server.pixel_format)
    key = (version, server.pixel_format, server.encodings)
    if viewer.cached is None or viewer.cached[:3] != key:
        data = viewer.encoder.update(frame, server.pixel_format, server.encodings)
        viewer.cached = (*key, data)
    return prefix + viewer.cached[3]


def _changed_rect(frame: Rgb, previous: Rgb, fmt: PixelFormat) -> bytes:
    """One Raw rectangle bounding the pixels that differ (b"" when none do)."""
    import numpy as np

    changed = (frame != previous).any(axis=2)
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return b""
    columns = np.flatnonzero(changed.any(axis=0))
    y, x = int(rows[0]), int(columns[0])
    height, width = int(rows[-1]) - y + 1, int(columns[-1]) - x + 1
    part = frame[y : y + height, x : x + width]
    pixels = values_to_bytes(rgb_to_values(part, fmt), fmt)
    return update_header(1) + rect_header(x, y, width, height, Encoding.RAW) + pixels


@dataclass(slots=True)
class BridgeStats:
    viewers: int = 0
    frames: int = 0
    sessions: int = 0
    """AMT KVM sessions opened (one serves every viewer until it ends)."""
    errors: list[str] = field(default_factory=list)
    observed_pin: str | None = None


class _Upstream:
    """The bridge's one AMT session, opened on the first viewer and again after it ends."""

    def __init__(self, opener: Opener, colour_bits: int, timeout_s: float) -> None:
        self._opener = opener
        self._colour_bits = colour_bits
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._mirror: Mirror | None = None
        self._pump: asyncio.Task[None] | None = None
        self.sessions = 0

    async def mirror(self) -> Mirror:
        async with self._lock:
            if self._mirror is None or self._mirror.failure is not None:
                mirror = Mirror(await self._opener(), colour_bits=self._colour_bits)
                try:
                    await mirror.start(self._timeout_s)
                except BaseException:
                    mirror.close()
                    raise
                self._mirror, self.sessions = mirror, self.sessions + 1
                self._pump = asyncio.create_task(_quiet(mirror.pump()))
            return self._mirror

    async def close(self) -> None:
        if self._mirror is not None:
            self._mirror.close()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)


async def _quiet(work: Awaitable[None]) -> None:
    # the pump's failure is kept on the mirror and reported to its viewers
    with contextlib.suppress(Exception):
        await work


async def run_bridge(
    host: str,
    port: int,
    *,
    opener: Opener,
    password: Secret,
    colour_bits: int = 16,
    timeout_s: float = 10.0,
    on_listening: Callable[[str, int], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    stop: asyncio.Event | None = None,
    once: bool = False,
) -> BridgeStats:
    """Listen on host:port until ``stop`` is set (or forever; ``once``: until the first viewer
    leaves). Viewers share one AMT session (user consent is per session on AMT). A failure
    goes to ``on_error`` and ends only that viewer."""
    stats = BridgeStats()
    stop = stop or asyncio.Event()
    upstream = _Upstream(opener, colour_bits, timeout_s)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats.viewers += 1
        try:
            mirror = await upstream.mirror()
            stats.frames += await serve_viewer(reader, writer, mirror=mirror, password=password)
        except Exception as exc:  # one viewer's failure must not stop the bridge
            stats.errors.append(str(exc))
            if on_error is not None:
                on_error(exc)
            writer.transport.abort()
        finally:
            stats.sessions = upstream.sessions
            if once:
                stop.set()

    server = await asyncio.start_server(accept, host=host, port=port)
    bound = server.sockets[0].getsockname()
    if on_listening is not None:
        on_listening(bound[0], bound[1])
    try:
        async with server:
            await stop.wait()
    finally:
        await upstream.close()
    return stats
