"""RFB server connection, sans-IO: handshake (versions 3.3, 3.7, 3.8; security None or VNC
Authentication), ClientInit/ServerInit, then client messages as events; plus the encoder of
framebuffer updates (Raw, Intel RLE, DesktopSize).

Usage: feed bytes with :meth:`RfbServer.receive` (returns events), send what
:meth:`RfbServer.data_to_send` returns.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mewarden.errors import RedirectionProtocolError
from mewarden.rfb import vncauth
from mewarden.rfb.intel_rle import RleEncoder, tiles
from mewarden.rfb.messages import (
    VERSION_3_8,
    VERSION_LENGTH,
    ClientMessage,
    Encoding,
    SecurityType,
    ServerInit,
    SetEncodings,
    SetPixelFormat,
    parse_version,
    rect_header,
    refuse_connection,
    security_failure,
    take_client_message,
    update_header,
)
from mewarden.rfb.pixels import PixelFormat, rgb_to_values, values_to_bytes

if TYPE_CHECKING:
    from mewarden.rfb.pixels import Rgb
    from mewarden.secret import Secret


class _Phase(enum.Enum):
    VERSION = enum.auto()
    SECURITY = enum.auto()
    CHALLENGE = enum.auto()
    CLIENT_INIT = enum.auto()
    NORMAL = enum.auto()
    CLOSED = enum.auto()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientReady:
    """ClientInit arrived and ServerInit went out: updates may flow."""

    shared: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthFailed:
    """Wrong VNC password (the failure result is queued; close after sending it)."""


ServerEvent = ClientReady | AuthFailed | ClientMessage


class RfbServer:
    """One server-side RFB connection."""

    def __init__(
        self,
        *,
        init: ServerInit,
        security: SecurityType = SecurityType.NONE,
        password: Secret | None = None,
        challenge: bytes = b"",
    ) -> None:
        if security is SecurityType.VNC_AUTHENTICATION and (
            password is None or len(challenge) != vncauth.CHALLENGE_LENGTH
        ):
            raise ValueError("VNC authentication needs a password and a 16-byte challenge")
        self.init = init
        self.pixel_format: PixelFormat = init.pixel_format
        self.encodings: tuple[int, ...] = (Encoding.RAW,)
        self.security = security
        self._password = password
        self._challenge = challenge
        self._minor = 8
        self._phase = _Phase.VERSION
        self._refusal: str | None = None
        self._in = bytearray()
        self._out = bytearray(VERSION_3_8)

    @property
    def ready(self) -> bool:
        return self._phase is _Phase.NORMAL

    @property
    def closed(self) -> bool:
        """The handshake ended the connection (refused, or authentication failed)."""
        return self._phase is _Phase.CLOSED

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def refuse(self, reason: str) -> None:
        """Refuse the connection once the client's version is in (sent instead of the security
        types, with ``reason``)."""
        self._refusal = reason

    def receive(self, data: bytes) -> list[ServerEvent]:
        """Feed bytes from the client; RedirectionProtocolError on malformed input."""
        if self._phase is _Phase.CLOSED:
            return []
        self._in += data
        events: list[ServerEvent] = []
        while True:
            event, progressed = self._step()
            if event is not None:
                events.append(event)
            if not progressed or self.closed:
                return events

    def _step(self) -> tuple[ServerEvent | None, bool]:
        if self._phase is _Phase.VERSION:
            return None, self._on_version()
        if self._phase is _Phase.SECURITY:
            return None, self._on_security_choice()
        if self._phase is _Phase.CHALLENGE:
            return self._on_challenge_answer()
        if self._phase is _Phase.CLIENT_INIT:
            return self._on_client_init()
        message = take_client_message(self._in)
        if message is None:
            return None, False
        self._apply(message)
        return message, True

    def _on_version(self) -> bool:
        if len(self._in) < VERSION_LENGTH:
            return False
        major, minor = parse_version(bytes(self._in[:VERSION_LENGTH]))
        del self._in[:VERSION_LENGTH]
        if major != 3 or minor < 3:
            raise RedirectionProtocolError(f"unsupported RFB client version {major}.{minor}")
        # 3.3 is what old viewers (vncsnapshot) speak; 3.4-3.6 behave as 3.3, >3.8 as 3.8
        self._minor = 3 if minor < 7 else min(minor, 8)
        if self._refusal is not None:
            refusal = refuse_connection(self._refusal)
            self._out += struct.pack(">I", 0) + refusal[1:] if self._minor == 3 else refusal
            self._phase = _Phase.CLOSED
            return False
        if self._minor == 3:
            self._out += struct.pack(">I", self.security)
            self._after_choice()
        else:
            self._out += bytes([1, self.security])
            self._phase = _Phase.SECURITY
        return True

    def _on_security_choice(self) -> bool:
        if not self._in:
            return False
        chosen = self._in.pop(0)
        if chosen != self.security:
            self._out += security_failure("security type not offered")
            self._phase = _Phase.CLOSED
            raise RedirectionProtocolError(f"RFB client chose security type {chosen}")
        self._after_choice()
        return True

    def _after_choice(self) -> None:
        if self.security is SecurityType.VNC_AUTHENTICATION:
            self._out += self._challenge
            self._phase = _Phase.CHALLENGE
            return
        if self._minor == 8:
            self._out += struct.pack(">I", 0)
        self._phase = _Phase.CLIENT_INIT

    def _on_challenge_answer(self) -> tuple[ServerEvent | None, bool]:
        if len(self._in) < vncauth.CHALLENGE_LENGTH:
            return None, False
        answer = bytes(self._in[: vncauth.CHALLENGE_LENGTH])
        del self._in[: vncauth.CHALLENGE_LENGTH]
        assert self._password is not None
        if vncauth.verify(self._password, self._challenge, answer):
            self._out += struct.pack(">I", 0)
            self._phase = _Phase.CLIENT_INIT
            return None, True
        if self._minor == 8:
            self._out += security_failure("authentication failed")
        else:
            self._out += struct.pack(">I", 1)
        self._phase = _Phase.CLOSED
        return AuthFailed(), True

    def _on_client_init(self) -> tuple[ServerEvent | None, bool]:
        if not self._in:
            return None, False
        shared = bool(self._in.pop(0))
        self._out += self.init.pack()
        self._phase = _Phase.NORMAL
        return ClientReady(shared=shared), True

    def _apply(self, message: ClientMessage) -> None:
        if isinstance(message, SetPixelFormat):
            self.pixel_format = message.pixel_format
        elif isinstance(message, SetEncodings):
            self.encodings = message.encodings

    # --- updates --------------------------------------------------------------------------

    def fit(self, frame: Rgb) -> tuple[Rgb, bytes]:
        """``frame`` for this client, and the DesktopSize update to send before it: a client
        that takes DesktopSize follows the new size, any other keeps its own (the frame is
        cropped or padded with black)."""
        height, width = frame.shape[:2]
        if (width, height) == (self.init.width, self.init.height):
            return frame, b""
        if Encoding.DESKTOP_SIZE in self.encodings:
            self.init = ServerInit(
                width=width,
                height=height,
                pixel_format=self.init.pixel_format,
                name=self.init.name,
            )
            return frame, desktop_size_update(width, height)
        import numpy as np

        fitted = np.zeros((self.init.height, self.init.width, 3), dtype=np.uint8)
        rows, columns = min(height, self.init.height), min(width, self.init.width)
        fitted[:rows, :columns] = frame[:rows, :columns]
        return fitted, b""


def desktop_size_update(width: int, height: int) -> bytes:
    """A FramebufferUpdate with just the DesktopSize pseudo-rectangle."""
    return update_header(1) + rect_header(0, 0, width, height, Encoding.DESKTOP_SIZE)


@dataclass(slots=True)
class FrameEncoder:
    """Encodes frames for one connection (keeps the Intel RLE deflate stream).

    ``allow_rle``: whether this server may answer encoding 16 with Intel RLE (the redirection
    port; port 5900 serves standard viewers, which read 16 as ZRLE, so it sends Raw there).
    """

    allow_rle: bool = True
    compress: bool = False
    _rle: RleEncoder | None = None

    def update(
        self,
        rgb: Rgb,
        fmt: PixelFormat,
        encodings: tuple[int, ...],
        *,
        previous: Rgb | None = None,
    ) -> bytes:
        """A FramebufferUpdate for the whole of ``rgb`` (only changed tiles when ``previous``
        is given and Intel RLE is in use; b"" when nothing changed)."""
        height, width = rgb.shape[:2]
        if self.allow_rle and Encoding.INTEL_RLE in encodings:
            return self._rle_update(rgb, fmt, previous)
        pixels = values_to_bytes(rgb_to_values(rgb, fmt), fmt)
        return update_header(1) + rect_header(0, 0, width, height, Encoding.RAW) + pixels

    def _rle_update(self, rgb: Rgb, fmt: PixelFormat, previous: Rgb | None) -> bytes:
        if self._rle is None:
            self._rle = RleEncoder(compress=self.compress)
        rle = self._rle
        height, width = rgb.shape[:2]
        if previous is None or previous.shape != rgb.shape:
            changed = tiles(width, height)
        else:
            changed = [
                (x, y, w, h)
                for x, y, w, h in tiles(width, height)
                if not (previous[y : y + h, x : x + w] == rgb[y : y + h, x : x + w]).all()
            ]
        # only changed tiles are converted: a typed key costs a tile or two, not a frame
        rects = [
            rle.rectangle(rgb_to_values(rgb[y : y + h, x : x + w], fmt), x, y, fmt)
            for x, y, w, h in changed
        ]
        if not rects:
            return b""
        return update_header(len(rects)) + b"".join(rects)
