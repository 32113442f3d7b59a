"""Serial-over-LAN on port 16994: AMT's redirection protocol, server side.

Byte layout from reference amt.md §3.2 (all integers little-endian): StartRedirectionSession
(0x10) → reply 0x11 with protocol 1.0, firmware version and IANA 343; AuthenticateSession
(0x13) with type 0 (query), 1 (plain user/password) or 4 (RFC 2617 digest over
``/RedirectionService``); StartSOLRedirection (0x20) → 0x21; console bytes flow as 0x2A (from
the host) and 0x28 (to the host); 0x24 pings get 0x25 pongs; 0x22 → 0x23 ends SOL.

:class:`SolParser` is pure (bytes in, messages out); :func:`serve_redirection` is the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import struct
import time
from dataclasses import dataclass

from mewarden.emulate.device import EmulatedDevice, FaultKind
from mewarden.emulate.digest import md5_hex

START_SESSION = 0x10
START_SESSION_REPLY = 0x11
END_SESSION = 0x12
AUTHENTICATE = 0x13
AUTHENTICATE_REPLY = 0x14
START_SOL = 0x20
START_SOL_REPLY = 0x21
END_SOL = 0x22
END_SOL_REPLY = 0x23
PING = 0x24
PONG = 0x25
SOL_SETTINGS = 0x27
DATA_TO_HOST = 0x28
DATA_FROM_HOST = 0x2A
HEARTBEAT = 0x2B

AUTH_QUERY = 0
AUTH_PLAIN = 1
AUTH_DIGEST = 4
INTEL_IANA = 343
SOL_URI = "/RedirectionService"
POLL_S = 0.05
#: Console bytes per 0x2A message. amtterm 1.4 reassembles messages in a 64-byte buffer, and
#: real AMT forwards serial data in small pieces, so one message never exceeds 64 bytes.
MAX_SOL_PAYLOAD = 54
#: amtterm 1.4 discards whatever follows the 0x21 reply in the same read, so console data
#: starts a moment after it.
SOL_SETTLE_S = 0.15


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One client message: its type and its whole bytes."""

    kind: int
    raw: bytes


def _fixed_length(kind: int) -> int | None:
    return {
        START_SESSION: 8,
        END_SESSION: 4,
        START_SOL: 24,
        END_SOL: 8,
        PING: 8,
        HEARTBEAT: 8,
        SOL_SETTINGS: 14,
    }.get(kind)


def take_message(buffer: bytearray) -> Message | None:
    """Remove and return the first complete message of ``buffer`` (None: need more bytes).

    Raises ValueError on a message type the server does not know.
    """
    if not buffer:
        return None
    kind = buffer[0]
    length = _fixed_length(kind)
    if length is None:
        if kind == AUTHENTICATE:
            if len(buffer) < 9:
                return None
            length = 9 + struct.unpack_from("<I", buffer, 5)[0]
        elif kind == DATA_TO_HOST:
            if len(buffer) < 10:
                return None
            length = 10 + struct.unpack_from("<H", buffer, 8)[0]
        else:
            raise ValueError(f"unknown redirection message type {kind:#04x}")
    if len(buffer) < length:
        return None
    raw = bytes(buffer[:length])
    del buffer[:length]
    return Message(kind=kind, raw=raw)


def session_reply(*, major: int, minor: int, ok: bool) -> bytes:
    return bytes([START_SESSION_REPLY, 0 if ok else 1, 0, 0, 1, 0, major, minor]) + struct.pack(
        "<IB", INTEL_IANA, 0
    )


def auth_reply(*, status: int, auth_type: int, data: bytes = b"") -> bytes:
    return (
        bytes([AUTHENTICATE_REPLY, status, 0, 0, auth_type]) + struct.pack("<I", len(data)) + data
    )


def sol_start_reply(ok: bool) -> bytes:
    # 23 bytes: type, status, 2 reserved, u32 sequence, then the buffer settings AMT grants.
    return bytes([START_SOL_REPLY, 0 if ok else 1, 0, 0]) + struct.pack(
        "<IHHHHHHHB", 0, 1000, 100, 0, 10000, 0, 5000, 0, 0
    )


def data_from_host(sequence: int, data: bytes) -> bytes:
    return bytes([DATA_FROM_HOST, 0, 0, 0]) + struct.pack("<IH", sequence, len(data)) + data


def length_prefixed(fields: list[bytes]) -> bytes:
    return b"".join(bytes([len(f)]) + f for f in fields)


def split_length_prefixed(data: bytes) -> list[bytes]:
    fields: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        fields.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return fields


@dataclass(slots=True, kw_only=True)
class SolAuth:
    """Redirection authentication for one connection (pure)."""

    realm: str
    ha1: str  # MD5(admin:realm:password)
    nonce: str
    allow_plain: bool = True
    authenticated: bool = False

    def answer(self, message: Message) -> bytes:
        auth_type = message.raw[4]
        data = message.raw[9:]
        if auth_type == AUTH_QUERY:
            offered = bytes([AUTH_PLAIN, AUTH_DIGEST] if self.allow_plain else [AUTH_DIGEST])
            return auth_reply(status=0, auth_type=AUTH_QUERY, data=offered)
        if auth_type == AUTH_PLAIN and self.allow_plain:
            fields = split_length_prefixed(data)
            ok = len(fields) == 2 and fields[0] == b"admin" and self._same(fields[1].decode())
            self.authenticated = ok
            return auth_reply(status=0 if ok else 1, auth_type=AUTH_PLAIN)
        if auth_type == AUTH_DIGEST:
            return self._digest(split_length_prefixed(data))
        return auth_reply(status=1, auth_type=auth_type)

    def _same(self, given: str) -> bool:
        return hmac.compare_digest(md5_hex(f"admin:{self.realm}:{given}"), self.ha1)

    def _digest(self, fields: list[bytes]) -> bytes:
        if len(fields) < 8 or not fields[2]:
            challenge = length_prefixed([self.realm.encode(), self.nonce.encode(), b"auth"])
            return auth_reply(status=1, auth_type=AUTH_DIGEST, data=challenge)
        user, realm, nonce, uri, cnonce, nc, response, qop = (f.decode() for f in fields[:8])
        ha1 = self.ha1
        ha2 = md5_hex(f"POST:{uri}")
        want = md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        ok = (
            user == "admin"
            and realm == self.realm
            and nonce == self.nonce
            and uri == SOL_URI
            and hmac.compare_digest(want, response.lower())
        )
        self.authenticated = ok
        return auth_reply(status=0 if ok else 1, auth_type=AUTH_DIGEST)


class _Session:
    def __init__(self, device: EmulatedDevice, writer: asyncio.StreamWriter) -> None:
        self.device = device
        self.writer = writer
        state = device.state
        self.auth = SolAuth(
            realm=device.realm,
            ha1=device.admin_ha1(),
            nonce=device.new_nonce(),
        )
        self.started = False
        self.sol = False
        self.sequence = 0
        self.quiet_until = 0.0
        self.sent_lines = max(0, len(state.console) - 4)

    def handle(self, message: Message) -> bool:
        """React to one message; False ends the connection."""
        kind = message.kind
        if kind == START_SESSION:
            self.started = message.raw[4:8] == b"SOL "
            major, minor = (int(p) for p in self.device.identity.amt_version.split(".")[:2])
            self.writer.write(session_reply(major=major, minor=minor, ok=self.started))
            return self.started
        if not self.started or kind == END_SESSION:
            return False
        if kind == AUTHENTICATE:
            self.writer.write(self.auth.answer(message))
        elif kind == START_SOL:
            self.sol = self.auth.authenticated and self.device.state.sol_enabled
            self.writer.write(sol_start_reply(self.sol))
            self.quiet_until = time.monotonic() + SOL_SETTLE_S
            return self.sol
        elif kind == DATA_TO_HOST and self.sol:
            self.device.state.console_input(message.raw[10:].decode("utf-8", "replace"))
        elif kind == PING:
            self.writer.write(bytes([PONG]) + message.raw[1:])
        elif kind == END_SOL:
            self.writer.write(bytes([END_SOL_REPLY]) + message.raw[1:])
            self.sol = False
        return True

    def flush_console(self) -> None:
        if not self.sol or time.monotonic() < self.quiet_until:
            return
        console = self.device.state.console
        if self.sent_lines >= len(console):
            return
        text = "".join("\r\n" + line for line in console[self.sent_lines :])
        self.sent_lines = len(console)
        data = text.encode("utf-8")
        for pos in range(0, len(data), MAX_SOL_PAYLOAD):
            self.sequence += 1
            piece = data[pos : pos + MAX_SOL_PAYLOAD]
            self.writer.write(data_from_host(self.sequence, piece))


async def serve_redirection(
    device: EmulatedDevice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One redirection connection: SOL only (KVM and IDER sessions are refused)."""
    if device.drop_connection() or FaultKind.AMT_UNREACHABLE in device.faults:
        writer.transport.abort()
        return
    session = _Session(device, writer)
    buffer = bytearray()
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(4096), POLL_S)
            except TimeoutError:
                data = None
            if data == b"":
                break
            if data:
                buffer += data
                if not _drain_messages(session, buffer):
                    break
            session.flush_console()
            await writer.drain()
    except (ConnectionError, ValueError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()


def _drain_messages(session: _Session, buffer: bytearray) -> bool:
    while (message := take_message(buffer)) is not None:
        if not session.handle(message):
            return False
    return True
