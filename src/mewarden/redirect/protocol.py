"""Sans-IO client core of AMT's redirection protocol (reference amt.md §3.2): bytes in, events out.

One :class:`RedirectionClient` drives one connection to 16994 (plain) or 16995 (TLS):

1. StartRedirectionSession with the session type's tag; the reply names protocol and firmware;
2. the auth query; then digest type 4 (RFC 2617, qop ``auth``), else type 3 (RFC 2069), else
   plain type 1 (user and password in the clear: only when the device offers nothing better,
   and with an :class:`InsecureAuth` event for the caller to show); Kerberos is not spoken;
3. the session type's own part, a :class:`Channel`: SOL (:mod:`mewarden.redirect.sol`), the KVM
   relay (:mod:`mewarden.redirect.kvm`), IDE-R (its own channel in its own module). After
   authentication the core sends the channel's start request and hands every further message,
   or every raw byte once the channel says so (KVM: RFB follows), to the channel.

Nothing here reads a clock or a socket: the shell (:mod:`mewarden.redirect.session`) feeds bytes
with :meth:`RedirectionClient.receive`, writes what :meth:`RedirectionClient.outgoing` returns,
and calls the channel's keep-alive on its own timer. Malformed bytes raise
:class:`~mewarden.errors.RedirectionProtocolError`; refusals raise the AMT error that fits.
"""

from __future__ import annotations

import abc
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from mewarden.errors import (
    AmtAuthError,
    AmtBusyError,
    AmtUnsupportedError,
    RedirectionProtocolError,
)
from mewarden.redirect.wire import (
    REDIRECTION_URI,
    AuthStatus,
    AuthType,
    MessageType,
    SessionReply,
    SessionType,
    auth_length,
    authenticate,
    decode_session_reply,
    header,
    length_prefixed,
    session_reply_length,
    split_length_prefixed,
    start_session,
)
from mewarden.secret import Secret

DIGEST_NC = "00000002"
"""Both published clients send this nonce count with the one digest response."""
AUTH_PREFERENCE = (AuthType.DIGEST_RFC2617, AuthType.DIGEST_RFC2069, AuthType.USERNAME_PASSWORD)


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """Something the connection reports to its shell."""


@dataclass(frozen=True, slots=True)
class StreamEvent(Event):
    """What the open session carries (console bytes, line status, RFB): the caller's to
    consume, as opposed to the handshake's events."""


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    reply: SessionReply


@dataclass(frozen=True, slots=True)
class InsecureAuth(Event):
    """Plain authentication was the only method offered: the password crossed in the clear
    (unless the connection is TLS)."""

    offered: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Authenticated(Event):
    method: AuthType


@dataclass(frozen=True, slots=True)
class ChannelOpened(Event):
    """The session type's start request was accepted (``details``: what the channel decoded)."""

    session: SessionType
    details: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelRefused(Event):
    """The device refused the session type's start request (the core raises for it)."""

    status: int


@dataclass(frozen=True, slots=True)
class SessionEnded(Event):
    """The device confirmed the end of the session."""


# --- channels -------------------------------------------------------------------------------


class Sequence32:
    """A per-direction u32 sequence number (wraps)."""

    __slots__ = ("value",)

    def __init__(self, start: int = 0) -> None:
        self.value = start

    def next(self) -> int:
        self.value = (self.value + 1) & 0xFFFFFFFF
        return self.value


class InboundSequence:
    """The device's sequence numbers: strict channels (IDE-R) refuse a gap; lenient ones count
    them (SOL)."""

    __slots__ = ("gaps", "last", "strict")

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.last: int | None = None
        self.gaps = 0

    def check(self, value: int, label: str) -> None:
        last = self.last
        self.last = value
        if last is None or value == (last + 1) & 0xFFFFFFFF:
            return
        if self.strict:
            raise RedirectionProtocolError(
                f"{label} sent sequence number {value} after {last} (they must go up by one)"
            )
        self.gaps += 1


class Channel(abc.ABC):
    """The part of a session its type defines; the core calls it after authentication.

    A channel writes to the device by appending to ``self.out`` (the core drains it) and keeps
    its own outbound sequence in ``self.sent``.
    """

    session_type: SessionType

    def __init__(self) -> None:
        self.out = bytearray()
        self.sent = Sequence32()
        self.label = "the device"
        """Names the device in errors (the core sets it)."""
        self.raw = False
        """True once the channel takes raw bytes (KVM: RFB after the start reply)."""

    @abc.abstractmethod
    def start_request(self) -> bytes:
        """The message that starts the session type (after authentication)."""

    @abc.abstractmethod
    def message_length(self, buffer: bytearray) -> int | None:
        """Length of the message at the start of ``buffer``; None: more bytes needed.

        Raises RedirectionProtocolError on a type the channel does not know.
        """

    @abc.abstractmethod
    def handle(self, raw: bytes) -> list[Event]:
        """One whole message from the device."""

    def handle_raw(self, data: bytes) -> list[Event]:
        """Raw bytes once :attr:`raw` is set (only channels that set it override this)."""
        raise RedirectionProtocolError("this session type has no raw stream")

    def end_request(self) -> bytes:
        """What ends the session type (default: nothing of its own)."""
        return b""

    def keep_alive(self) -> bytes:
        """A keep-alive message for the shell's timer (default: none)."""
        return b""


# --- the client core ------------------------------------------------------------------------


class Phase(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    QUERYING = "querying"
    DIGEST_CHALLENGE = "digest-challenge"
    DIGEST_RESPONSE = "digest-response"
    PLAIN = "plain"
    OPEN = "open"
    ENDING = "ending"
    CLOSED = "closed"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def digest_response(
    *,
    method: AuthType,
    user: str,
    realm: str,
    password: Secret,
    nonce: str,
    cnonce: str,
    nc: str = DIGEST_NC,
    qop: str = "auth",
) -> str:
    """The digest ``response`` for ``/RedirectionService`` (type 3 leaves out nc/cnonce/qop)."""
    ha1 = _md5(f"{user}:{realm}:{password.reveal()}")
    ha2 = _md5(f"POST:{REDIRECTION_URI}")
    if method is AuthType.DIGEST_RFC2069:
        return _md5(f"{ha1}:{nonce}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


class RedirectionClient:
    """One redirection connection, client side (sans-IO).

    ``cnonce`` is the client nonce for digest (the shell draws it; the core stays pure);
    ``label`` names the device in errors; ``enable_hint`` is the command that enables the
    session type, named in the error when the device refuses to start it.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        user: str,
        password: Secret,
        cnonce: str,
        label: str,
        enable_hint: str = "",
    ) -> None:
        self.channel = channel
        channel.label = label
        self.phase = Phase.IDLE
        self.method: AuthType | None = None
        self._user = user
        self._password = password
        self._cnonce = cnonce
        self._label = label
        self._enable_hint = enable_hint
        self._buffer = bytearray()
        self._out = bytearray()

    # --- what the shell calls ---------------------------------------------------------------

    def start(self) -> None:
        """Queue StartRedirectionSession."""
        if self.phase is not Phase.IDLE:
            raise RedirectionProtocolError("the redirection session was already started")
        self._out += start_session(self.channel.session_type)
        self.phase = Phase.STARTING

    def outgoing(self) -> bytes:
        """Everything queued for the device (the core's and the channel's), in order."""
        self._out += self.channel.out
        self.channel.out.clear()
        data = bytes(self._out)
        self._out.clear()
        return data

    def receive(self, data: bytes) -> list[Event]:
        """Bytes read from the device; the events they complete."""
        if self.closed:
            return []
        if self.phase is Phase.OPEN and self.channel.raw:
            return self.channel.handle_raw(data) if data else []
        self._buffer += data
        events: list[Event] = []
        while self._buffer and not self.closed:
            if self.open and self.channel.raw:
                rest = bytes(self._buffer)
                self._buffer.clear()
                events += self.channel.handle_raw(rest)
                break
            length = self._length()
            if length is None or len(self._buffer) < length:
                break
            raw = bytes(self._buffer[:length])
            del self._buffer[:length]
            events += self._dispatch(raw)
        return events

    def end(self) -> None:
        """Queue a clean end: the channel's end request, and EndRedirectionSession once the
        device confirmed it (at once when the channel has none, or is not open yet)."""
        if self.phase in (Phase.CLOSED, Phase.ENDING):
            return
        request = self.channel.end_request() if self.phase is Phase.OPEN else b""
        if request and not self.channel.raw:
            self.channel.out += request
            self.phase = Phase.ENDING
            return
        self._close()

    def _close(self) -> None:
        self._out += self.channel.out
        self.channel.out.clear()
        self._out += header(MessageType.END_REDIRECTION_SESSION)
        self.phase = Phase.CLOSED

    @property
    def open(self) -> bool:
        """Authenticated and the session type started (or starting)."""
        return self.phase is Phase.OPEN

    @property
    def closed(self) -> bool:
        """Ended: nothing more is read."""
        return self.phase is Phase.CLOSED

    # --- framing ----------------------------------------------------------------------------

    def _length(self) -> int | None:
        buffer = self._buffer
        kind = buffer[0]
        if self.phase is Phase.STARTING:
            self._expect(kind, MessageType.START_REDIRECTION_SESSION_REPLY)
            return session_reply_length(buffer)
        if self.phase in (
            Phase.QUERYING,
            Phase.DIGEST_CHALLENGE,
            Phase.DIGEST_RESPONSE,
            Phase.PLAIN,
        ):
            self._expect(kind, MessageType.AUTHENTICATE_SESSION_REPLY)
            return auth_length(buffer)
        if self.phase in (Phase.OPEN, Phase.ENDING):
            return self.channel.message_length(buffer)
        raise RedirectionProtocolError(f"{self._label} sent bytes before a session started")

    def _expect(self, kind: int, wanted: MessageType) -> None:
        if kind != wanted:
            raise RedirectionProtocolError(
                f"{self._label} sent message type {kind:#04x} where {wanted.name} was due"
            )

    def _dispatch(self, raw: bytes) -> list[Event]:
        phase = self.phase
        if phase is Phase.STARTING:
            return self._on_session_reply(raw)
        if phase is Phase.QUERYING:
            return self._on_methods(raw)
        if phase in (Phase.DIGEST_CHALLENGE, Phase.DIGEST_RESPONSE, Phase.PLAIN):
            return self._on_auth_result(raw)
        events = self.channel.handle(raw)
        for event in events:
            if isinstance(event, ChannelRefused):
                self._refused(event.status)
        if phase is Phase.ENDING and any(isinstance(e, SessionEnded) for e in events):
            self._close()
        return events

    # --- session start and authentication ---------------------------------------------------

    def _on_session_reply(self, raw: bytes) -> list[Event]:
        reply = decode_session_reply(raw)
        if reply.status != 0:
            self._refused(reply.status)
        self._out += authenticate(AuthType.QUERY)
        self.phase = Phase.QUERYING
        return [SessionStarted(reply)]

    def _refused(self, status: int) -> None:
        hint = f"; enable it with: {self._enable_hint}" if self._enable_hint else ""
        raise AmtUnsupportedError(
            f"{self._label} refused to start {self.channel.session_type.name} redirection "
            f"(status {status}): it is disabled or user consent is missing{hint}"
        )

    def _on_methods(self, raw: bytes) -> list[Event]:
        status = raw[1]
        if status == AuthStatus.BUSY:
            raise AmtBusyError(f"{self._label} reports its redirection session busy")
        offered = tuple(raw[9:])
        chosen = next((m for m in AUTH_PREFERENCE if m in offered), None)
        if chosen is None:
            raise AmtUnsupportedError(
                f"{self._label} offers no redirection authentication mewarden speaks "
                f"(offered types {list(offered)}; digest 3/4 or plain 1 are spoken)"
            )
        self.method = chosen
        events: list[Event] = []
        if chosen is AuthType.USERNAME_PASSWORD:
            fields = [self._user.encode(), self._password.reveal().encode()]
            self._out += authenticate(chosen, length_prefixed(fields))
            self.phase = Phase.PLAIN
            events.append(InsecureAuth(offered))
        else:
            first = [self._user.encode(), b"", b"", REDIRECTION_URI.encode(), b"", b"", b"", b""]
            self._out += authenticate(chosen, length_prefixed(first))
            self.phase = Phase.DIGEST_CHALLENGE
        return events

    def _on_auth_result(self, raw: bytes) -> list[Event]:
        status, data = raw[1], raw[9:]
        if status == AuthStatus.BUSY:
            raise AmtBusyError(f"{self._label} reports its redirection session busy")
        if self.phase is Phase.DIGEST_CHALLENGE and status == AuthStatus.FAILURE and data:
            self._answer_challenge(split_length_prefixed(data))
            return []
        if status != AuthStatus.SUCCESS:
            raise AmtAuthError(
                f"{self._label} rejected user {self._user!r} for redirection: wrong user "
                "name or password, or the account is temporarily locked"
            )
        assert self.method is not None  # set when the method was chosen
        self.phase = Phase.OPEN
        self._out += self.channel.start_request()
        return [Authenticated(self.method)]

    def _answer_challenge(self, fields: Sequence[bytes]) -> None:
        if len(fields) < 2:
            raise RedirectionProtocolError(f"{self._label} sent a digest challenge without nonce")
        method = self.method
        assert method is not None
        realm, nonce = fields[0].decode("latin-1"), fields[1].decode("latin-1")
        qop = fields[2].decode("latin-1") if len(fields) > 2 else "auth"
        rfc2617 = method is AuthType.DIGEST_RFC2617
        response = digest_response(
            method=method,
            user=self._user,
            realm=realm,
            password=self._password,
            nonce=nonce,
            cnonce=self._cnonce,
            qop=qop or "auth",
        )
        answer = [
            self._user.encode(),
            realm.encode("latin-1"),
            nonce.encode("latin-1"),
            REDIRECTION_URI.encode(),
            self._cnonce.encode() if rfc2617 else b"",
            DIGEST_NC.encode() if rfc2617 else b"",
            response.encode(),
            (qop or "auth").encode("latin-1") if rfc2617 else b"",
        ]
        self._out += authenticate(method, length_prefixed(answer))
        self.phase = Phase.DIGEST_RESPONSE
