"""Simulated MEI endpoints: ``DIR/<address>.sock`` per emulated device (``--mei-dir DIR``).

Speaks :mod:`mewarden.host.mei_sim` (SOCK_SEQPACKET, one send = one MEI message; the first
exchange stands for the connect ioctl). Connecting to the AMTHI client gives the request/reply
responder of :mod:`mei_amthi`; to LME, the APF session of :mod:`mei_lme`, one at a time per
device (a second gets EBUSY, as the real LME client is held by whoever has it, e.g. LMS); any
other client UUID gets ENOTTY.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from mewarden.emulate.device import EmulatedDevice
from mewarden.emulate.fleet import EmulatedFleet
from mewarden.emulate.mei_amthi import answer
from mewarden.emulate.mei_lme import FirmwareLme, LocalDigest
from mewarden.errors import ConfigError, HostDataError
from mewarden.host import mei_sim
from mewarden.host.amthi import AMTHI_UUID
from mewarden.host.lme import LME_UUID
from mewarden.host.mei import ClientProperties

MAX_MESSAGE = 4096
CONNECT_TIMEOUT_S = 5.0
_READ = 64 * 1024
_PROPERTIES = ClientProperties(max_message_length=MAX_MESSAGE, protocol_version=1)


class MeiEndpoints:
    """The endpoints of one fleet; build with :func:`start_mei_endpoints`."""

    def __init__(self, fleet: EmulatedFleet, directory: Path) -> None:
        self._fleet = fleet
        self.directory = directory
        self.paths: dict[str, Path] = {}
        self._listeners: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._lme_busy: set[str] = set()
        self._digests: dict[str, LocalDigest] = {}

    def path(self, address: str) -> Path:
        return self.paths[address]

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for device in self._fleet.devices:
            path = self.directory / f"{device.address}.sock"
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                listener.bind(str(path))
            except OSError as exc:
                listener.close()
                raise ConfigError(f"cannot create MEI endpoint {path}: {exc.strerror}") from None
            os.chmod(path, 0o600)
            listener.listen(16)
            listener.setblocking(False)
            self._listeners.append(listener)
            self.paths[device.address] = path
            self._spawn(self._accept(device, listener))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for listener in self._listeners:
            listener.close()
        for path in self.paths.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def _accept(self, device: EmulatedDevice, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(False)
            self._spawn(self._serve(device, conn))

    async def _serve(self, device: EmulatedDevice, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                request = await loop.sock_recv(conn, _READ)
            client = mei_sim.parse_connect_request(request)
            if client == AMTHI_UUID:
                await self._reply(conn, 0)
                await self._amthi(device, conn)
            elif client == LME_UUID:
                await self._lme(device, conn)
            else:
                await self._reply(conn, errno.ENOTTY)
        except (OSError, TimeoutError, HostDataError):
            pass
        finally:
            conn.close()

    async def _reply(self, conn: socket.socket, error: int) -> None:
        properties = None if error else _PROPERTIES
        reply = mei_sim.build_connect_reply(error, properties)
        await asyncio.get_running_loop().sock_sendall(conn, reply)

    async def _amthi(self, device: EmulatedDevice, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while request := await loop.sock_recv(conn, _READ):
            reply = answer(device.state, request, device.now())
            if reply is not None:
                await loop.sock_sendall(conn, reply)

    async def _lme(self, device: EmulatedDevice, conn: socket.socket) -> None:
        if device.address in self._lme_busy:
            await self._reply(conn, errno.EBUSY)
            return
        self._lme_busy.add(device.address)
        try:
            await self._reply(conn, 0)
            digest = self._digests.get(device.address)
            if digest is None:
                digest = self._digests[device.address] = LocalDigest(device)
            await FirmwareLme(device, conn, self._fleet.http, digest, MAX_MESSAGE).run()
        finally:
            self._lme_busy.discard(device.address)


@contextlib.asynccontextmanager
async def start_mei_endpoints(
    fleet: EmulatedFleet, directory: str | Path
) -> AsyncIterator[MeiEndpoints]:
    """Serve a simulated MEI endpoint for every device of ``fleet`` under ``directory``."""
    endpoints = MeiEndpoints(fleet, Path(directory))
    try:
        await endpoints.start()
        yield endpoints
    finally:
        await endpoints.close()
