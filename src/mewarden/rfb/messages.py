"""RFB wire values and fixed-layout messages (RFC 6143 §7; AMT specifics from reference
amt.md §3.2 and §6). Every integer is big-endian (network order); pixel data follows the pixel
format's own byte order."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from mewarden.errors import RedirectionProtocolError
from mewarden.rfb.pixels import PixelFormat

VERSION_3_8 = b"RFB 003.008\n"
VERSION_LENGTH = 12
#: Longest reason string or desktop name accepted (a bound for hostile peers).
MAX_TEXT = 1 << 16
#: Largest framebuffer side accepted (AMT reports up to a few thousand pixels).
MAX_SIDE = 8192


class SecurityType(enum.IntEnum):
    INVALID = 0
    NONE = 1
    VNC_AUTHENTICATION = 2


class ClientMessageType(enum.IntEnum):
    SET_PIXEL_FORMAT = 0
    SET_ENCODINGS = 2
    FRAMEBUFFER_UPDATE_REQUEST = 3
    KEY_EVENT = 4
    POINTER_EVENT = 5
    CLIENT_CUT_TEXT = 6


class ServerMessageType(enum.IntEnum):
    FRAMEBUFFER_UPDATE = 0
    SET_COLOUR_MAP_ENTRIES = 1
    BELL = 2
    SERVER_CUT_TEXT = 3


class Encoding(enum.IntEnum):
    RAW = 0
    COPY_RECT = 1
    #: Intel's RLE on AMT (the ZRLE number; tiles of at most 64x64, raw deflate).
    INTEL_RLE = 16
    #: Intel's in-band extension (decimation, zlib on/off; reference §3.2).
    INTEL_INBAND = 1092
    DESKTOP_SIZE = -223


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPixelFormat:
    pixel_format: PixelFormat


@dataclass(frozen=True, slots=True, kw_only=True)
class SetEncodings:
    encodings: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRequest:
    incremental: bool
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyEvent:
    down: bool
    key: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PointerEvent:
    buttons: int
    x: int
    y: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CutText:
    text: bytes


ClientMessage = SetPixelFormat | SetEncodings | UpdateRequest | KeyEvent | PointerEvent | CutText

_UPDATE_REQUEST = struct.Struct(">BBHHHH")
_KEY_EVENT = struct.Struct(">BBxxI")
_POINTER_EVENT = struct.Struct(">BBHH")
RECT_HEADER = struct.Struct(">HHHHi")
SERVER_INIT_HEAD = struct.Struct(">HH16sI")


def parse_version(data: bytes) -> tuple[int, int]:
    """``RFB xxx.yyy\\n`` → (major, minor)."""
    if len(data) != VERSION_LENGTH or not data.startswith(b"RFB ") or data[-1:] != b"\n":
        raise RedirectionProtocolError("not an RFB protocol version")
    major, dot, minor = data[4:7], data[7:8], data[8:11]
    if dot != b"." or not major.isdigit() or not minor.isdigit():
        raise RedirectionProtocolError("not an RFB protocol version")
    return int(major), int(minor)


def take_client_message(buffer: bytearray) -> ClientMessage | None:
    """Remove and return one complete client message (None: need more bytes)."""
    if not buffer:
        return None
    try:
        kind = ClientMessageType(buffer[0])
    except ValueError:
        raise RedirectionProtocolError(f"unknown RFB client message {buffer[0]}") from None
    length = _client_length(kind, buffer)
    if length is None or len(buffer) < length:
        return None
    raw = bytes(buffer[:length])
    del buffer[:length]
    return _decode_client(kind, raw)


def _client_length(kind: ClientMessageType, buffer: bytearray) -> int | None:
    if kind is ClientMessageType.SET_PIXEL_FORMAT:
        return 20
    if kind is ClientMessageType.SET_ENCODINGS:
        return None if len(buffer) < 4 else 4 + 4 * struct.unpack_from(">H", buffer, 2)[0]
    if kind is ClientMessageType.CLIENT_CUT_TEXT:
        if len(buffer) < 8:
            return None
        size: int = struct.unpack_from(">I", buffer, 4)[0]
        if size > MAX_TEXT:
            raise RedirectionProtocolError("RFB cut text too long")
        return 8 + size
    return {
        ClientMessageType.FRAMEBUFFER_UPDATE_REQUEST: 10,
        ClientMessageType.KEY_EVENT: 8,
        ClientMessageType.POINTER_EVENT: 6,
    }[kind]


def _decode_client(kind: ClientMessageType, raw: bytes) -> ClientMessage:
    if kind is ClientMessageType.SET_PIXEL_FORMAT:
        return SetPixelFormat(pixel_format=PixelFormat.unpack(raw[4:20]))
    if kind is ClientMessageType.SET_ENCODINGS:
        count = (len(raw) - 4) // 4
        return SetEncodings(encodings=struct.unpack_from(f">{count}i", raw, 4))
    if kind is ClientMessageType.FRAMEBUFFER_UPDATE_REQUEST:
        _, inc, x, y, w, h = _UPDATE_REQUEST.unpack(raw)
        return UpdateRequest(incremental=bool(inc), x=x, y=y, width=w, height=h)
    if kind is ClientMessageType.KEY_EVENT:
        _, down, key = _KEY_EVENT.unpack(raw)
        return KeyEvent(down=bool(down), key=key)
    if kind is ClientMessageType.POINTER_EVENT:
        _, buttons, x, y = _POINTER_EVENT.unpack(raw)
        return PointerEvent(buttons=buttons, x=x, y=y)
    return CutText(text=raw[8:])


def encode_client(message: ClientMessage) -> bytes:
    """Wire bytes of one client message."""
    if isinstance(message, SetPixelFormat):
        return bytes([ClientMessageType.SET_PIXEL_FORMAT, 0, 0, 0]) + message.pixel_format.pack()
    if isinstance(message, SetEncodings):
        count = len(message.encodings)
        head = struct.pack(">BxH", ClientMessageType.SET_ENCODINGS, count)
        return head + struct.pack(f">{count}i", *message.encodings)
    if isinstance(message, UpdateRequest):
        return _UPDATE_REQUEST.pack(
            ClientMessageType.FRAMEBUFFER_UPDATE_REQUEST,
            int(message.incremental),
            message.x,
            message.y,
            message.width,
            message.height,
        )
    if isinstance(message, KeyEvent):
        return _KEY_EVENT.pack(ClientMessageType.KEY_EVENT, int(message.down), message.key)
    if isinstance(message, PointerEvent):
        return _POINTER_EVENT.pack(
            ClientMessageType.POINTER_EVENT, message.buttons, message.x, message.y
        )
    return struct.pack(">BxxxI", ClientMessageType.CLIENT_CUT_TEXT, len(message.text)) + (
        message.text
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInit:
    width: int
    height: int
    pixel_format: PixelFormat
    name: str

    def pack(self) -> bytes:
        name = self.name.encode("utf-8")
        return (
            SERVER_INIT_HEAD.pack(self.width, self.height, self.pixel_format.pack(), len(name))
            + name
        )


def take_server_init(buffer: bytearray) -> ServerInit | None:
    if len(buffer) < SERVER_INIT_HEAD.size:
        return None
    width, height, fmt, name_length = SERVER_INIT_HEAD.unpack_from(buffer)
    if name_length > MAX_TEXT:
        raise RedirectionProtocolError("RFB desktop name too long")
    end = SERVER_INIT_HEAD.size + name_length
    if len(buffer) < end:
        return None
    check_size(width, height)
    name = bytes(buffer[SERVER_INIT_HEAD.size : end]).decode("utf-8", "replace")
    del buffer[:end]
    return ServerInit(width=width, height=height, pixel_format=PixelFormat.unpack(fmt), name=name)


def check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise RedirectionProtocolError(f"RFB framebuffer size {width}x{height} out of range")


def update_header(rectangles: int) -> bytes:
    return struct.pack(">BxH", ServerMessageType.FRAMEBUFFER_UPDATE, rectangles)


def rect_header(x: int, y: int, width: int, height: int, encoding: int) -> bytes:
    return RECT_HEADER.pack(x, y, width, height, encoding)


def security_failure(reason: str) -> bytes:
    """SecurityResult 1 (failed) with its 3.8 reason string."""
    text = reason.encode("utf-8")
    return struct.pack(">II", 1, len(text)) + text


def refuse_connection(reason: str) -> bytes:
    """The security-types list with no types (connection refused) and its reason."""
    text = reason.encode("utf-8")
    return b"\x00" + struct.pack(">I", len(text)) + text
