"""The Serial-over-LAN channel of a redirection session (pure; reference amt.md §3.2).

StartSOLRedirection carries the buffer settings (amtterm's values by default); console bytes
go to the host as SOL data-to-host messages, at most ``max_tx_buffer`` bytes each, and come back
as data-from-host; controls-from-host report the serial lines and whether the host is powered
(status bit 4). A device's ping gets a pong; its heartbeats are not echoed (a device that echoes
too would make the pair loop).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mewarden.errors import RedirectionProtocolError
from mewarden.redirect.protocol import (
    Channel,
    ChannelOpened,
    ChannelRefused,
    Event,
    InboundSequence,
    SessionEnded,
    StreamEvent,
)
from mewarden.redirect.wire import (
    MessageType,
    SessionType,
    SolControl,
    SolStatus,
    sequence_of,
    sequenced,
)

START_REPLY_SIZE = 23
DATA_HEADER_SIZE = 10
_FIXED = {
    MessageType.START_SOL_REDIRECTION_REPLY: START_REPLY_SIZE,
    MessageType.END_SOL_REDIRECTION_REPLY: 8,
    MessageType.SOL_KEEP_ALIVE_PING: 8,
    MessageType.SOL_KEEP_ALIVE_PONG: 8,
    MessageType.SOL_HEARTBEAT: 8,
    MessageType.SOL_CONTROLS_FROM_HOST: 10,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SolSettings:
    """StartSOLRedirection's buffer settings (milliseconds and bytes)."""

    max_tx_buffer: int = 1000
    tx_buffer_timeout: int = 100
    tx_overflow_timeout: int = 0
    host_session_rx_timeout: int = 10000
    host_fifo_rx_flush_timeout: int = 0
    heartbeat_interval: int = 5000

    def pack(self) -> bytes:
        return struct.pack(
            "<HHHHHHI",
            self.max_tx_buffer,
            self.tx_buffer_timeout,
            self.tx_overflow_timeout,
            self.host_session_rx_timeout,
            self.host_fifo_rx_flush_timeout,
            self.heartbeat_interval,
            0,
        )


@dataclass(frozen=True, slots=True)
class SolData(StreamEvent):
    """Console bytes from the host."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SolLineStatus(StreamEvent):
    """Controls from the host: serial lines and status bits."""

    control: SolControl
    status: SolStatus

    @property
    def host_powered(self) -> bool:
        return SolStatus.SYSTEM_POWER in self.status


class SolChannel(Channel):
    """SOL: start, console bytes both ways, line status, keep-alives, end."""

    session_type = SessionType.SOL

    def __init__(self, settings: SolSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or SolSettings()
        self.received = InboundSequence(strict=False)
        self.opened = False

    def start_request(self) -> bytes:
        return sequenced(MessageType.START_SOL_REDIRECTION, self.sent.next(), self.settings.pack())

    def message_length(self, buffer: bytearray) -> int | None:
        kind = buffer[0]
        fixed = _FIXED.get(kind)  # type: ignore[call-overload]
        if fixed is not None:
            return int(fixed)
        if kind == MessageType.SOL_DATA_FROM_HOST:
            if len(buffer) < DATA_HEADER_SIZE:
                return None
            return DATA_HEADER_SIZE + int(struct.unpack_from("<H", buffer, 8)[0])
        raise RedirectionProtocolError(f"{self.label} sent SOL message type {kind:#04x}")

    def handle(self, raw: bytes) -> list[Event]:
        kind = raw[0]
        if kind == MessageType.START_SOL_REDIRECTION_REPLY:
            if raw[1] != 0:
                return [ChannelRefused(raw[1])]
            self.opened = True
            max_tx = int(struct.unpack_from("<H", raw, 8)[0])
            return [ChannelOpened(SessionType.SOL, (("max_tx_buffer", max_tx),))]
        if not self.opened:
            raise RedirectionProtocolError(f"{self.label} sent SOL traffic before SOL started")
        if kind == MessageType.SOL_DATA_FROM_HOST:
            self.received.check(sequence_of(raw), self.label)
            return [SolData(raw[DATA_HEADER_SIZE:])]
        if kind == MessageType.SOL_CONTROLS_FROM_HOST:
            return [SolLineStatus(SolControl(raw[8] & 0x07), SolStatus(raw[9] & 0x1F))]
        if kind == MessageType.SOL_KEEP_ALIVE_PING:
            self.out += bytes((MessageType.SOL_KEEP_ALIVE_PONG,)) + raw[1:]
        elif kind == MessageType.END_SOL_REDIRECTION_REPLY:
            return [SessionEnded()]
        return []  # pongs and heartbeats: the shell counts any bytes as a live link

    def send(self, data: bytes) -> None:
        """Queue console bytes for the host, split at the negotiated buffer size."""
        size = max(1, self.settings.max_tx_buffer)
        for pos in range(0, len(data), size):
            piece = data[pos : pos + size]
            body = struct.pack("<H", len(piece)) + piece
            self.out += sequenced(MessageType.SOL_DATA_TO_HOST, self.sent.next(), body)

    def keep_alive(self) -> bytes:
        return sequenced(MessageType.SOL_KEEP_ALIVE_PING, self.sent.next())

    def end_request(self) -> bytes:
        return sequenced(MessageType.END_SOL_REDIRECTION, self.sent.next())
