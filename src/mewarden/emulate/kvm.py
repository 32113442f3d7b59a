"""KVM on the emulated device: RFB 3.8 after the redirection handshake (security None; Raw,
Intel RLE and DesktopSize; AMT's pixel formats) and plain VNC on port 5900 (VNC
Authentication with the RFB password) when ``Is5900PortEnabled`` (reference amt.md §1.9, §3.2).

The screen is the host's text console (:mod:`mewarden.emulate.screen`); keys typed in a viewer
go to the same console SOL reads. The protocol work is :class:`mewarden.rfb.server.RfbServer`;
this module is the asyncio shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mewarden.emulate.device import EmulatedDevice, FaultKind
from mewarden.emulate.screen import Screen
from mewarden.errors import RedirectionProtocolError
from mewarden.rfb.messages import (
    Encoding,
    KeyEvent,
    SecurityType,
    ServerInit,
    UpdateRequest,
)
from mewarden.rfb.pixels import RGB565, RGB888, PixelFormat
from mewarden.rfb.server import AuthFailed, FrameEncoder, RfbServer

if TYPE_CHECKING:
    from mewarden.rfb.pixels import Rgb

DESKTOP_NAME = "Intel(r) AMT KVM"
POLL_S = 0.05
READ_SIZE = 64 * 1024
#: X11 keysyms a text console understands besides Latin-1 characters.
KEYSYM_TEXT = {0xFF0D: "\r", 0xFF8D: "\r", 0xFF08: "\b", 0xFF09: "\t", 0xFFFF: "\x7f"}


def keysym_text(key: int) -> str:
    """The text a key press types on the console ("" for keys that type nothing)."""
    if 0x20 <= key <= 0x7E or 0xA0 <= key <= 0xFF:
        return chr(key)
    return KEYSYM_TEXT.get(key, "")


@dataclass(slots=True)
class _Viewer:
    """What one RFB connection has asked for and been sent."""

    server: RfbServer
    encoder: FrameEncoder
    screen: Screen = field(default_factory=Screen)
    pending: UpdateRequest | None = None
    sent: Rgb | None = None
    size: tuple[int, int] = (0, 0)
    cache: tuple[Rgb, object, tuple[int, ...], bytes] | None = None
    """The last Raw update: (frame, pixel format, encodings, bytes); the frame is held, so
    ``is`` identifies it."""


def _server_init(frame: Rgb, fmt: PixelFormat) -> ServerInit:
    height, width = frame.shape[:2]
    return ServerInit(width=width, height=height, pixel_format=fmt, name=DESKTOP_NAME)


async def serve_kvm_rfb(
    device: EmulatedDevice,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    leftover: bytes = b"",
) -> None:
    """RFB on an authenticated redirection stream (after ``40``/``41``): security None."""
    screen = Screen()
    init = _server_init(screen.frame(device.state), RGB565)
    server = RfbServer(init=init, security=SecurityType.NONE)
    if not device.state.kvm_enabled or not device.state.consent_satisfied():
        server.refuse("KVM is disabled or waits for user consent")
    viewer = _Viewer(server=server, encoder=FrameEncoder(allow_rle=True), screen=screen)
    await _run(device, viewer, reader, writer, leftover)


async def serve_vnc(
    device: EmulatedDevice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Port 5900: standard VNC with the RFB password; closed unless enabled."""
    if device.drop_connection() or FaultKind.AMT_UNREACHABLE in device.faults:
        writer.transport.abort()
        return
    state = device.state
    password = state.kvm.rfb_password
    if not (state.kvm.is_5900_port_enabled and state.kvm_enabled and password):
        writer.transport.abort()  # AMT does not listen on 5900 then: look like a refused port
        return
    screen = Screen()
    init = _server_init(screen.frame(device.state), RGB888)
    server = RfbServer(
        init=init,
        security=SecurityType.VNC_AUTHENTICATION,
        password=password,
        challenge=os.urandom(16),
    )
    if state.kvm.opt_in_policy and not state.consent_satisfied():
        server.refuse("user consent required: start it and send the code shown on the screen")
    # standard viewers read encoding 16 as ZRLE: Raw only here. The 32-bit ServerInit format is
    # a standard server's (AMT's choice on 5900 is not recorded); gvnccapture mis-draws 16-bit.
    viewer = _Viewer(server=server, encoder=FrameEncoder(allow_rle=False), screen=screen)
    await _run(device, viewer, reader, writer, b"")


async def _run(
    device: EmulatedDevice,
    viewer: _Viewer,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    leftover: bytes,
) -> None:
    try:
        if not await _serve(device, viewer, reader, writer, leftover):
            await writer.drain()
    except (ConnectionError, RedirectionProtocolError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()


async def _serve(
    device: EmulatedDevice,
    viewer: _Viewer,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    leftover: bytes,
) -> bool:
    """Serve until the viewer leaves; False when the handshake ended the connection."""
    server = viewer.server
    data: bytes | None = leftover
    while True:
        if data:
            for event in server.receive(data):
                if isinstance(event, AuthFailed):
                    writer.write(server.data_to_send())
                    return False
                _on_event(device, viewer, event)
        writer.write(server.data_to_send())
        if server.ready:
            _send_update(device, viewer, writer)
        await writer.drain()
        if server.closed:
            return False
        try:
            data = await asyncio.wait_for(reader.read(READ_SIZE), POLL_S)
        except TimeoutError:
            data = None
        if data == b"":
            return True


def _on_event(device: EmulatedDevice, viewer: _Viewer, event: object) -> None:
    if isinstance(event, UpdateRequest):
        # a full request overrides a pending incremental one, never the other way round
        if viewer.pending is None or not event.incremental:
            viewer.pending = event
    elif isinstance(event, KeyEvent) and event.down:
        text = keysym_text(event.key)
        if text:
            device.state.console_input(text)


def _send_update(device: EmulatedDevice, viewer: _Viewer, writer: asyncio.StreamWriter) -> None:
    request = viewer.pending
    if request is None:
        return
    frame = viewer.screen.frame(device.state)
    if request.incremental and frame is viewer.sent:
        return  # nothing changed: the answer waits for a change
    shown, resize = viewer.server.fit(frame)
    writer.write(resize)
    previous = viewer.sent if request.incremental and not resize else None
    if previous is not None and previous.shape != shown.shape:
        previous = None
    writer.write(_encoded(viewer, shown, previous))
    viewer.pending = None
    viewer.sent = frame


def _encoded(viewer: _Viewer, frame: Rgb, previous: Rgb | None) -> bytes:
    server = viewer.server
    if previous is not None:
        return viewer.encoder.update(
            frame, server.pixel_format, server.encodings, previous=previous
        )
    uses_rle = viewer.encoder.allow_rle and Encoding.INTEL_RLE in server.encodings
    if uses_rle:  # the deflate stream has state: never replay cached bytes
        return viewer.encoder.update(frame, server.pixel_format, server.encodings)
    cached = viewer.cache
    if cached is None or not (
        cached[0] is frame and cached[1] == server.pixel_format and cached[2] == server.encodings
    ):
        data = viewer.encoder.update(frame, server.pixel_format, server.encodings)
        cached = (frame, server.pixel_format, server.encodings, data)
        viewer.cache = cached
    return cached[3]
