"""Opening a MEI connection: ``/dev/meiN`` or the emulator's simulated endpoint.

Two shapes of the same thing:

* :class:`SocketMeiTransport` is the synchronous :class:`~mewarden.host.mei.MeiTransport`
  (one request, one reply) over a simulated endpoint, so ``host probe``'s AMTHI queries run on
  it unchanged; :func:`transport_factory` picks it or :class:`~mewarden.host.mei.IoctlTransport`.
* :class:`MeiLink` is the asynchronous, full-duplex form the LME (APF) channel needs: firmware
  sends unsolicited messages. :func:`open_link` connects one to a client UUID.

``--mei PATH`` names either: a Unix socket is a simulated endpoint (``mei_sim``), anything else
a character device. Without it, the ``/dev/meiN`` bound to the HECI function (as ``host probe``
finds it) is used.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
import uuid
from pathlib import Path
from typing import Protocol

from mewarden.errors import MeiError, MeiUnavailableError
from mewarden.host import mei_sim
from mewarden.host.mei import (
    IOCTL_MEI_CONNECT_CLIENT,
    ClientProperties,
    IoctlTransport,
    MeiTransport,
    TransportFactory,
    parse_connect_reply,
)

DEFAULT_TIMEOUT_S = 3.0
"""A reply slower than this is a dead link (rpc-go's HECI read timeout)."""
_RECEIVE_SIZE = 64 * 1024


def is_simulated(path: str | Path) -> bool:
    """Whether ``path`` is a simulated endpoint (a Unix socket) rather than a device node."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def default_mei_path(root: str = "/") -> str:
    """The ``/dev/meiN`` bound to the HECI function; :class:`MeiUnavailableError` if none."""
    from mewarden.host.probe import heci_mei_device
    from mewarden.host.sysfs import open_tree

    tree = open_tree(root)
    device = heci_mei_device(tree)
    if device is None:
        raise MeiUnavailableError(
            "no MEI device on this machine (no Intel HECI function with the mei_me driver "
            "bound; 'mewarden host probe' says why); give --mei PATH to use another",
            errno_name="ENOENT",
        )
    path = Path(root) / "dev" / device
    if not path.exists():
        raise MeiUnavailableError(f"{path} does not exist (udev?)", errno_name="ENOENT")
    return str(path)


def check_mei_path(path: str) -> str:
    """``path`` if it exists; else a one-line :class:`MeiUnavailableError`."""
    if not os.path.exists(path):
        raise MeiUnavailableError(f"no MEI device at {path}", errno_name="ENOENT")
    return path


def _os_error(what: str, exc: OSError) -> MeiError:
    name = errno.errorcode.get(exc.errno or 0, "EIO")
    return MeiError(f"{what}: {exc.strerror or name} ({name})", errno_name=name)


class SocketMeiTransport:
    """:class:`MeiTransport` over a simulated endpoint (blocking, with a timeout)."""

    def __init__(self, path: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._path = path
        self._timeout = timeout
        self._sock: socket.socket | None = None

    def connect(self, client: uuid.UUID) -> ClientProperties:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.settimeout(self._timeout)
        try:
            sock.connect(self._path)
            sock.send(mei_sim.build_connect_request(client))
            properties = mei_sim.parse_connect_reply(sock.recv(64), client)
        except OSError as exc:
            sock.close()
            raise _os_error(f"cannot open {self._path}", exc) from None
        except MeiError:
            sock.close()
            raise
        self._sock = sock
        return properties

    def exchange(self, request: bytes) -> bytes:
        sock = self._sock
        if sock is None:
            raise MeiError("MEI transport used before connect")
        try:
            sock.send(request)
            reply = sock.recv(_RECEIVE_SIZE)
        except ConnectionResetError:
            reply = b""  # the endpoint hung up with our request unread: firmware went away
        except TimeoutError:
            raise MeiError(
                f"MEI client did not answer within {self._timeout:g} s", errno_name="ETIME"
            ) from None
        except OSError as exc:
            raise _os_error("MEI exchange failed", exc) from None
        if not reply:
            raise MeiError("the firmware closed the MEI connection (ENODEV)", errno_name="ENODEV")
        return reply

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def transport_factory(path: str) -> TransportFactory:
    """New sync transports for ``path`` (simulated endpoint or device node)."""
    if is_simulated(path):
        return lambda: SocketMeiTransport(path)
    return lambda: IoctlTransport(path)


def open_transport(path: str, client: uuid.UUID) -> MeiTransport:
    """A connected sync transport (closed again if the connect fails)."""
    transport = transport_factory(path)()
    try:
        transport.connect(client)
    except BaseException:
        transport.close()
        raise
    return transport


class MeiLink(Protocol):
    """A connected, full-duplex MEI client connection (one message per send/receive)."""

    @property
    def max_message_length(self) -> int: ...

    async def send(self, message: bytes) -> None: ...

    async def receive(self) -> bytes:
        """The next message; :class:`MeiError` (``ENODEV``) when firmware closed the link."""
        ...

    def close(self) -> None: ...


class SocketLink:
    """A :class:`MeiLink` on a simulated endpoint."""

    def __init__(self, sock: socket.socket, properties: ClientProperties) -> None:
        self._sock = sock
        self._properties = properties
        self._loop = asyncio.get_running_loop()

    @property
    def max_message_length(self) -> int:
        return self._properties.max_message_length

    async def send(self, message: bytes) -> None:
        if len(message) > self.max_message_length:
            raise MeiError(f"MEI message of {len(message)} bytes is over the MTU (EFBIG)")
        try:
            await self._loop.sock_sendall(self._sock, message)
        except OSError as exc:
            raise _os_error("MEI write failed", exc) from None

    async def receive(self) -> bytes:
        try:
            data = await self._loop.sock_recv(self._sock, _RECEIVE_SIZE)
        except ConnectionResetError:
            data = b""  # closed with our message unread: the same hang-up
        except OSError as exc:
            raise _os_error("MEI read failed", exc) from None
        if not data:
            raise MeiError("the firmware closed the MEI connection (ENODEV)", errno_name="ENODEV")
        return data

    def close(self) -> None:
        self._sock.close()


class DeviceLink:
    """A :class:`MeiLink` on ``/dev/meiN`` (non-blocking fd, reads when the loop says so)."""

    def __init__(self, fd: int, properties: ClientProperties) -> None:
        self._fd = fd
        self._properties = properties
        self._loop = asyncio.get_running_loop()

    @property
    def max_message_length(self) -> int:
        return self._properties.max_message_length

    async def send(self, message: bytes) -> None:
        try:
            os.write(self._fd, message)
        except OSError as exc:
            raise _os_error("MEI write failed", exc) from None

    async def receive(self) -> bytes:
        ready: asyncio.Future[None] = self._loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_reader(self._fd, readable)
        try:
            await ready
        finally:
            self._loop.remove_reader(self._fd)
        try:
            return os.read(self._fd, max(self.max_message_length, 4096))
        except OSError as exc:
            raise _os_error("MEI read failed", exc) from None

    def close(self) -> None:
        os.close(self._fd)


async def open_link(path: str, client: uuid.UUID) -> MeiLink:
    """Connect a :class:`MeiLink` to firmware client ``client`` at ``path``."""
    if is_simulated(path):
        return await _open_socket_link(path, client)
    return _open_device_link(path, client)


async def _open_socket_link(path: str, client: uuid.UUID) -> SocketLink:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(DEFAULT_TIMEOUT_S):
            await loop.sock_connect(sock, path)
            await loop.sock_sendall(sock, mei_sim.build_connect_request(client))
            reply = await loop.sock_recv(sock, 64)
        properties = mei_sim.parse_connect_reply(reply, client)
    except TimeoutError:
        sock.close()
        raise MeiError(f"{path} did not answer the connect", errno_name="ETIME") from None
    except OSError as exc:
        sock.close()
        raise _os_error(f"cannot open {path}", exc) from None
    except MeiError:
        sock.close()
        raise
    return SocketLink(sock, properties)


def _open_device_link(path: str, client: uuid.UUID) -> DeviceLink:
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise _os_error(f"cannot open {path}", exc) from None
    buffer = bytearray(client.bytes_le)
    try:
        fcntl.ioctl(fd, IOCTL_MEI_CONNECT_CLIENT, buffer)
    except OSError as exc:
        os.close(fd)
        raise _os_error(f"cannot connect to MEI client {client}", exc) from None
    return DeviceLink(fd, parse_connect_reply(bytes(buffer)))
