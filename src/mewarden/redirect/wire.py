"""AMT redirection wire values and the messages both sides share (pure; reference amt.md §3.2).

Every integer is little-endian. A message starts with a 1-byte type and 3 bytes of status or
reserved; most SOL and IDE-R messages then carry a u32 sequence number. Used by the client core
(:mod:`mewarden.redirect.protocol`) and by the emulator's server side, so both read the layout
from one place; the independent clients (amtterm, the hand-written byte tests) check it.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from mewarden.errors import RedirectionProtocolError

PORT_PLAIN = 16994
PORT_TLS = 16995
REDIRECTION_URI = "/RedirectionService"
INTEL_IANA = 343
MAX_AUTH_DATA = 4096
"""The largest AuthenticateSessionReply body accepted (AMT sends realm, nonce, qop: < 200 B)."""
SESSION_REPLY_SIZE = 13
"""StartRedirectionSessionReply before its OEM data (byte 12 is the OEM data's length)."""


class SessionType(bytes, enum.Enum):
    """The 4-byte tag of StartRedirectionSession."""

    SOL = b"SOL "
    IDER = b"IDER"
    KVM = b"KVMR"


class MessageType(enum.IntEnum):
    """Message type bytes (names after Intel's ``RedirectionConstants``)."""

    START_REDIRECTION_SESSION = 0x10
    START_REDIRECTION_SESSION_REPLY = 0x11
    END_REDIRECTION_SESSION = 0x12
    AUTHENTICATE_SESSION = 0x13
    AUTHENTICATE_SESSION_REPLY = 0x14
    START_SOL_REDIRECTION = 0x20
    START_SOL_REDIRECTION_REPLY = 0x21
    END_SOL_REDIRECTION = 0x22
    END_SOL_REDIRECTION_REPLY = 0x23
    SOL_KEEP_ALIVE_PING = 0x24
    SOL_KEEP_ALIVE_PONG = 0x25
    SOL_SETTINGS = 0x27
    SOL_DATA_TO_HOST = 0x28
    SOL_CONTROLS_FROM_HOST = 0x29
    SOL_DATA_FROM_HOST = 0x2A
    SOL_HEARTBEAT = 0x2B
    START_IDER_OR_KVM = 0x40
    """StartIDERRedirection, or the KVM start after authentication (same byte)."""
    START_IDER_OR_KVM_REPLY = 0x41
    END_IDER_REDIRECTION = 0x42
    END_IDER_REDIRECTION_REPLY = 0x43
    IDER_KEEP_ALIVE_PING = 0x44
    IDER_KEEP_ALIVE_PONG = 0x45
    IDER_HEARTBEAT = 0x4B


class AuthType(enum.IntEnum):
    """AuthenticateSession types (reference §3.2)."""

    QUERY = 0
    USERNAME_PASSWORD = 1
    KERBEROS = 2
    DIGEST_RFC2069 = 3
    """Digest without cnonce, nc and qop in the hash."""
    DIGEST_RFC2617 = 4
    """Digest with qop ``auth``: what current firmware offers, alone."""


class AuthStatus(enum.IntEnum):
    """Status byte of AuthenticateSessionReply."""

    SUCCESS = 0
    FAILURE = 1
    """A failure, or (digest step 1) "continue": the challenge follows."""
    BUSY = 2


class SolControl(enum.IntFlag):
    """Control byte of SOL controls from the host (serial lines)."""

    RTS = 1
    DTR = 2
    BREAK = 4


class SolStatus(enum.IntFlag):
    """Status byte of SOL controls from the host."""

    TX_OVERFLOW = 1
    LOOPBACK = 2
    SYSTEM_POWER = 4
    """Set while the host is powered; clear means it is off."""
    RX_FLUSH_TIMEOUT = 8
    TEST_MODE = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionReply:
    """StartRedirectionSessionReply."""

    status: int
    protocol: tuple[int, int]
    firmware: tuple[int, int]
    iana: int
    oem: bytes


def header(kind: MessageType, status: int = 0) -> bytes:
    """Type byte, status byte and two reserved zeros."""
    return bytes((kind, status, 0, 0))


def length_prefixed(fields: list[bytes]) -> bytes:
    """Each field as a length byte and the bytes (fields over 255 bytes are refused)."""
    for value in fields:
        if len(value) > 255:
            raise RedirectionProtocolError("an authentication field is over 255 bytes")
    return b"".join(bytes([len(f)]) + f for f in fields)


def split_length_prefixed(data: bytes) -> list[bytes]:
    """The fields of :func:`length_prefixed`; a field running past the end is malformed."""
    fields: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        if pos + 1 + size > len(data):
            raise RedirectionProtocolError("an authentication field runs past its message")
        fields.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return fields


def start_session(session: SessionType) -> bytes:
    """StartRedirectionSession (8 bytes)."""
    return header(MessageType.START_REDIRECTION_SESSION) + session.value


def session_reply(*, status: int, firmware: tuple[int, int], oem: bytes = b"") -> bytes:
    """StartRedirectionSessionReply: protocol 1.0, firmware major.minor, Intel's IANA number."""
    return (
        header(MessageType.START_REDIRECTION_SESSION_REPLY, status)
        + bytes((1, 0, firmware[0] & 0xFF, firmware[1] & 0xFF))
        + struct.pack("<IB", INTEL_IANA, len(oem))
        + oem
    )


def session_reply_length(buffer: bytes | bytearray) -> int | None:
    """Length of the StartRedirectionSessionReply at the start of ``buffer`` (None: need more)."""
    if len(buffer) < SESSION_REPLY_SIZE:
        return None
    return SESSION_REPLY_SIZE + buffer[12]


def decode_session_reply(raw: bytes) -> SessionReply:
    return SessionReply(
        status=raw[1],
        protocol=(raw[4], raw[5]),
        firmware=(raw[6], raw[7]),
        iana=struct.unpack_from("<I", raw, 8)[0],
        oem=raw[SESSION_REPLY_SIZE:],
    )


def authenticate(auth_type: AuthType | int, data: bytes = b"") -> bytes:
    """AuthenticateSession: type, u32 length, data."""
    return (
        header(MessageType.AUTHENTICATE_SESSION)
        + bytes((auth_type,))
        + struct.pack("<I", len(data))
        + data
    )


def auth_reply(*, status: int, auth_type: int, data: bytes = b"") -> bytes:
    """AuthenticateSessionReply: status, type, u32 length, data."""
    return (
        header(MessageType.AUTHENTICATE_SESSION_REPLY, status)
        + bytes((auth_type,))
        + struct.pack("<I", len(data))
        + data
    )


def auth_length(buffer: bytes | bytearray) -> int | None:
    """Length of the AuthenticateSession(Reply) at the start of ``buffer`` (None: need more)."""
    if len(buffer) < 9:
        return None
    size = int(struct.unpack_from("<I", buffer, 5)[0])
    if size > MAX_AUTH_DATA:
        raise RedirectionProtocolError(f"an authentication message announces {size} bytes")
    return 9 + size


def sequenced(kind: MessageType, sequence: int, body: bytes = b"") -> bytes:
    """Header, u32 sequence number, body."""
    return header(kind) + struct.pack("<I", sequence & 0xFFFFFFFF) + body


def sequence_of(raw: bytes) -> int:
    return int(struct.unpack_from("<I", raw, 4)[0])
