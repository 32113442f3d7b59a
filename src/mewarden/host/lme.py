"""WS-MAN over APF on the LME MEI client: an in-process LMS (reference ``amt.md`` §1.13).

The thin asyncio shell around :mod:`mewarden.host.apf`. :class:`LmeSession` does what Intel LMS
does at start (PROTOCOLVERSION 1.0 trigger 254, accept ``pfwd@``/``auth@``, USERAUTH success,
answer each ``tcpip-forward`` with its port; ready once 16992 is forwarded) and then opens one
``forwarded-tcpip`` channel to ``::1:16992`` per connection the WS-MAN client asks for.

Each channel is handed to the client as ordinary asyncio streams: one end of a socket pair goes
to the client (``asyncio.open_connection(sock=...)``), the other is pumped into CHANNEL_DATA
(segmented to the peer's window and the MEI MTU, waiting for WINDOW_ADJUST like lms) and back.
So :class:`~mewarden.amt.client.AmtClient` runs over it unchanged, Digest and all. When the MEI
link dies every channel's stream ends, and the client reports a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from dataclasses import dataclass, field

from mewarden.aiosock import cancel_then_close
from mewarden.errors import HostDataError, MeiError
from mewarden.host import apf
from mewarden.host.mei_link import MeiLink, open_link

LME_UUID = uuid.UUID("6733a4db-0476-4e7b-b3af-bcfc29bee7a7")
TRIGGER_LME_REQUEST = 254
RX_WINDOW = 4096
HANDSHAKE_TIMEOUT_S = 5.0
OPEN_TIMEOUT_S = 18.0
HTTP_PORT = 16992
_READ = 64 * 1024


@dataclass(slots=True, eq=False)
class _Channel:
    ours: int
    pump_end: socket.socket
    theirs: int = -1
    send_window: int = 0
    opened: asyncio.Future[None] = field(default_factory=asyncio.Future)
    window_open: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class LmeSession:
    """One APF session on one LME connection; use as ``async with`` after :func:`connect_lme`."""

    def __init__(self, link: MeiLink, label: str) -> None:
        self._link = link
        self.label = label
        self.forwarded_ports: set[int] = set()
        self.error: str = ""
        self._channels: dict[int, _Channel] = {}
        self._next = 1
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LmeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Send our PROTOCOLVERSION, then serve firmware until 16992 is forwarded."""
        await self._send(apf.ProtocolVersion(1, 0, TRIGGER_LME_REQUEST))
        self._reader = asyncio.create_task(self._read_loop())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                await self._ready.wait()
        if HTTP_PORT not in self.forwarded_ports:
            raise MeiError(
                f"{self.label}: AMT did not forward port {HTTP_PORT} over LME "
                f"({self.error or f'nothing within {HANDSHAKE_TIMEOUT_S:g} s'})",
                errno_name="ETIME",
            )

    async def aclose(self) -> None:
        for channel in list(self._channels.values()):
            self._drop(channel)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._link.close()

    async def _send(self, message: apf.ApfMessage) -> None:
        await self._link.send(apf.encode(message))

    # --- inbound ----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                message = apf.decode(await self._link.receive())
                await self._dispatch(message)
        except (MeiError, HostDataError) as exc:
            self.error = str(exc)
        finally:
            for channel in list(self._channels.values()):
                self._drop(channel)
            self._ready.set()  # wakes a handshake still waiting: it reports the error

    async def _dispatch(self, message: apf.ApfMessage) -> None:
        match message:
            case apf.ChannelData(recipient, data):
                await self._inbound_data(recipient, data)
            case apf.WindowAdjust(recipient, amount):
                channel = self._channels.get(recipient)
                if channel is not None:
                    channel.send_window += amount
                    channel.window_open.set()
            case apf.ChannelClose(recipient):
                await self._closed_by_firmware(recipient)
            case apf.ChannelOpenConfirmation(recipient, sender, window):
                channel = self._channels.get(recipient)
                if channel is not None and not channel.opened.done():
                    channel.theirs, channel.send_window = sender, window
                    channel.window_open.set()
                    channel.opened.set_result(None)
            case apf.ChannelOpenFailure(recipient, reason):
                channel = self._channels.get(recipient)
                if channel is not None and not channel.opened.done():
                    channel.opened.set_exception(_open_failure(self.label, reason))
            case _:
                await self._control(message)

    async def _control(self, message: apf.ApfMessage) -> None:
        match message:
            case apf.ProtocolVersion(major, minor, _, _) if (major, minor) != (1, 0):
                reason = apf.DisconnectReason.PROTOCOL_VERSION_NOT_SUPPORTED
                await self._send(apf.Disconnect(reason))
                raise MeiError(f"{self.label}: AMT speaks APF {major}.{minor}, not 1.0")
            case apf.ServiceRequest(service) if service in (apf.SERVICE_PFWD, apf.SERVICE_AUTH):
                await self._send(apf.ServiceAccept(service))
            case apf.ServiceRequest():
                await self._send(apf.Disconnect(apf.DisconnectReason.SERVICE_NOT_AVAILABLE))
            case apf.UserAuthRequest():
                await self._send(apf.UserAuthSuccess())
            case apf.GlobalRequest("tcpip-forward", want_reply, _, port):
                self.forwarded_ports.add(port)
                if want_reply:
                    await self._send(apf.RequestSuccess(port))
                if port == HTTP_PORT:
                    self._ready.set()
            case apf.GlobalRequest(name, True) if name != "udp-send-to@amt.intel.com":
                await self._send(apf.RequestSuccess())
            case apf.KeepaliveRequest(cookie):
                await self._send(apf.KeepaliveReply(cookie))
            case apf.Disconnect(reason):
                raise MeiError(f"{self.label}: AMT ended the APF session (reason {reason})")
            case _:
                pass  # PROTOCOLVERSION 1.0, keep-alive options, auth replies: nothing to do

    async def _inbound_data(self, recipient: int, data: bytes) -> None:
        channel = self._channels.get(recipient)
        if channel is None or channel.closed:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(channel.pump_end, data)
        except OSError:
            await self._close_channel(channel)
            return
        await self._send(apf.WindowAdjust(channel.theirs, len(data)))

    async def _closed_by_firmware(self, recipient: int) -> None:
        channel = self._channels.get(recipient)
        if channel is None:
            return  # a stale close for a channel we already forgot
        if not channel.closed and channel.theirs >= 0:
            channel.closed = True
            await self._send(apf.ChannelClose(channel.theirs))
        self._drop(channel)

    # --- channels ---------------------------------------------------------------------------

    async def open_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A new channel to AMT's 16992, as the streams the WS-MAN client reads and writes."""
        if self._reader is None or self._reader.done():
            raise MeiError(f"{self.label}: the LME session is closed ({self.error or 'closed'})")
        client_end, pump_end = socket.socketpair()
        pump_end.setblocking(False)
        channel = _Channel(ours=self._allocate(), pump_end=pump_end)
        self._channels[channel.ours] = channel
        try:
            await self._send(
                apf.ChannelOpen(
                    "forwarded-tcpip", channel.ours, RX_WINDOW, "::1", HTTP_PORT, "::1", 123
                )
            )
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                await channel.opened
        except BaseException:
            client_end.close()
            self._drop(channel)
            raise
        channel.tasks.append(asyncio.create_task(self._outbound(channel)))
        return await asyncio.open_connection(sock=client_end)

    def _allocate(self) -> int:
        for _ in range(64):
            self._next = self._next % 31 + 1
            if self._next not in self._channels:
                return self._next
        raise MeiError(f"{self.label}: no free APF channel number", errno_name="EBUSY")

    async def _outbound(self, channel: _Channel) -> None:
        """Client bytes -> CHANNEL_DATA within the peer's window and the MEI MTU."""
        loop = asyncio.get_running_loop()
        mtu = self._link.max_message_length - 9
        try:
            while data := await loop.sock_recv(channel.pump_end, _READ):
                while data:
                    await channel.window_open.wait()
                    size = min(len(data), channel.send_window, mtu)
                    piece, data = data[:size], data[size:]
                    channel.send_window -= size
                    if channel.send_window <= 0:
                        channel.window_open.clear()
                    await self._send(apf.ChannelData(channel.theirs, piece))
            await self._close_channel(channel)
        except (OSError, MeiError):
            self._drop(channel)

    async def _close_channel(self, channel: _Channel) -> None:
        if not channel.closed:
            channel.closed = True
            with contextlib.suppress(MeiError):
                await self._send(apf.ChannelClose(channel.theirs))

    def _drop(self, channel: _Channel) -> None:
        self._channels.pop(channel.ours, None)
        cancel_then_close(channel.tasks, channel.pump_end)
        if not channel.opened.done():
            channel.opened.set_exception(
                MeiError(f"{self.label}: the MEI link closed ({self.error or 'closed'})")
            )


def _open_failure(label: str, reason: int) -> MeiError:
    try:
        name = apf.OpenFailureReason(reason).name.lower().replace("_", " ")
    except ValueError:
        name = f"reason {reason}"
    return MeiError(f"{label}: AMT refused the APF channel ({name})", errno_name="EBUSY")


async def connect_lme(path: str) -> LmeSession:
    """Connect to LME at ``path`` and run the APF handshake."""
    link = await open_link(path, LME_UUID)
    session = LmeSession(link, f"LME on {path}")
    try:
        await session.start()
    except BaseException:
        await session.aclose()
        raise
    return session
