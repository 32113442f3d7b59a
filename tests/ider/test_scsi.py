"""The SCSI/MMC target: each command's layout, sense data, eject/lock, and random CDBs."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from mewarden.ider.scsi import (
    INVALID_FIELD,
    INVALID_OPCODE,
    LBA_OUT_OF_RANGE,
    MEDIUM_CHANGED,
    MEDIUM_NOT_PRESENT,
    REMOVAL_PREVENTED,
    WRITE_PROTECTED,
    ScsiTarget,
    SenseKey,
)

BLOCKS = 100
IMAGE = bytes((i * 7 + i // 2048) % 251 for i in range(BLOCKS * 2048))


def _read(lba: int, count: int) -> bytes:
    return IMAGE[lba * 2048 : (lba + count) * 2048]


def _ready() -> ScsiTarget:
    target = ScsiTarget(_read, BLOCKS)
    assert target.execute(bytes([0x00])).sense == MEDIUM_CHANGED  # unit attention, once
    assert target.execute(bytes([0x00])).good
    return target


def _cdb(*head: int, length: int = 12) -> bytes:
    return bytes(head).ljust(length, b"\x00")


def test_inquiry_is_a_removable_cd_rom_and_respects_the_allocation_length() -> None:
    target = ScsiTarget(_read, BLOCKS)
    full = target.execute(_cdb(0x12, 0, 0, 0, 96))
    assert full.good  # INQUIRY is not failed by the pending unit attention
    assert (full.data[0], full.data[1] & 0x80) == (0x05, 0x80)
    assert full.data[8:16] == b"MEWARDEN"
    assert len(full.data) == 36
    assert len(target.execute(_cdb(0x12, 0, 0, 0, 5)).data) == 5
    assert target.execute(_cdb(0x12, 1, 0x80, 0, 96)).sense == INVALID_FIELD  # no VPD


def test_request_sense_reports_the_unit_attention_then_the_last_error() -> None:
    target = ScsiTarget(_read, BLOCKS)
    sense = target.execute(_cdb(0x03, 0, 0, 0, 18)).data
    assert (sense[0], sense[2], sense[12]) == (0x70, SenseKey.UNIT_ATTENTION, 0x28)
    assert target.execute(_cdb(0x28, 0, 0, 0, 0, 200, 0, 0, 1)).sense == LBA_OUT_OF_RANGE
    sense = target.execute(_cdb(0x03, 0, 0, 0, 18)).data
    assert (sense[2], sense[12], sense[13]) == (SenseKey.ILLEGAL_REQUEST, 0x21, 0)
    assert target.execute(_cdb(0x03, 0, 0, 0, 18)).data[2] == SenseKey.NO_SENSE


def test_read_capacity_and_reads_return_the_image_bytes() -> None:
    target = _ready()
    cap = target.execute(_cdb(0x25))
    assert struct.unpack(">II", cap.data) == (BLOCKS - 1, 2048)
    read10 = target.execute(_cdb(0x28, 0, 0, 0, 0, 16, 0, 0, 3))
    assert read10.data == IMAGE[16 * 2048 : 19 * 2048]
    read12 = target.execute(_cdb(0xA8, 0, 0, 0, 0, 98, 0, 0, 0, 2))
    assert read12.data == IMAGE[98 * 2048 :]
    assert target.execute(_cdb(0xA8, 0, 0, 0, 0, 98, 0, 0, 0, 3)).sense == LBA_OUT_OF_RANGE
    assert target.execute(_cdb(0x28, 0, 0, 0, 0, 5, 0, 0, 0)).data == b""
    assert target.blocks_read == 5


def test_writes_are_refused_as_write_protected_and_unknown_opcodes_as_invalid() -> None:
    target = _ready()
    assert target.execute(_cdb(0x2A, 0, 0, 0, 0, 1, 0, 0, 1)).sense == WRITE_PROTECTED
    assert target.execute(_cdb(0xAA)).sense == WRITE_PROTECTED
    for opcode in (0x04, 0x15, 0xBE, 0xFF):
        assert target.execute(_cdb(opcode)).sense == INVALID_OPCODE


def test_read_toc_lba_and_msf() -> None:
    target = _ready()
    toc = target.execute(_cdb(0x43, 0, 0, 0, 0, 0, 0, 0, 100)).data
    assert struct.unpack_from(">HBB", toc) == (18, 1, 1)
    assert toc[4:12] == bytes([0, 0x14, 1, 0, 0, 0, 0, 0])
    assert toc[12:16] == bytes([0, 0x14, 0xAA, 0])
    assert struct.unpack_from(">I", toc, 16)[0] == BLOCKS
    msf = target.execute(_cdb(0x43, 0x02, 0, 0, 0, 0, 0, 0, 100)).data
    assert msf[8:12] == bytes([0, 0, 2, 0])  # LBA 0 = 00:02:00
    session = target.execute(_cdb(0x43, 0, 1, 0, 0, 0, 0, 0, 12)).data
    assert struct.unpack_from(">HBB", session) == (10, 1, 1)
    assert target.execute(_cdb(0x43, 0, 0, 0, 0, 0, 5, 0, 100)).sense == INVALID_FIELD
    assert target.execute(_cdb(0x43, 0, 4, 0, 0, 0, 0, 0, 100)).sense == INVALID_FIELD


def test_get_configuration_reports_the_cd_rom_profile() -> None:
    target = _ready()
    data = target.execute(_cdb(0x46, 0, 0, 0, 0, 0, 0, 1, 0)).data
    length, _reserved, profile = struct.unpack_from(">IHH", data)
    assert (length, profile) == (len(data) - 4, 0x0008)
    codes = []
    pos = 8
    while pos < len(data):
        code, _flags, size = struct.unpack_from(">HBB", data, pos)
        codes.append(code)
        pos += 4 + size
    assert codes == [0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x001E]
    one = target.execute(_cdb(0x46, 2, 0, 0x10, 0, 0, 0, 1, 0)).data
    assert struct.unpack_from(">H", one, 8)[0] == 0x0010
    assert len(one) == 8 + 12


def test_event_status_eject_lock_and_reload() -> None:
    target = _ready()
    event = target.execute(_cdb(0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8)).data
    assert (event[2], event[4], event[5]) == (0x04, 2, 0x02)  # media class, new media, present
    assert target.execute(_cdb(0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8)).data[4] == 0  # reported once
    assert target.execute(_cdb(0x4A, 0, 0, 0, 0x10, 0, 0, 0, 8)).sense == INVALID_FIELD
    assert target.execute(_cdb(0x1E, 0, 0, 0, 1)).good  # prevent removal
    assert target.execute(_cdb(0x1B, 0, 0, 0, 0x02)).sense == REMOVAL_PREVENTED
    assert not target.ejected
    assert target.execute(_cdb(0x1E, 0, 0, 0, 0)).good  # allow
    assert target.execute(_cdb(0x1B, 0, 0, 0, 0x02)).good  # eject
    assert target.ejected
    assert target.execute(_cdb(0x00)).sense == MEDIUM_NOT_PRESENT
    assert target.execute(_cdb(0x25)).sense == MEDIUM_NOT_PRESENT
    assert target.execute(_cdb(0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8)).data[4:6] == bytes([3, 0])
    assert target.execute(_cdb(0x1B, 0, 0, 0, 0x03)).good  # load again
    assert target.execute(_cdb(0x00)).sense == MEDIUM_CHANGED
    assert target.execute(_cdb(0x00)).good


def test_mode_sense_pages() -> None:
    target = _ready()
    six = target.execute(_cdb(0x1A, 0, 0x2A, 0, 255)).data
    assert six[0] == len(six) - 1
    assert six[4] == 0x2A
    ten = target.execute(_cdb(0x5A, 0, 0x3F, 0, 0, 0, 0, 1, 0)).data
    assert struct.unpack_from(">H", ten)[0] == len(ten) - 2
    assert [ten[8], ten[8 + 12]] == [0x01, 0x2A]
    assert target.execute(_cdb(0x1A, 0, 0x05, 0, 255)).sense == INVALID_FIELD


def test_floppy_uses_512_byte_blocks_and_refuses_cd_commands() -> None:
    target = ScsiTarget(lambda lba, n: bytes(512 * n), 2880, floppy=True)
    target.execute(_cdb(0x00))
    assert struct.unpack(">II", target.execute(_cdb(0x25)).data) == (2879, 512)
    assert target.execute(_cdb(0x12, 0, 0, 0, 36)).data[0] == 0x00
    caps = target.execute(_cdb(0x23, 0, 0, 0, 0, 0, 0, 0, 12)).data
    assert struct.unpack_from(">IB", caps, 4) == (2880, 2)
    assert target.execute(_cdb(0x43, 0, 0, 0, 0, 0, 0, 0, 100)).sense == INVALID_OPCODE
    assert target.execute(_cdb(0x1A, 0, 0x3F, 0, 255)).data[2] == 0x80  # write protected


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=16))
def test_any_cdb_gets_data_or_sense_never_an_exception(cdb: bytes) -> None:
    target = _ready()
    reply = target.execute(cdb)
    assert reply.good or reply.sense is not None
    if not reply.good:
        assert reply.data == b""
        sense = target.execute(_cdb(0x03, 0, 0, 0, 18)).data
        assert sense[2] == reply.sense.key  # type: ignore[union-attr]
