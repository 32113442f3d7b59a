"""AMT's redirection port, server side: 16994 plain and 16995 TLS (reference amt.md §3.2).

StartRedirectionSession (0x10, tag ``SOL ``, ``KVMR`` or ``IDER``) → 0x11 with protocol 1.0,
firmware version and IANA 343 (status 1 while the listener is disabled); AuthenticateSession
(0x13): the query lists the device's types (:attr:`DeviceState.redirection_auth`; plain 1 by
default next to digest 4 so Debian's amtterm 1.4 connects), plain user/password, digest type 3
(RFC 2069) or 4 (RFC 2617, qop ``auth``) over ``/RedirectionService``.

* SOL: StartSOLRedirection (0x20) → 0x21, refused while SOL is disabled or user consent is
  missing; the host console (:class:`~mewarden.emulate.hostconsole.HostConsole`) streams as
  0x2A (at most 54 bytes each: amtterm 1.4 reassembles in a 64-byte buffer), typed keys arrive
  as 0x28; 0x29 reports the lines and whether the host is powered (status bit 4) on every change
  (at the start only when it is off); 0x24 pings get 0x25 pongs; 0x22 → 0x23 ends SOL.
* KVM: after authentication ``40 …`` → ``41 00 …`` (status 1 while KVM is disabled or consent is
  missing), then the stream is raw RFB, served by :mod:`mewarden.emulate.kvm`.
* IDE-R: right after a successful authentication the stream (with any bytes already read) goes
  to ``mewarden.emulate.ider.serve_ider`` when that module exists (:data:`HANDLERS`).

:func:`take_message` and :class:`RedirectionAuth` are pure; :func:`serve_redirection` is the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mewarden.emulate.device import EmulatedDevice, FaultKind
from mewarden.emulate.digest import md5_hex
from mewarden.emulate.values import OptInState
from mewarden.errors import RedirectionProtocolError
from mewarden.redirect.wire import (
    REDIRECTION_URI,
    AuthStatus,
    AuthType,
    MessageType,
    SessionType,
    SolStatus,
    auth_length,
    auth_reply,
    header,
    length_prefixed,
    sequenced,
    session_reply,
    split_length_prefixed,
)

POLL_S = 0.05
MAX_SOL_PAYLOAD = 54
#: amtterm 1.4 discards whatever follows the 0x21 reply in the same read, so console data
#: starts a moment after it.
SOL_SETTLE_S = 0.15
#: Lines of history a new SOL session is shown (the login prompt and what led to it).
SOL_TAIL_LINES = 4
MAX_DATA_TO_HOST = 4096

IDER_ENABLED_STATES = frozenset({32769, 32771})
"""``AMT_RedirectionService.EnabledState`` values with IDE-R on (reference §1.9)."""

StartTls = Callable[[EmulatedDevice, asyncio.StreamWriter], Awaitable[bool]]

_FIXED_LENGTHS = {
    MessageType.START_REDIRECTION_SESSION: 8,
    MessageType.END_REDIRECTION_SESSION: 4,
    MessageType.START_SOL_REDIRECTION: 24,
    MessageType.END_SOL_REDIRECTION: 8,
    MessageType.SOL_KEEP_ALIVE_PING: 8,
    MessageType.SOL_KEEP_ALIVE_PONG: 8,
    MessageType.SOL_HEARTBEAT: 8,
    MessageType.SOL_SETTINGS: 14,
    MessageType.START_IDER_OR_KVM: 8,  # the KVM start; IDE-R sessions are handed off before
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One client message: its type and its whole bytes."""

    kind: int
    raw: bytes


def take_message(buffer: bytearray) -> Message | None:
    """Remove and return the first complete message of ``buffer`` (None: need more bytes).

    RedirectionProtocolError on a type the server does not know or a length over the limits.
    """
    if not buffer:
        return None
    kind = buffer[0]
    length = _FIXED_LENGTHS.get(kind)  # type: ignore[call-overload]
    if length is None:
        if kind == MessageType.AUTHENTICATE_SESSION:
            length = auth_length(buffer)
        elif kind == MessageType.SOL_DATA_TO_HOST:
            length = None if len(buffer) < 10 else 10 + struct.unpack_from("<H", buffer, 8)[0]
            if length is not None and length > 10 + MAX_DATA_TO_HOST:
                raise RedirectionProtocolError(f"SOL data of {length - 10} bytes")
        else:
            raise RedirectionProtocolError(f"unknown redirection message type {kind:#04x}")
    if length is None or len(buffer) < length:
        return None
    raw = bytes(buffer[:length])
    del buffer[:length]
    return Message(kind=kind, raw=raw)


def sol_start_reply(ok: bool) -> bytes:
    # 23 bytes: type, status, 2 reserved, u32 sequence, then the buffer settings AMT grants.
    return header(MessageType.START_SOL_REDIRECTION_REPLY, 0 if ok else 1) + struct.pack(
        "<IHHHHHHHB", 0, 1000, 100, 0, 10000, 0, 5000, 0, 0
    )


def data_from_host(sequence: int, data: bytes) -> bytes:
    return sequenced(MessageType.SOL_DATA_FROM_HOST, sequence, struct.pack("<H", len(data)) + data)


def controls_from_host(sequence: int, *, powered: bool) -> bytes:
    status = SolStatus.SYSTEM_POWER if powered else SolStatus(0)
    return sequenced(MessageType.SOL_CONTROLS_FROM_HOST, sequence, bytes((0, int(status))))


@dataclass(slots=True, kw_only=True)
class RedirectionAuth:
    """Redirection authentication for one connection (pure)."""

    realm: str
    ha1: str  # MD5(admin:realm:password)
    nonce: str
    offered: tuple[int, ...] = (AuthType.USERNAME_PASSWORD, AuthType.DIGEST_RFC2617)
    authenticated: bool = False

    def answer(self, message: Message) -> bytes:
        auth_type = message.raw[4]
        data = message.raw[9:]
        if auth_type == AuthType.QUERY:
            return auth_reply(status=0, auth_type=AuthType.QUERY, data=bytes(self.offered))
        if auth_type not in self.offered:
            return auth_reply(status=AuthStatus.FAILURE, auth_type=auth_type)
        fields = split_length_prefixed(data)
        if auth_type == AuthType.USERNAME_PASSWORD:
            ok = len(fields) == 2 and fields[0] == b"admin" and self._same(fields[1])
            return self._result(ok, auth_type)
        if auth_type in (AuthType.DIGEST_RFC2069, AuthType.DIGEST_RFC2617):
            return self._digest(auth_type, fields)
        return auth_reply(status=AuthStatus.FAILURE, auth_type=auth_type)

    def _result(self, ok: bool, auth_type: int) -> bytes:
        self.authenticated = ok
        return auth_reply(
            status=AuthStatus.SUCCESS if ok else AuthStatus.FAILURE, auth_type=auth_type
        )

    def _same(self, given: bytes) -> bool:
        text = given.decode("utf-8", "replace")
        return hmac.compare_digest(md5_hex(f"admin:{self.realm}:{text}"), self.ha1)

    def _digest(self, auth_type: int, fields: list[bytes]) -> bytes:
        if len(fields) < 8 or not fields[2]:
            challenge = length_prefixed([self.realm.encode(), self.nonce.encode(), b"auth"])
            return auth_reply(status=AuthStatus.FAILURE, auth_type=auth_type, data=challenge)
        user, realm, nonce, uri, cnonce, nc, response, qop = (
            f.decode("utf-8", "replace") for f in fields[:8]
        )
        ha2 = md5_hex(f"POST:{uri}")
        if auth_type == AuthType.DIGEST_RFC2069:
            want = md5_hex(f"{self.ha1}:{nonce}:{ha2}")
        else:
            want = md5_hex(f"{self.ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        ok = (
            user == "admin"
            and realm == self.realm
            and nonce == self.nonce
            and uri == REDIRECTION_URI
            and len(response) == 32
            and hmac.compare_digest(want, response.lower())
        )
        return self._result(ok, auth_type)


class _Session:
    """One connection's state; :meth:`handle` answers one message."""

    def __init__(self, device: EmulatedDevice, writer: asyncio.StreamWriter) -> None:
        self.device = device
        self.writer = writer
        state = device.state
        self.auth = RedirectionAuth(
            realm=device.realm,
            ha1=device.admin_ha1(),
            nonce=device.new_nonce(),
            offered=tuple(state.redirection_auth),
        )
        self.kind: SessionType | None = None
        self.sol = False
        self.handoff = False
        self.consent_used = False
        self.sequence = 0
        self.quiet_until = 0.0
        self.offset = 0
        self.powered: bool | None = None

    def handle(self, message: Message) -> bool:
        """React to one message; False ends the connection."""
        kind = message.kind
        if kind == MessageType.START_REDIRECTION_SESSION:
            return self._start(message.raw[4:8])
        if self.kind is None or kind == MessageType.END_REDIRECTION_SESSION:
            return False
        if kind == MessageType.AUTHENTICATE_SESSION:
            self.writer.write(self.auth.answer(message))
            # IDE-R has its own message set from here on: its module takes the stream
            self.handoff = self.auth.authenticated and self.kind is SessionType.IDER
        elif kind == MessageType.START_SOL_REDIRECTION and self.kind is SessionType.SOL:
            return self._start_sol()
        elif kind == MessageType.START_IDER_OR_KVM and self.kind is SessionType.KVM:
            return self._start_kvm()
        elif kind == MessageType.SOL_DATA_TO_HOST and self.sol:
            self.device.state.console_input(message.raw[10:].decode("utf-8", "replace"))
        elif kind == MessageType.SOL_KEEP_ALIVE_PING:
            self.writer.write(bytes([MessageType.SOL_KEEP_ALIVE_PONG]) + message.raw[1:])
        elif kind == MessageType.END_SOL_REDIRECTION:
            self.writer.write(bytes([MessageType.END_SOL_REDIRECTION_REPLY]) + message.raw[1:])
            self.sol = False
        return True

    def _start(self, tag: bytes) -> bool:
        try:
            kind = SessionType(tag)
        except ValueError:
            kind = None
        state = self.device.state
        ok = kind is not None and state.listener_enabled
        if kind is SessionType.IDER:
            ok = ok and state.redirection_state in IDER_ENABLED_STATES
        major, minor = (int(p) for p in self.device.identity.amt_version.split(".")[:2])
        self.writer.write(session_reply(status=0 if ok else 1, firmware=(major, minor)))
        self.kind = kind if ok else None
        return ok

    def _consent(self) -> bool:
        state = self.device.state
        if not state.consent_satisfied():
            return False
        if state.opt_in_state is OptInState.RECEIVED:
            state.opt_in_state = OptInState.IN_SESSION
            self.consent_used = True
        return True

    def _start_sol(self) -> bool:
        state = self.device.state
        self.sol = self.auth.authenticated and state.sol_enabled and self._consent()
        self.writer.write(sol_start_reply(self.sol))
        self.quiet_until = time.monotonic() + SOL_SETTLE_S
        self.offset = state.console.tail_offset(SOL_TAIL_LINES)
        return self.sol

    def _start_kvm(self) -> bool:
        state = self.device.state
        ok = self.auth.authenticated and state.kvm_enabled and self._consent()
        self.writer.write(header(MessageType.START_IDER_OR_KVM_REPLY, 0 if ok else 1) + bytes(4))
        self.handoff = ok
        return ok

    def flush_console(self) -> None:
        if not self.sol or time.monotonic() < self.quiet_until:
            return
        state = self.device.state
        if state.powered != self.powered:
            # At the start only when the host is off: amtterm 1.4 reads 64-byte pieces and
            # loses its framing when a 10-byte message precedes the console data.
            if self.powered is not None or not state.powered:
                self.sequence += 1
                self.writer.write(controls_from_host(self.sequence, powered=state.powered))
            self.powered = state.powered
        data, self.offset = state.console.read_from(self.offset)
        if not data or self.writer.is_closing():
            return
        messages = []
        for pos in range(0, len(data), MAX_SOL_PAYLOAD):
            self.sequence += 1
            messages.append(data_from_host(self.sequence, data[pos : pos + MAX_SOL_PAYLOAD]))
        self.writer.write(b"".join(messages))  # one write: a dead socket is noticed once

    def finish(self) -> None:
        state = self.device.state
        if self.consent_used and state.opt_in_state is OptInState.IN_SESSION:
            state.opt_in_state = OptInState.NOT_STARTED
            state.opt_in_code = None


async def serve_redirection(
    device: EmulatedDevice,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    start_tls: StartTls | None = None,
) -> None:
    """One redirection connection (``start_tls``: the TLS port's handshake first)."""
    if device.drop_connection() or FaultKind.AMT_UNREACHABLE in device.faults:
        writer.transport.abort()
        return
    if start_tls is not None and not await start_tls(device, writer):
        return
    session = _Session(device, writer)
    buffer = bytearray()
    try:
        await _converse(session, reader, writer, buffer)
        if session.handoff and session.kind is not None:
            await _hand_off(session.kind, device, reader, writer, bytes(buffer))
    except (ConnectionError, RedirectionProtocolError):
        pass
    finally:
        session.finish()
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()


async def _converse(
    session: _Session,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    buffer: bytearray,
) -> None:
    device = session.device
    while not session.handoff:
        try:
            data = await asyncio.wait_for(reader.read(4096), POLL_S)
        except TimeoutError:
            data = None
        if data == b"" or FaultKind.AMT_UNREACHABLE in device.faults:
            if data != b"":
                writer.transport.abort()  # the link dies under an open session
            return
        if data:
            buffer += data
            if not _drain_messages(session, buffer):
                await writer.drain()
                return
        session.flush_console()
        await writer.drain()


def _drain_messages(session: _Session, buffer: bytearray) -> bool:
    while not session.handoff and (message := take_message(buffer)) is not None:
        if not session.handle(message):
            return False
    return True


#: Where the emulator's other session types live, imported when first used (module, function).
HANDLERS = {
    SessionType.KVM: ("mewarden.emulate.kvm", "serve_kvm_rfb"),
    SessionType.IDER: ("mewarden.emulate.ider", "serve_ider"),
}


async def _hand_off(
    kind: SessionType,
    device: EmulatedDevice,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    leftover: bytes,
) -> None:
    """KVM after its 0x41 (raw RFB), IDE-R right after authentication: the stream goes to
    ``HANDLERS[kind]``'s ``function(device, reader, writer, leftover=...)``; without that
    module the connection closes."""
    await writer.drain()
    module_name, function = HANDLERS.get(kind, ("", ""))
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    await getattr(module, function)(device, reader, writer, leftover=leftover)
