"""Talking to ME firmware clients over ``/dev/meiN``, behind a small transport interface.

The kernel interface (reference ``live-me-and-network.md`` A3): open the device, connect to a
firmware client with ``IOCTL_MEI_CONNECT_CLIENT`` (0xC0104801) passing the client's UUID in
``uuid.bytes_le`` order; the same 16-byte buffer comes back as {u32 max_msg_length,
u8 protocol_version, 3 reserved}. Then each ``write()`` is one message and each ``read()``
returns one reply. ENOTTY means "no such client", ENODEV "device not enabled", EBUSY "busy".

:class:`IoctlTransport` does that with the standard library. :class:`ReplayTransport` answers
from a recording (request/response bytes captured by :class:`RecordingTransport`), so the probe
and the tests run the same code without hardware.
"""

from __future__ import annotations

import errno
import os
import select
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mewarden.errors import HostDataError, MeiError

IOCTL_MEI_CONNECT_CLIENT = 0xC0104801
_CONNECT_REPLY = struct.Struct("<IB")
_BUSY_RETRIES = 4
_DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientProperties:
    """What a connect returns: the client's maximum message length and protocol version."""

    max_message_length: int
    protocol_version: int


def parse_connect_reply(buffer: bytes) -> ClientProperties:
    """Decode the connect ioctl's output buffer."""
    if len(buffer) < _CONNECT_REPLY.size:
        raise HostDataError(f"MEI connect reply too short ({len(buffer)} bytes)")
    length, version = _CONNECT_REPLY.unpack_from(buffer)
    return ClientProperties(max_message_length=length, protocol_version=version)


class MeiTransport(Protocol):
    """One connection to one firmware client."""

    def connect(self, client: uuid.UUID) -> ClientProperties:
        """Connect to ``client``; raise :class:`MeiError` (``errno_name``) on failure."""
        ...

    def exchange(self, request: bytes) -> bytes:
        """Send one message and return the one reply."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


TransportFactory = Callable[[], MeiTransport]


def _mei_error(what: str, exc: OSError) -> MeiError:
    name = errno.errorcode.get(exc.errno or 0, "EIO")
    return MeiError(f"{what}: {exc.strerror or name} ({name})", errno_name=name)


class IoctlTransport:
    """The real thing: ``/dev/meiN`` with ``fcntl.ioctl``, ``write``, ``select`` and ``read``."""

    def __init__(
        self,
        device: str = "/dev/mei0",
        *,
        timeout: float = _DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._device = device
        self._timeout = timeout
        self._sleep = sleep
        self._fd: int | None = None
        self._max_length = 0

    @property
    def device(self) -> str:
        """The character device this transport opens."""
        return self._device

    def connect(self, client: uuid.UUID) -> ClientProperties:
        import fcntl

        try:
            self._fd = os.open(self._device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise _mei_error(f"cannot open {self._device}", exc) from None
        buffer = bytearray(client.bytes_le)
        for attempt in range(_BUSY_RETRIES):
            try:
                fcntl.ioctl(self._fd, IOCTL_MEI_CONNECT_CLIENT, buffer)
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or attempt == _BUSY_RETRIES - 1:
                    self.close()
                    raise _mei_error(f"cannot connect to MEI client {client}", exc) from None
                self._sleep(0.1 * (attempt + 1))
        properties = parse_connect_reply(bytes(buffer))
        self._max_length = max(properties.max_message_length, 4096)
        return properties

    def exchange(self, request: bytes) -> bytes:
        if self._fd is None:
            raise MeiError("MEI transport used before connect")
        try:
            os.write(self._fd, request)
            ready, _, _ = select.select([self._fd], [], [], self._timeout)
            if not ready:
                raise MeiError(f"MEI client did not answer within {self._timeout:g} s")
            return os.read(self._fd, self._max_length)
        except OSError as exc:
            raise _mei_error("MEI exchange failed", exc) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(slots=True, kw_only=True)
class RecordedSession:
    """One recorded connection: the client, the connect outcome, the exchanges in order."""

    client: str
    connect: dict[str, Any]  # {"max_message_length", "protocol_version"} or {"errno"}
    exchanges: list[dict[str, str]] = field(default_factory=list)  # {"request","response"} hex


class RecordingTransport:
    """Wraps a transport and appends what it sees to ``sessions``."""

    def __init__(self, inner: MeiTransport, sessions: list[RecordedSession]) -> None:
        self._inner = inner
        self._sessions = sessions
        self._current: RecordedSession | None = None

    def connect(self, client: uuid.UUID) -> ClientProperties:
        session = RecordedSession(client=str(client), connect={})
        self._sessions.append(session)
        try:
            properties = self._inner.connect(client)
        except MeiError as exc:
            session.connect = {"errno": exc.errno_name or "EIO"}
            raise
        session.connect = {
            "max_message_length": properties.max_message_length,
            "protocol_version": properties.protocol_version,
        }
        self._current = session
        return properties

    def exchange(self, request: bytes) -> bytes:
        if self._current is None:
            raise MeiError("MEI transport used before connect")
        response = self._inner.exchange(request)
        self._current.exchanges.append({"request": request.hex(), "response": response.hex()})
        return response

    def close(self) -> None:
        self._inner.close()


class ReplayTransport:
    """Answers from recorded sessions; a request that was not recorded is an error."""

    def __init__(self, sessions: list[RecordedSession]) -> None:
        self._pending = list(sessions)
        self._current: RecordedSession | None = None
        self._position = 0

    def connect(self, client: uuid.UUID) -> ClientProperties:
        for index, session in enumerate(self._pending):
            if uuid.UUID(session.client) == client:
                del self._pending[index]
                return self._open(session)
        raise MeiError(f"MEI client {client} not in the recording (ENOTTY)", errno_name="ENOTTY")

    def _open(self, session: RecordedSession) -> ClientProperties:
        if "errno" in session.connect:
            name = str(session.connect["errno"])
            raise MeiError(
                f"cannot connect to MEI client {session.client} ({name})", errno_name=name
            )
        self._current = session
        self._position = 0
        return ClientProperties(
            max_message_length=int(session.connect["max_message_length"]),
            protocol_version=int(session.connect["protocol_version"]),
        )

    def exchange(self, request: bytes) -> bytes:
        session = self._current
        if session is None or self._position >= len(session.exchanges):
            raise MeiError("MEI request not in the recording (ETIME)", errno_name="ETIME")
        recorded = session.exchanges[self._position]
        if bytes.fromhex(recorded["request"]) != request:
            raise MeiError("MEI request differs from the recording", errno_name="EPROTO")
        self._position += 1
        return bytes.fromhex(recorded["response"])

    def close(self) -> None:
        self._current = None


def sessions_from_json(data: object) -> list[RecordedSession]:
    """Validate and load the ``mei`` list of a recorded tree."""
    if not isinstance(data, list):
        raise HostDataError("recorded MEI sessions must be a list")
    sessions: list[RecordedSession] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("client"), str):
            raise HostDataError("recorded MEI session lacks a client UUID")
        try:
            uuid.UUID(item["client"])
        except ValueError:
            raise HostDataError("recorded MEI session has a malformed client UUID") from None
        connect = item.get("connect")
        exchanges = item.get("exchanges", [])
        if not isinstance(connect, dict) or not isinstance(exchanges, list):
            raise HostDataError("recorded MEI session is malformed")
        for exchange in exchanges:
            if not isinstance(exchange, dict) or not {"request", "response"} <= exchange.keys():
                raise HostDataError("recorded MEI exchange lacks request/response")
            try:
                bytes.fromhex(exchange["request"])
                bytes.fromhex(exchange["response"])
            except (TypeError, ValueError):
                raise HostDataError("recorded MEI exchange is not hex") from None
        sessions.append(
            RecordedSession(client=item["client"], connect=connect, exchanges=exchanges)
        )
    return sessions


def sessions_to_json(sessions: list[RecordedSession]) -> list[dict[str, Any]]:
    """The JSON form of recorded sessions (the inverse of :func:`sessions_from_json`)."""
    return [{"client": s.client, "connect": s.connect, "exchanges": s.exchanges} for s in sessions]
