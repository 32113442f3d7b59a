"""The IDE-redirection channel of a redirection session, console side (pure).

The console serves read-only media: after the session's start (0x40 -> 0x41: AMT's version and
read buffer) it connects the devices to the host (DisableEnableFeatures 0x48, REGS_TOGGLE with
the enable bit and the start mode: at the next reboot, or now), then answers every packet
command AMT forwards (0x50) with its :class:`~mewarden.ider.scsi.ScsiTarget`: data in
DataToHost messages (0x54, at most AMT's read buffer each, the last one with the status) or a
CommandEndResponse (0x51) with the sense. Sequence numbers from AMT must go up by exactly one
(:class:`~mewarden.redirect.protocol.InboundSequence`, strict). Byte layouts:
:mod:`mewarden.ider.wire`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.errors import AmtUnsupportedError, RedirectionProtocolError
from mewarden.ider import wire
from mewarden.ider.scsi import MEDIUM_NOT_PRESENT, WRITE_PROTECTED, Reply, ScsiTarget
from mewarden.ider.wire import FeatureRegister, IderMessage, StartMode
from mewarden.redirect.protocol import (
    Channel,
    ChannelOpened,
    Event,
    InboundSequence,
    Sequence32,
    SessionEnded,
    StreamEvent,
)
from mewarden.redirect.wire import SessionType


@dataclass(frozen=True, slots=True)
class DevicesConnected(StreamEvent):
    """AMT connected the IDER devices to the host (or will, at the next reboot)."""

    start: StartMode


@dataclass(frozen=True, slots=True)
class CommandServed(StreamEvent):
    """One packet command answered."""

    cd: bool
    opcode: int
    bytes_served: int
    good: bool


@dataclass(frozen=True, slots=True)
class HostReset(StreamEvent):
    """AMT reports that the host reset (its IDE bus was reset)."""


@dataclass(frozen=True, slots=True)
class MediumEjected(StreamEvent):
    """The host ejected the served CD (START STOP UNIT with LoEj)."""


@dataclass(frozen=True, slots=True)
class DeviceError(StreamEvent):
    """AMT reported an IDER error (0x4A)."""

    code: int


class IderChannel(Channel):
    """IDE-R: serve a CD and/or a floppy image, read-only."""

    session_type = SessionType.IDER

    def __init__(
        self,
        *,
        cd: ScsiTarget | None = None,
        floppy: ScsiTarget | None = None,
        start: StartMode = StartMode.NOW,
    ) -> None:
        super().__init__()
        self.cd, self.floppy, self.start = cd, floppy, start
        self.sent = Sequence32(0xFFFFFFFF)  # the first message carries 0
        self.received = InboundSequence(strict=True)
        self.opened = False
        self.read_buffer = wire.MAX_READ_BUFFER
        self.info: wire.OpenReply | None = None

    def start_request(self) -> bytes:
        return wire.open_session(self.sent.next())

    def message_length(self, buffer: bytearray) -> int | None:
        try:
            return wire.message_length(buffer)
        except wire.IderWireError as exc:
            raise RedirectionProtocolError(f"{self.label} sent {exc}") from None

    def handle(self, raw: bytes) -> list[Event]:
        self.received.check(wire.sequence_of(raw), self.label)
        kind = raw[0]
        if kind == IderMessage.OPEN_REPLY:
            return self._opened(raw)
        if not self.opened:
            raise RedirectionProtocolError(f"{self.label} sent IDER traffic before IDER started")
        if kind == IderMessage.COMMAND_WRITTEN:
            return self._serve(wire.parse_command(raw))
        if kind == IderMessage.FEATURES_REPLY:
            return self._features(raw)
        if kind == IderMessage.RESET_OCCURRED:
            self.out += wire.simple(IderMessage.RESET_OCCURRED_REPLY, self.sent.next())
            return [HostReset()]
        if kind == IderMessage.PING:
            self.out += wire.simple(IderMessage.PONG, self.sent.next())
        elif kind in (IderMessage.CLOSE, IderMessage.CLOSE_REPLY):
            return [SessionEnded()]
        elif kind == IderMessage.ERROR:
            return [DeviceError(raw[8])]
        elif kind == IderMessage.DATA_FROM_HOST:
            sense = WRITE_PROTECTED
            self.out += wire.command_end(
                self.sent.next(), wire.DEVICE_FLOPPY, sense=(sense.key, sense.asc, sense.ascq)
            )
        return []  # pongs and heartbeats: any bytes count as a live link

    def _opened(self, raw: bytes) -> list[Event]:
        try:
            self.info = wire.parse_open_reply(raw)
        except wire.IderWireError as exc:
            raise RedirectionProtocolError(f"{self.label}: {exc}") from None
        self.opened = True
        self.read_buffer = self.info.read_buffer
        value = 0x01 | self.start
        self.out += wire.features(self.sent.next(), FeatureRegister.REGS_TOGGLE, value)
        details = (("read_buffer", self.info.read_buffer), ("major", self.info.major))
        return [ChannelOpened(SessionType.IDER, details)]

    def _features(self, raw: bytes) -> list[Event]:
        register, value = wire.parse_features_reply(raw)
        if register != FeatureRegister.REGS_TOGGLE:
            return []
        if value != 1:
            raise AmtUnsupportedError(
                f"{self.label} refused to connect the IDER devices to the host (value {value})"
            )
        return [DevicesConnected(self.start)]

    def _serve(self, command: wire.Command) -> list[Event]:
        target = self.cd if command.cd else self.floppy
        was_loaded = target is not None and target.loaded
        reply = (
            target.execute(command.cdb) if target is not None else Reply(sense=MEDIUM_NOT_PRESENT)
        )
        self._answer(command, reply)
        events: list[Event] = [
            CommandServed(command.cd, command.cdb[0], len(reply.data), reply.good)
        ]
        if target is not None and was_loaded and target.ejected:
            events.append(MediumEjected())
        return events

    def _answer(self, command: wire.Command, reply: Reply) -> None:
        device = command.device
        if reply.sense is not None:
            sense = reply.sense
            self.out += wire.command_end(
                self.sent.next(), device, sense=(sense.key, sense.asc, sense.ascq), dma=command.dma
            )
            return
        data = reply.data
        if not data:
            self.out += wire.command_end(self.sent.next(), device, sense=None, dma=command.dma)
            return
        size = self.read_buffer
        for pos in range(0, len(data), size):
            piece = data[pos : pos + size]
            last = pos + size >= len(data)
            self.out += wire.data_to_host(
                self.sent.next(), device, piece, completed=last, dma=command.dma
            )

    def keep_alive(self) -> bytes:
        return wire.simple(IderMessage.PING, self.sent.next())

    def end_request(self) -> bytes:
        return wire.simple(IderMessage.CLOSE, self.sent.next())
