"""The KVM channel of a redirection session (pure; reference amt.md §3.2): after
authentication the client sends ``40 00 00 00 00 00 00 00``, AMT answers ``41`` (8 bytes), and
from then on the connection carries raw RFB (the bridge relays it)."""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.errors import RedirectionProtocolError
from mewarden.redirect.protocol import Channel, ChannelOpened, ChannelRefused, Event, StreamEvent
from mewarden.redirect.wire import MessageType, SessionType, header

START_SIZE = 8


@dataclass(frozen=True, slots=True)
class RawData(StreamEvent):
    """RFB bytes from the device (after the KVM start)."""

    data: bytes


class KvmChannel(Channel):
    """KVM: the start exchange, then raw bytes both ways."""

    session_type = SessionType.KVM

    def start_request(self) -> bytes:
        return header(MessageType.START_IDER_OR_KVM) + bytes(4)

    def message_length(self, buffer: bytearray) -> int | None:
        if buffer[0] != MessageType.START_IDER_OR_KVM_REPLY:
            raise RedirectionProtocolError(
                f"{self.label} sent message type {buffer[0]:#04x} instead of the KVM start reply"
            )
        return START_SIZE

    def handle(self, raw: bytes) -> list[Event]:
        if raw[1] != 0:
            return [ChannelRefused(raw[1])]
        self.raw = True
        return [ChannelOpened(SessionType.KVM)]

    def handle_raw(self, data: bytes) -> list[Event]:
        return [RawData(data)]

    def send(self, data: bytes) -> None:
        """Queue RFB bytes for the device (only once the channel is raw)."""
        if not self.raw:
            raise RedirectionProtocolError("RFB bytes before the KVM session started")
        self.out += data
