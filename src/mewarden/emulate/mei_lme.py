"""The emulated firmware's LME client: APF in, the device's own WS-MAN stack behind it.

Firmware's side of reference ``amt.md`` §1.13: send PROTOCOLVERSION and SERVICE_REQUEST
``pfwd@amt.intel.com``; once accepted, forward 16992 and 623 (GLOBAL_REQUEST tcpip-forward).
Each ``forwarded-tcpip`` CHANNEL_OPEN to 16992 gets a channel (eight at most, as rpc-go saw on
real firmware: the ninth is refused with resource shortage) whose bytes go through a socket pair
into the same :class:`~mewarden.emulate.webserver.AmtHttp` that serves port 16992, so the local
channel answers exactly like the network one. What differs is the account: over the local
channel the OS admin account that AMTHI GetLocalSystemAccount hands out is accepted too.
A channel or session opened before ``pfwd@`` was accepted ends the session (DISCONNECT 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from typing import Any, cast

from mewarden.aiosock import cancel_then_close
from mewarden.emulate.device import EmulatedDevice, FaultKind
from mewarden.emulate.digest import DigestAuthority, parse_digest_header
from mewarden.emulate.webserver import AmtHttp
from mewarden.errors import HostDataError
from mewarden.host import apf
from mewarden.secret import Secret

WINDOW = 4096
MAX_CHANNELS = 8
FORWARDED_PORTS = (16992, 623)
_NETWORK_ONLY_FAULTS = frozenset(
    {FaultKind.AMT_UNREACHABLE, FaultKind.REFUSE, FaultKind.FLAPPING, FaultKind.TLS_FAILURE}
)
_READ = 64 * 1024


class LocalDigest:
    """The admin account as on the network, plus the local OS account (local channel only)."""

    def __init__(self, device: EmulatedDevice) -> None:
        self._device = device
        setup = device.state.host_setup
        self._local = DigestAuthority(
            realm=device.realm, username=setup.local_user, password=Secret(setup.local_password)
        )

    def challenge(self, nonce: str) -> str:
        self._local.challenge(nonce)
        return self._device.digest.challenge(nonce)

    def verify(self, header: str | None, *, method: str, target: str) -> bool:
        params = parse_digest_header(header or "") or {}
        if params.get("username") == self._local.username:
            return self._local.verify(header, method=method, target=target)
        return self._device.digest.verify(header, method=method, target=target)


class LocalView:
    """The device as its local channel sees it: same state and stack, local accounts, and
    none of the network faults (a dead NIC does not stop LME)."""

    def __init__(self, device: EmulatedDevice, digest: LocalDigest) -> None:
        self._device = device
        self.digest = digest

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device, name)

    @property
    def inflight(self) -> int:
        return self._device.inflight

    @inflight.setter
    def inflight(self, value: int) -> None:
        self._device.inflight = value

    @property
    def faults(self) -> set[FaultKind]:
        return self._device.faults - _NETWORK_ONLY_FAULTS

    def drop_connection(self) -> bool:
        return False


@dataclass(slots=True, eq=False)
class _Channel:
    ours: int
    theirs: int
    pump_end: socket.socket
    send_window: int
    window_open: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FirmwareLme:
    """One LME connection's APF session, firmware side."""

    def __init__(
        self,
        device: EmulatedDevice,
        sock: socket.socket,
        http: AmtHttp,
        digest: LocalDigest,
        mtu: int,
    ) -> None:
        self._device = device
        self._sock = sock
        self._http = http
        self._view = cast(EmulatedDevice, LocalView(device, digest))  # duck-typed on purpose
        self._mtu = mtu
        self._accepted = False
        self._channels: dict[int, _Channel] = {}
        self._loop = asyncio.get_running_loop()

    async def _send(self, message: apf.ApfMessage) -> None:
        await self._loop.sock_sendall(self._sock, apf.encode(message))

    async def run(self) -> None:
        """Serve until the host closes the link (or sends something malformed)."""
        try:
            await self._send(apf.ProtocolVersion(1, 0, 3, bytes(16)))
            await self._send(apf.ServiceRequest(apf.SERVICE_PFWD))
            while data := await self._loop.sock_recv(self._sock, _READ):
                if not await self._handle(apf.decode(data)):
                    break
        except (HostDataError, OSError):
            pass
        finally:
            for channel in list(self._channels.values()):
                self._drop(channel)

    async def _handle(self, message: apf.ApfMessage) -> bool:
        """False ends the session (the socket is then closed: ENODEV for the host)."""
        match message:
            case apf.ServiceAccept(apf.SERVICE_PFWD):
                self._accepted = True
                for port in FORWARDED_PORTS:
                    await self._send(apf.GlobalRequest("tcpip-forward", True, "", port))
            case apf.ChannelOpen() if self._accepted:
                await self._open(message)
            case apf.ChannelData(recipient, data) if self._accepted:
                return await self._data(recipient, data)
            case apf.WindowAdjust(recipient, amount):
                channel = self._channels.get(recipient)
                if channel is not None:
                    channel.send_window += amount
                    channel.window_open.set()
            case apf.ChannelClose(recipient):
                await self._host_closed(recipient)
            case apf.KeepaliveRequest(cookie):
                await self._send(apf.KeepaliveReply(cookie))
            case apf.Disconnect():
                return False
            case apf.ChannelOpen() | apf.ChannelData() | apf.GlobalRequest():
                await self._send(apf.Disconnect(apf.DisconnectReason.PROTOCOL_ERROR))
                return False
            case _:
                pass  # the host's PROTOCOLVERSION, REQUEST_SUCCESS, USERAUTH replies
        return True

    async def _open(self, message: apf.ChannelOpen) -> None:
        if message.channel_type != "forwarded-tcpip" or message.connected_port != 16992:
            reason = apf.OpenFailureReason.CONNECT_FAILED
            await self._send(apf.ChannelOpenFailure(message.sender, reason))
            return
        free = [n for n in range(MAX_CHANNELS) if n not in self._channels]
        if not free:
            reason = apf.OpenFailureReason.RESOURCE_SHORTAGE
            await self._send(apf.ChannelOpenFailure(message.sender, reason))
            return
        server_end, pump_end = socket.socketpair()
        pump_end.setblocking(False)
        channel = _Channel(free[0], message.sender, pump_end, message.window)
        channel.window_open.set()
        self._channels[channel.ours] = channel
        reader, writer = await asyncio.open_connection(sock=server_end)
        channel.tasks.append(
            asyncio.create_task(self._http.serve(self._view, reader, writer, tls=False))
        )
        channel.tasks.append(asyncio.create_task(self._outbound(channel)))
        await self._send(apf.ChannelOpenConfirmation(channel.theirs, channel.ours, WINDOW))

    async def _data(self, recipient: int, data: bytes) -> bool:
        channel = self._channels.get(recipient)
        if channel is None or channel.closed:
            return True
        drop = self._device.state.host_setup.drop_mei_on
        if any(f"/{name}<".encode() in data for name in drop):
            return False  # a firmware that dies mid-exchange: the host sees ENODEV
        with contextlib.suppress(OSError):
            await self._loop.sock_sendall(channel.pump_end, data)
        await self._send(apf.WindowAdjust(channel.theirs, len(data)))
        return True

    async def _outbound(self, channel: _Channel) -> None:
        try:
            while data := await self._loop.sock_recv(channel.pump_end, _READ):
                while data:
                    await channel.window_open.wait()
                    size = min(len(data), channel.send_window, self._mtu - 9)
                    piece, data = data[:size], data[size:]
                    channel.send_window -= size
                    if channel.send_window <= 0:
                        channel.window_open.clear()
                    await self._send(apf.ChannelData(channel.theirs, piece))
            if not channel.closed:
                channel.closed = True
                await self._send(apf.ChannelClose(channel.theirs))
        except OSError:
            pass

    async def _host_closed(self, recipient: int) -> None:
        channel = self._channels.get(recipient)
        if channel is None:
            return
        if not channel.closed:
            channel.closed = True
            await self._send(apf.ChannelClose(channel.theirs))
        self._drop(channel)

    def _drop(self, channel: _Channel) -> None:
        self._channels.pop(channel.ours, None)
        cancel_then_close(channel.tasks, channel.pump_end)
