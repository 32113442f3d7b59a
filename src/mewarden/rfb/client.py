"""RFB client connection, sans-IO: handshake (server 3.3 to 4.0 — AMT 11.8/16 say 4.0 and
speak 3.8 — security None or VNC Authentication), ServerInit, then server messages as events,
with Raw, Intel RLE and DesktopSize rectangles decoded to RGB arrays.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mewarden.errors import AmtAuthError, RedirectionProtocolError
from mewarden.rfb import vncauth
from mewarden.rfb.intel_rle import RleDecoder
from mewarden.rfb.messages import (
    MAX_TEXT,
    RECT_HEADER,
    VERSION_LENGTH,
    ClientMessage,
    Encoding,
    SecurityType,
    ServerInit,
    ServerMessageType,
    SetPixelFormat,
    check_size,
    encode_client,
    parse_version,
    take_server_init,
)
from mewarden.rfb.pixels import PixelFormat, decode_rgb, values_to_rgb

if TYPE_CHECKING:
    from mewarden.rfb.pixels import Rgb
    from mewarden.secret import Secret


class _Phase(enum.Enum):
    VERSION = enum.auto()
    SECURITY_TYPES = enum.auto()
    CHALLENGE = enum.auto()
    RESULT = enum.auto()
    SERVER_INIT = enum.auto()
    NORMAL = enum.auto()


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    init: ServerInit


@dataclass(frozen=True, slots=True, kw_only=True)
class Rectangle:
    x: int
    y: int
    pixels: Rgb


@dataclass(frozen=True, slots=True, kw_only=True)
class DesktopSize:
    width: int
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateDone:
    """The last rectangle of one FramebufferUpdate was decoded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Bell:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerCutText:
    text: bytes


ClientEvent = Connected | Rectangle | DesktopSize | UpdateDone | Bell | ServerCutText


class RfbClient:
    """One client-side RFB connection."""

    def __init__(self, *, password: Secret | None = None, shared: bool = True) -> None:
        self._password = password
        self._shared = shared
        self._phase = _Phase.VERSION
        self._minor = 8
        self._in = bytearray()
        self._out = bytearray()
        self._rects_left = 0
        self._update_done = False
        self._rle = RleDecoder()
        self.pixel_format: PixelFormat | None = None
        self.size: tuple[int, int] = (0, 0)
        self.name = ""

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def send(self, message: ClientMessage) -> None:
        if isinstance(message, SetPixelFormat):
            self.pixel_format = message.pixel_format
        self._out += encode_client(message)

    def receive(self, data: bytes) -> list[ClientEvent]:
        """Feed bytes from the server. AmtAuthError on a wrong VNC password,
        RedirectionProtocolError on anything malformed or refused."""
        self._in += data
        events: list[ClientEvent] = []
        while True:
            try:
                event, progressed = self._step()
            except _NeedMore:
                return events
            if event is not None:
                events.append(event)
            if not progressed:
                return events

    def _step(self) -> tuple[ClientEvent | None, bool]:
        if self._update_done:
            self._update_done = False
            return UpdateDone(), True
        handler = {
            _Phase.VERSION: self._on_version,
            _Phase.SECURITY_TYPES: self._on_security_types,
            _Phase.CHALLENGE: self._on_challenge,
            _Phase.RESULT: self._on_result,
        }.get(self._phase)
        if handler is not None:
            return None, handler()
        if self._phase is _Phase.SERVER_INIT:
            return self._on_server_init()
        if self._rects_left:
            return self._on_rectangle()
        return self._on_message()

    def _on_version(self) -> bool:
        if len(self._in) < VERSION_LENGTH:
            return False
        major, minor = parse_version(bytes(self._in[:VERSION_LENGTH]))
        del self._in[:VERSION_LENGTH]
        if major < 3 or (major == 3 and minor < 3):
            raise RedirectionProtocolError(f"unsupported RFB server version {major}.{minor}")
        self._minor = 8 if major > 3 else 3 if minor < 7 else min(minor, 8)
        self._out += b"RFB 003.%03d\n" % self._minor
        self._phase = _Phase.SECURITY_TYPES
        return True

    def _on_security_types(self) -> bool:
        if self._minor == 3:
            if len(self._in) < 4:
                return False
            chosen = struct.unpack_from(">I", self._in)[0]
            if chosen == SecurityType.INVALID:
                self._raise_reason(4, "the RFB server refused the connection")
            del self._in[:4]
            return self._choose(chosen)
        if not self._in:
            return False
        count = self._in[0]
        if count == 0:
            self._raise_reason(1, "the RFB server refused the connection")
        if len(self._in) < 1 + count:
            return False
        offered = set(self._in[1 : 1 + count])
        del self._in[: 1 + count]
        for wanted in (SecurityType.NONE, SecurityType.VNC_AUTHENTICATION):
            if wanted in offered and (wanted is SecurityType.NONE or self._password):
                self._out.append(wanted)
                return self._choose(wanted)
        raise RedirectionProtocolError(f"no usable RFB security type among {sorted(offered)}")

    def _raise_reason(self, offset: int, what: str) -> None:
        reason = self._reason(offset)
        if reason is None:
            raise _NeedMore
        raise RedirectionProtocolError(f"{what}: {reason}" if reason else what)

    def _reason(self, offset: int) -> str | None:
        if len(self._in) < offset + 4:
            return None
        size = min(struct.unpack_from(">I", self._in, offset)[0], MAX_TEXT)
        if len(self._in) < offset + 4 + size:
            return None
        return bytes(self._in[offset + 4 : offset + 4 + size]).decode("utf-8", "replace")

    def _choose(self, chosen: int) -> bool:
        if chosen == SecurityType.VNC_AUTHENTICATION:
            if not self._password:
                raise AmtAuthError("the VNC server wants a password and none was given")
            self._phase = _Phase.CHALLENGE
        elif chosen == SecurityType.NONE:
            self._phase = _Phase.RESULT if self._minor == 8 else _Phase.SERVER_INIT
            self._after_security_if_done()
        else:
            raise RedirectionProtocolError(f"unsupported RFB security type {chosen}")
        return True

    def _after_security_if_done(self) -> None:
        if self._phase is _Phase.SERVER_INIT:
            self._out.append(int(self._shared))

    def _on_challenge(self) -> bool:
        if len(self._in) < vncauth.CHALLENGE_LENGTH:
            return False
        challenge = bytes(self._in[: vncauth.CHALLENGE_LENGTH])
        del self._in[: vncauth.CHALLENGE_LENGTH]
        assert self._password is not None
        self._out += vncauth.response(self._password, challenge)
        self._phase = _Phase.RESULT
        return True

    def _on_result(self) -> bool:
        if len(self._in) < 4:
            return False
        status = struct.unpack_from(">I", self._in)[0]
        if status != 0:
            reason = self._reason(4) if self._minor == 8 else ""
            if reason is None:
                return False
            raise AmtAuthError(f"VNC authentication failed{': ' + reason if reason else ''}")
        del self._in[:4]
        self._phase = _Phase.SERVER_INIT
        self._after_security_if_done()
        return True

    def _on_server_init(self) -> tuple[ClientEvent | None, bool]:
        init = take_server_init(self._in)
        if init is None:
            return None, False
        self.pixel_format = init.pixel_format
        self.size = (init.width, init.height)
        self.name = init.name
        self._phase = _Phase.NORMAL
        return Connected(init=init), True

    def _on_message(self) -> tuple[ClientEvent | None, bool]:
        if not self._in:
            return None, False
        kind = self._in[0]
        if kind == ServerMessageType.FRAMEBUFFER_UPDATE:
            if len(self._in) < 4:
                return None, False
            self._rects_left = struct.unpack_from(">H", self._in, 2)[0]
            del self._in[:4]
            return (UpdateDone(), True) if self._rects_left == 0 else (None, True)
        if kind == ServerMessageType.BELL:
            del self._in[:1]
            return Bell(), True
        if kind == ServerMessageType.SERVER_CUT_TEXT:
            return self._on_cut_text()
        if kind == ServerMessageType.SET_COLOUR_MAP_ENTRIES:
            raise RedirectionProtocolError("colour maps are not supported (true colour only)")
        raise RedirectionProtocolError(f"unknown RFB server message {kind}")

    def _on_cut_text(self) -> tuple[ClientEvent | None, bool]:
        if len(self._in) < 8:
            return None, False
        size = struct.unpack_from(">I", self._in, 4)[0]
        if size > MAX_TEXT:
            raise RedirectionProtocolError("RFB cut text too long")
        if len(self._in) < 8 + size:
            return None, False
        text = bytes(self._in[8 : 8 + size])
        del self._in[: 8 + size]
        return ServerCutText(text=text), True

    def _on_rectangle(self) -> tuple[ClientEvent | None, bool]:
        if len(self._in) < RECT_HEADER.size:
            return None, False
        x, y, width, height, encoding = RECT_HEADER.unpack_from(self._in)
        decoded = self._decode(x, y, width, height, encoding)
        if decoded is None:
            return None, False
        self._rects_left -= 1
        self._update_done = self._rects_left == 0
        return decoded, True

    def _decode(self, x: int, y: int, w: int, h: int, encoding: int) -> ClientEvent | None:
        fmt = self.pixel_format
        assert fmt is not None
        head = RECT_HEADER.size
        if encoding == Encoding.DESKTOP_SIZE:
            check_size(w, h)
            del self._in[:head]
            self.size = (w, h)
            return DesktopSize(width=w, height=h)
        self._check_inside(x, y, w, h)
        if encoding == Encoding.RAW:
            end = head + w * h * fmt.bytes_per_pixel
            if len(self._in) < end:
                return None
            pixels = decode_rgb(bytes(self._in[head:end]), w, h, fmt)
        elif encoding == Encoding.INTEL_RLE:
            if len(self._in) < head + 4:
                return None
            end = head + 4 + struct.unpack_from(">I", self._in, head)[0]
            if len(self._in) < end:
                return None
            values = self._rle.tile(bytes(self._in[head + 4 : end]), w, h, fmt)
            pixels = values_to_rgb(values, fmt)
        else:
            raise RedirectionProtocolError(f"RFB encoding {encoding} was not asked for")
        del self._in[:end]
        return Rectangle(x=x, y=y, pixels=pixels)

    def _check_inside(self, x: int, y: int, w: int, h: int) -> None:
        width, height = self.size
        if w == 0 or h == 0 or x + w > width or y + h > height:
            raise RedirectionProtocolError(
                f"RFB rectangle {w}x{h}+{x}+{y} outside the {width}x{height} framebuffer"
            )


class _NeedMore(Exception):
    """Internal: a refusal's reason has not fully arrived."""
