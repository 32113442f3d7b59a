"""The IDER channel (console side) byte by byte: open, toggle, chunked data, sense, sequences."""

from __future__ import annotations

import pytest

from mewarden.errors import RedirectionProtocolError
from mewarden.ider import wire
from mewarden.ider.channel import CommandServed, DevicesConnected, IderChannel, MediumEjected
from mewarden.ider.scsi import ScsiTarget
from mewarden.ider.wire import DEVICE_CD, FeatureRegister, IderMessage, StartMode
from mewarden.redirect.protocol import ChannelOpened

IMAGE = bytes(range(256)) * 8 * 40  # 40 sectors


def _messages(data: bytes) -> list[bytes]:
    out, buffer = [], bytearray(data)
    while buffer:
        length = wire.message_length(buffer)
        assert length is not None
        out.append(bytes(buffer[:length]))
        del buffer[:length]
    return out


def _open(read_buffer: int = 4096) -> IderChannel:
    target = ScsiTarget(lambda lba, n: IMAGE[lba * 2048 : (lba + n) * 2048], 40)
    channel = IderChannel(cd=target, start=StartMode.ON_REBOOT)
    first = channel.start_request()
    assert first[0] == IderMessage.OPEN
    assert wire.sequence_of(first) == 0
    events = channel.handle(wire.open_reply(0, read_buffer=read_buffer))
    assert isinstance(events[0], ChannelOpened)
    toggle = _messages(bytes(channel.out))
    channel.out.clear()
    assert toggle[0][8] == FeatureRegister.REGS_TOGGLE
    assert int.from_bytes(toggle[0][9:13], "little") == 0x01 | StartMode.ON_REBOOT
    reply = channel.handle(wire.features_reply(1, FeatureRegister.REGS_TOGGLE, 1))
    assert reply == [DevicesConnected(StartMode.ON_REBOOT)]
    return channel


def _command(seq: int, cdb: bytes) -> bytes:
    return wire.command_written(seq, wire.Command(device=DEVICE_CD, cdb=cdb, dma=False))


def test_read_is_split_at_amts_read_buffer_and_reassembles() -> None:
    channel = _open(read_buffer=4096)
    channel.handle(_command(2, bytes([0x00])))  # unit attention
    channel.out.clear()
    events = channel.handle(_command(3, bytes([0x28, 0, 0, 0, 0, 4, 0, 0, 5])))
    assert events == [CommandServed(True, 0x28, 5 * 2048, True)]
    pieces = [wire.parse_completion(m) for m in _messages(bytes(channel.out))]
    assert [len(p.data) for p in pieces] == [4096, 4096, 2048]
    assert [p.completed for p in pieces] == [False, False, True]
    assert b"".join(p.data for p in pieces) == IMAGE[4 * 2048 : 9 * 2048]


def test_check_condition_carries_the_sense() -> None:
    channel = _open()
    channel.handle(_command(2, bytes([0x00])))
    end = wire.parse_completion(_messages(bytes(channel.out))[0])
    assert end.sense == (0x06, 0x28, 0x00)  # unit attention: medium may have changed


def test_eject_is_reported() -> None:
    channel = _open()
    channel.handle(_command(2, bytes([0x00])))
    events = channel.handle(_command(3, bytes([0x1B, 0, 0, 0, 0x02])))
    assert MediumEjected() in events


def test_a_sequence_gap_from_the_device_ends_the_session() -> None:
    channel = _open()
    with pytest.raises(RedirectionProtocolError, match="sequence number 5 after 1"):
        channel.handle(_command(5, bytes([0x00])))


def test_device_side_refuses_a_console_gap() -> None:
    from types import SimpleNamespace

    from mewarden.emulate.ider import IderDevice

    state = SimpleNamespace(boot_count=0, events=[], ider_attached=False)
    device = SimpleNamespace(faults=set(), state=state, now=lambda: 0.0)
    side = IderDevice(device)  # type: ignore[arg-type]
    side.handle(wire.open_session(0))
    with pytest.raises(wire.IderWireError, match="sequence 2, expected 1"):
        side.handle(wire.simple(IderMessage.PING, 2))
    assert [e.kind for e in state.events] == ["ider-sequence-gap"]
