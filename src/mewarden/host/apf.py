"""APF (Intel AMT Port Forwarding) messages, as carried over the LME MEI client (pure).

Layouts per reference ``amt.md`` §1.13: big-endian integers, a string is a u32 byte length and
the bytes, and over LME one MEI message is one APF message. :func:`decode` turns bytes into one
typed message or raises :class:`~mewarden.errors.HostDataError`; :func:`encode` is its inverse.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mewarden.errors import HostDataError

SERVICE_PFWD = "pfwd@amt.intel.com"
SERVICE_AUTH = "auth@amt.intel.com"
MAX_STRING = 2048
"""No APF string is longer than a host name or a service name; more is corruption."""
WINDOW_RESERVED = 0xFFFFFFFF


class ApfType(enum.IntEnum):
    """APF message type byte."""

    DISCONNECT = 1
    SERVICE_REQUEST = 5
    SERVICE_ACCEPT = 6
    USERAUTH_REQUEST = 50
    USERAUTH_FAILURE = 51
    USERAUTH_SUCCESS = 52
    GLOBAL_REQUEST = 80
    REQUEST_SUCCESS = 81
    REQUEST_FAILURE = 82
    CHANNEL_OPEN = 90
    CHANNEL_OPEN_CONFIRMATION = 91
    CHANNEL_OPEN_FAILURE = 92
    CHANNEL_WINDOW_ADJUST = 93
    CHANNEL_DATA = 94
    CHANNEL_CLOSE = 97
    PROTOCOLVERSION = 192
    KEEPALIVE_REQUEST = 208
    KEEPALIVE_REPLY = 209
    KEEPALIVE_OPTIONS_REQUEST = 210
    KEEPALIVE_OPTIONS_REPLY = 211


class DisconnectReason(enum.IntEnum):
    HOST_NOT_ALLOWED = 1
    PROTOCOL_ERROR = 2
    SERVICE_NOT_AVAILABLE = 7
    PROTOCOL_VERSION_NOT_SUPPORTED = 8
    CONNECTION_LOST = 10
    BY_APPLICATION = 11


class OpenFailureReason(enum.IntEnum):
    ADMINISTRATIVELY_PROHIBITED = 1
    CONNECT_FAILED = 2
    UNKNOWN_CHANNEL_TYPE = 3
    RESOURCE_SHORTAGE = 4


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: int


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    service: str


@dataclass(frozen=True, slots=True)
class ServiceAccept:
    service: str


@dataclass(frozen=True, slots=True)
class UserAuthRequest:
    username: str
    service: str
    method: str


@dataclass(frozen=True, slots=True)
class UserAuthSuccess:
    pass


@dataclass(frozen=True, slots=True)
class UserAuthFailure:
    methods: str


@dataclass(frozen=True, slots=True)
class GlobalRequest:
    """``tcpip-forward``/``cancel-tcpip-forward`` carry address and port; others keep raw."""

    name: str
    want_reply: bool
    address: str = ""
    port: int = 0
    rest: bytes = b""


@dataclass(frozen=True, slots=True)
class RequestSuccess:
    port: int | None = None


@dataclass(frozen=True, slots=True)
class RequestFailure:
    pass


@dataclass(frozen=True, slots=True)
class ChannelOpen:
    channel_type: str
    sender: int
    window: int
    connected_address: str
    connected_port: int
    originator_address: str
    originator_port: int


@dataclass(frozen=True, slots=True)
class ChannelOpenConfirmation:
    recipient: int
    sender: int
    window: int


@dataclass(frozen=True, slots=True)
class ChannelOpenFailure:
    recipient: int
    reason: int


@dataclass(frozen=True, slots=True)
class WindowAdjust:
    recipient: int
    amount: int


@dataclass(frozen=True, slots=True)
class ChannelData:
    recipient: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ChannelClose:
    recipient: int


@dataclass(frozen=True, slots=True)
class ProtocolVersion:
    major: int
    minor: int
    trigger: int
    uuid: bytes = bytes(16)


@dataclass(frozen=True, slots=True)
class KeepaliveRequest:
    cookie: int


@dataclass(frozen=True, slots=True)
class KeepaliveReply:
    cookie: int


@dataclass(frozen=True, slots=True)
class KeepaliveOptions:
    """KEEPALIVE_OPTIONS_REQUEST (``reply`` False) or _REPLY."""

    interval: int
    timeout: int
    reply: bool = False


ApfMessage = (
    Disconnect
    | ServiceRequest
    | ServiceAccept
    | UserAuthRequest
    | UserAuthSuccess
    | UserAuthFailure
    | GlobalRequest
    | RequestSuccess
    | RequestFailure
    | ChannelOpen
    | ChannelOpenConfirmation
    | ChannelOpenFailure
    | WindowAdjust
    | ChannelData
    | ChannelClose
    | ProtocolVersion
    | KeepaliveRequest
    | KeepaliveReply
    | KeepaliveOptions
)


class _Reader:
    """Bounds-checked big-endian reads over one message."""

    __slots__ = ("data", "name", "pos")

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 1
        self.name = name

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise HostDataError(f"APF {self.name} is truncated ({len(self.data)} bytes)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def u8(self) -> int:
        return self.take(1)[0]

    def string(self) -> str:
        length = self.u32()
        if length > MAX_STRING:
            raise HostDataError(f"APF {self.name} has a {length}-byte string")
        return self.take(length).decode("ascii", errors="replace")

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def _string(text: str) -> bytes:
    raw = text.encode("ascii")
    return struct.pack(">I", len(raw)) + raw


def _u32(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def _decode_global(r: _Reader) -> GlobalRequest:
    name = r.string()
    want_reply = bool(r.u8())
    if name in ("tcpip-forward", "cancel-tcpip-forward"):
        return GlobalRequest(name, want_reply, r.string(), r.u32())
    return GlobalRequest(name, want_reply, rest=r.rest())


def _decode_userauth(r: _Reader) -> UserAuthRequest:
    message = UserAuthRequest(r.string(), r.string(), r.string())
    r.rest()  # a password, if any: not kept
    return message


def _decode_open(r: _Reader) -> ChannelOpen:
    kind, sender, window = r.string(), r.u32(), r.u32()
    r.u32()  # reserved (SSH's maximum packet slot)
    return ChannelOpen(kind, sender, window, r.string(), r.u32(), r.string(), r.u32())


def _decode_version(r: _Reader) -> ProtocolVersion:
    message = ProtocolVersion(r.u32(), r.u32(), r.u32(), r.take(16))
    r.take(64)
    return message


def _decode_data(r: _Reader) -> ChannelData:
    recipient, length = r.u32(), r.u32()
    return ChannelData(recipient, r.take(length))


def _decode_success(r: _Reader) -> RequestSuccess:
    return RequestSuccess(r.u32() if len(r.data) >= 5 else None)


def _decode_open_failure(r: _Reader) -> ChannelOpenFailure:
    message = ChannelOpenFailure(r.u32(), r.u32())
    r.rest()
    return message


def _decode_confirmation(r: _Reader) -> ChannelOpenConfirmation:
    message = ChannelOpenConfirmation(r.u32(), r.u32(), r.u32())
    r.rest()  # the reserved word (lms and mps send it, others may not)
    return message


def _decode_failure(r: _Reader) -> UserAuthFailure:
    methods = r.string()
    r.rest()  # partial-success byte(s): one (gwm) or two (mps)
    return UserAuthFailure(methods)


def _decode_disconnect(r: _Reader) -> Disconnect:
    reason = r.u32()
    r.rest()  # u16 reserved
    return Disconnect(reason)


_DECODERS: dict[ApfType, Callable[[_Reader], Any]] = {
    ApfType.DISCONNECT: _decode_disconnect,
    ApfType.SERVICE_REQUEST: lambda r: ServiceRequest(r.string()),
    ApfType.SERVICE_ACCEPT: lambda r: ServiceAccept(r.string()),
    ApfType.USERAUTH_REQUEST: _decode_userauth,
    ApfType.USERAUTH_FAILURE: _decode_failure,
    ApfType.USERAUTH_SUCCESS: lambda r: UserAuthSuccess(),
    ApfType.GLOBAL_REQUEST: _decode_global,
    ApfType.REQUEST_SUCCESS: _decode_success,
    ApfType.REQUEST_FAILURE: lambda r: RequestFailure(),
    ApfType.CHANNEL_OPEN: _decode_open,
    ApfType.CHANNEL_OPEN_CONFIRMATION: _decode_confirmation,
    ApfType.CHANNEL_OPEN_FAILURE: _decode_open_failure,
    ApfType.CHANNEL_WINDOW_ADJUST: lambda r: WindowAdjust(r.u32(), r.u32()),
    ApfType.CHANNEL_DATA: _decode_data,
    ApfType.CHANNEL_CLOSE: lambda r: ChannelClose(r.u32()),
    ApfType.PROTOCOLVERSION: _decode_version,
    ApfType.KEEPALIVE_REQUEST: lambda r: KeepaliveRequest(r.u32()),
    ApfType.KEEPALIVE_REPLY: lambda r: KeepaliveReply(r.u32()),
    ApfType.KEEPALIVE_OPTIONS_REQUEST: lambda r: KeepaliveOptions(r.u32(), r.u32()),
    ApfType.KEEPALIVE_OPTIONS_REPLY: lambda r: KeepaliveOptions(r.u32(), r.u32(), reply=True),
}


def decode(data: bytes) -> ApfMessage:
    """One APF message; trailing bytes a layout does not allow are an error."""
    if not data:
        raise HostDataError("APF message is empty")
    try:
        kind = ApfType(data[0])
    except ValueError:
        raise HostDataError(f"APF message type {data[0]} is unknown") from None
    reader = _Reader(bytes(data), kind.name)
    message: ApfMessage = _DECODERS[kind](reader)
    if reader.pos != len(data):
        raise HostDataError(f"APF {kind.name} has {len(data) - reader.pos} trailing bytes")
    return message


def _t(kind: ApfType) -> bytes:
    return bytes([kind])


def _encode_version(m: ProtocolVersion) -> bytes:
    body = _u32(m.major, m.minor, m.trigger) + m.uuid.ljust(16, b"\0")[:16] + bytes(64)
    return _t(ApfType.PROTOCOLVERSION) + body


def _encode_options(m: KeepaliveOptions) -> bytes:
    kind = ApfType.KEEPALIVE_OPTIONS_REPLY if m.reply else ApfType.KEEPALIVE_OPTIONS_REQUEST
    return _t(kind) + _u32(m.interval, m.timeout)


def _encode_userauth(m: UserAuthRequest) -> bytes:
    body = _string(m.username) + _string(m.service) + _string(m.method)
    return _t(ApfType.USERAUTH_REQUEST) + body


def _encode_global(message: GlobalRequest) -> bytes:
    body = _string(message.name) + bytes([int(message.want_reply)])
    if message.name in ("tcpip-forward", "cancel-tcpip-forward"):
        body += _string(message.address) + _u32(message.port)
    else:
        body += message.rest
    return bytes([ApfType.GLOBAL_REQUEST]) + body


def _encode_open(message: ChannelOpen) -> bytes:
    body = (
        _string(message.channel_type)
        + _u32(message.sender, message.window, WINDOW_RESERVED)
        + _string(message.connected_address)
        + _u32(message.connected_port)
        + _string(message.originator_address)
        + _u32(message.originator_port)
    )
    return bytes([ApfType.CHANNEL_OPEN]) + body


_ENCODERS: dict[type[Any], Callable[[Any], bytes]] = {
    Disconnect: lambda m: _t(ApfType.DISCONNECT) + _u32(m.reason) + b"\0\0",
    ServiceRequest: lambda m: _t(ApfType.SERVICE_REQUEST) + _string(m.service),
    ServiceAccept: lambda m: _t(ApfType.SERVICE_ACCEPT) + _string(m.service),
    UserAuthRequest: _encode_userauth,
    UserAuthSuccess: lambda m: _t(ApfType.USERAUTH_SUCCESS),
    UserAuthFailure: lambda m: _t(ApfType.USERAUTH_FAILURE) + _string(m.methods) + b"\0",
    GlobalRequest: _encode_global,
    RequestSuccess: lambda m: (
        _t(ApfType.REQUEST_SUCCESS) + (b"" if m.port is None else _u32(m.port))
    ),
    RequestFailure: lambda m: _t(ApfType.REQUEST_FAILURE),
    ChannelOpen: _encode_open,
    ChannelOpenConfirmation: lambda m: (
        _t(ApfType.CHANNEL_OPEN_CONFIRMATION)
        + _u32(m.recipient, m.sender, m.window, WINDOW_RESERVED)
    ),
    ChannelOpenFailure: lambda m: (
        _t(ApfType.CHANNEL_OPEN_FAILURE) + _u32(m.recipient, m.reason, 0, 0)
    ),
    WindowAdjust: lambda m: _t(ApfType.CHANNEL_WINDOW_ADJUST) + _u32(m.recipient, m.amount),
    ChannelData: lambda m: _t(ApfType.CHANNEL_DATA) + _u32(m.recipient, len(m.data)) + m.data,
    ChannelClose: lambda m: _t(ApfType.CHANNEL_CLOSE) + _u32(m.recipient),
    ProtocolVersion: _encode_version,
    KeepaliveRequest: lambda m: _t(ApfType.KEEPALIVE_REQUEST) + _u32(m.cookie),
    KeepaliveReply: lambda m: _t(ApfType.KEEPALIVE_REPLY) + _u32(m.cookie),
    KeepaliveOptions: _encode_options,
}


def encode(message: ApfMessage) -> bytes:
    """The bytes of ``message``."""
    return _ENCODERS[type(message)](message)
