"""The SCSI/MMC target IDER presents: a read-only CD-ROM (or floppy) over an image (pure).

A BIOS, and then the installer's OS, send ATAPI packet commands (12-byte CDBs) to the drive
AMT emulates; IDER forwards each one to the console, which answers with data and status. This
module is that drive: :meth:`ScsiTarget.execute` takes a CDB and returns a :class:`Reply`
(data to the host, and either good status or a CHECK CONDITION with sense data). It reads the
medium through a callable and does no other I/O.

Commands (SPC-3 / MMC-5 / SBC layouts): TEST UNIT READY, REQUEST SENSE, INQUIRY, MODE SENSE(6)
and (10), START STOP UNIT (load/eject), PREVENT ALLOW MEDIUM REMOVAL, READ FORMAT CAPACITIES
(floppy), READ CAPACITY(10), READ(10), READ(12), READ TOC/PMA/ATIP (formats 0 and 1, LBA or
MSF), GET CONFIGURATION, GET EVENT STATUS NOTIFICATION (polled, media class), READ DISC
INFORMATION. Writes get DATA PROTECT / write protected; anything else ILLEGAL REQUEST / invalid
command operation code. A unit attention (medium may have changed) is reported once after the
medium is loaded, as a drive does after a reset.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

CD_SECTOR = 2048
FLOPPY_SECTOR = 512


class Opcode(enum.IntEnum):
    """Operation codes the target knows (first CDB byte)."""

    TEST_UNIT_READY = 0x00
    REQUEST_SENSE = 0x03
    INQUIRY = 0x12
    MODE_SENSE_6 = 0x1A
    START_STOP_UNIT = 0x1B
    PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1E
    READ_FORMAT_CAPACITIES = 0x23
    READ_CAPACITY_10 = 0x25
    READ_10 = 0x28
    WRITE_10 = 0x2A
    READ_TOC = 0x43
    GET_CONFIGURATION = 0x46
    GET_EVENT_STATUS_NOTIFICATION = 0x4A
    READ_DISC_INFORMATION = 0x51
    MODE_SENSE_10 = 0x5A
    READ_12 = 0xA8
    WRITE_12 = 0xAA


class SenseKey(enum.IntEnum):
    """SPC sense keys."""

    NO_SENSE = 0x0
    NOT_READY = 0x2
    ILLEGAL_REQUEST = 0x5
    UNIT_ATTENTION = 0x6
    DATA_PROTECT = 0x7


@dataclass(frozen=True, slots=True)
class Sense:
    """A sense key with its additional sense code and qualifier."""

    key: SenseKey
    asc: int
    ascq: int = 0

    def fixed(self) -> bytes:
        """Fixed-format sense data (response code 0x70, 18 bytes)."""
        data = bytearray(18)
        data[0], data[2], data[7], data[12], data[13] = 0x70, self.key, 10, self.asc, self.ascq
        return bytes(data)


NO_SENSE = Sense(SenseKey.NO_SENSE, 0x00)
MEDIUM_NOT_PRESENT = Sense(SenseKey.NOT_READY, 0x3A)
INVALID_OPCODE = Sense(SenseKey.ILLEGAL_REQUEST, 0x20)
LBA_OUT_OF_RANGE = Sense(SenseKey.ILLEGAL_REQUEST, 0x21)
INVALID_FIELD = Sense(SenseKey.ILLEGAL_REQUEST, 0x24)
REMOVAL_PREVENTED = Sense(SenseKey.ILLEGAL_REQUEST, 0x53, 0x02)
MEDIUM_CHANGED = Sense(SenseKey.UNIT_ATTENTION, 0x28)
WRITE_PROTECTED = Sense(SenseKey.DATA_PROTECT, 0x27)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the drive answers: data for the host, then good status (``sense`` None) or a
    CHECK CONDITION with ``sense``."""

    data: bytes = b""
    sense: Sense | None = None

    @property
    def good(self) -> bool:
        return self.sense is None


ReadBlocks = Callable[[int, int], bytes]
"""(first block, count) -> count blocks of the medium's block size."""

_NO_ATTENTION = frozenset(
    {Opcode.INQUIRY, Opcode.REQUEST_SENSE, Opcode.GET_EVENT_STATUS_NOTIFICATION}
)
"""Commands a pending unit attention does not fail (SPC: INQUIRY, REQUEST SENSE; MMC: GESN)."""
_CD_ONLY = frozenset(
    {Opcode.READ_TOC, Opcode.GET_CONFIGURATION, Opcode.READ_DISC_INFORMATION, Opcode.READ_12}
)


def _cut(data: bytes, allocation: int) -> Reply:
    return Reply(data=data[:allocation])


def _u16(cdb: bytes, at: int) -> int:
    return int(struct.unpack_from(">H", cdb, at)[0])


def _u32(cdb: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", cdb, at)[0])


def _msf(lba: int) -> bytes:
    frames = lba + 150
    return bytes([0, frames // 4500, frames // 75 % 60, frames % 75])


class ScsiTarget:
    """One emulated drive: a CD-ROM (2048-byte blocks) or a floppy (512), read-only."""

    def __init__(
        self,
        read: ReadBlocks,
        blocks: int,
        *,
        floppy: bool = False,
        vendor: str = "MEWARDEN",
        product: str = "IDER CD-ROM",
    ) -> None:
        self.read_blocks = read
        self.blocks = blocks
        self.floppy = floppy
        self.block_size = FLOPPY_SECTOR if floppy else CD_SECTOR
        self.vendor, self.product = vendor, product if not floppy else "IDER FLOPPY"
        self.loaded = True
        self.prevented = False
        self.sense = NO_SENSE
        """The last CHECK CONDITION's sense, for REQUEST SENSE."""
        self.attention: Sense | None = MEDIUM_CHANGED
        self.media_event = 2
        """MMC media event code to report next: 2 new media, 3 media removal, 0 none."""
        self.ejected = False
        """The host ejected the medium (START STOP UNIT LoEj): the session can end."""
        self.commands = 0
        self.blocks_read = 0
        self.bytes_served = 0

    def execute(self, cdb: bytes) -> Reply:
        """Run one command; keeps REQUEST SENSE's sense and the counters."""
        self.commands += 1
        cdb = cdb.ljust(12, b"\x00")
        try:
            opcode: Opcode | None = Opcode(cdb[0])
        except ValueError:
            opcode = None
        reply = self._dispatch(opcode, cdb)
        if reply.sense is not None:
            self.sense = reply.sense
        self.bytes_served += len(reply.data)
        return reply

    def _dispatch(self, opcode: Opcode | None, cdb: bytes) -> Reply:
        if opcode is None or (self.floppy and opcode in _CD_ONLY):
            return Reply(sense=INVALID_OPCODE)
        if self.attention is not None and opcode not in _NO_ATTENTION:
            sense, self.attention = self.attention, None
            return Reply(sense=sense)
        handler = _HANDLERS.get(opcode)
        if handler is None:
            return Reply(sense=WRITE_PROTECTED if opcode in _WRITES else INVALID_OPCODE)
        return handler(self, cdb)

    # --- medium -------------------------------------------------------------------------------

    def eject(self) -> None:
        self.loaded, self.ejected, self.media_event = False, True, 3

    def load(self) -> None:
        if not self.loaded:
            self.loaded, self.ejected, self.media_event = True, False, 2
            self.attention = MEDIUM_CHANGED

    def _needs_medium(self) -> Reply | None:
        return None if self.loaded else Reply(sense=MEDIUM_NOT_PRESENT)

    # --- commands -----------------------------------------------------------------------------

    def unit_ready(self, _cdb: bytes) -> Reply:
        return self._needs_medium() or Reply()

    def request_sense(self, cdb: bytes) -> Reply:
        sense = self.sense
        if self.attention is not None:
            sense, self.attention = self.attention, None
        elif sense == NO_SENSE and not self.loaded:
            sense = MEDIUM_NOT_PRESENT
        self.sense = NO_SENSE
        return _cut(sense.fixed(), cdb[4])

    def inquiry(self, cdb: bytes) -> Reply:
        if cdb[1] & 0x01 or cdb[2]:
            return Reply(sense=INVALID_FIELD)  # no vital product data pages
        data = bytearray(36)
        data[0] = 0x00 if self.floppy else 0x05  # direct access / CD-DVD device
        data[1], data[2], data[3], data[4] = 0x80, 0x00, 0x21, 31  # removable, ATAPI, format 2
        data[8:16] = self.vendor.encode("ascii")[:8].ljust(8)
        data[16:32] = self.product.encode("ascii")[:16].ljust(16)
        data[32:36] = b"1.0 "
        return _cut(bytes(data), _u16(cdb, 3))

    def start_stop_unit(self, cdb: bytes) -> Reply:
        load_eject, start = cdb[4] & 0x02, cdb[4] & 0x01
        if load_eject and not start:
            if self.prevented:
                return Reply(sense=REMOVAL_PREVENTED)
            self.eject()
        elif load_eject:
            self.load()
        return Reply()

    def prevent_allow(self, cdb: bytes) -> Reply:
        self.prevented = bool(cdb[4] & 0x01)
        return Reply()

    def read_capacity(self, _cdb: bytes) -> Reply:
        return self._needs_medium() or Reply(struct.pack(">II", self.blocks - 1, self.block_size))

    def read_format_capacities(self, cdb: bytes) -> Reply:
        code = 0x02 if self.loaded else 0x03  # formatted media / no media present
        descriptor = struct.pack(">IB", self.blocks, code) + self.block_size.to_bytes(3, "big")
        return _cut(bytes([0, 0, 0, 8]) + descriptor, _u16(cdb, 7))

    def read_10(self, cdb: bytes) -> Reply:
        return self._read(_u32(cdb, 2), _u16(cdb, 7))

    def read_12(self, cdb: bytes) -> Reply:
        return self._read(_u32(cdb, 2), _u32(cdb, 6))

    def _read(self, lba: int, count: int) -> Reply:
        missing = self._needs_medium()
        if missing is not None:
            return missing
        if lba + count > self.blocks:
            return Reply(sense=LBA_OUT_OF_RANGE)
        if count == 0:
            return Reply()
        self.blocks_read += count
        return Reply(self.read_blocks(lba, count))

    def mode_sense_6(self, cdb: bytes) -> Reply:
        pages = self._mode_pages(cdb[2] & 0x3F)
        if pages is None:
            return Reply(sense=INVALID_FIELD)
        header = bytes([len(pages) + 3, 0, 0x80 if self.floppy else 0, 0])
        return _cut(header + pages, cdb[4])

    def mode_sense_10(self, cdb: bytes) -> Reply:
        pages = self._mode_pages(cdb[2] & 0x3F)
        if pages is None:
            return Reply(sense=INVALID_FIELD)
        header = struct.pack(">HBBHH", len(pages) + 6, 0, 0x80 if self.floppy else 0, 0, 0)
        return _cut(header + pages, _u16(cdb, 7))

    def _mode_pages(self, code: int) -> bytes | None:
        """Read-error recovery (0x01) and, for a CD, capabilities (0x2A); 0x3F: all of them."""
        recovery = bytes([0x01, 0x0A, 0x00, 0x05]) + bytes(8)
        pages = {0x01: recovery}
        if not self.floppy:
            capabilities = bytearray(22)
            capabilities[0], capabilities[1] = 0x2A, 20
            capabilities[2] = 0x01  # reads CD-R
            capabilities[6] = 0x29  # tray loader, eject, lock
            capabilities[6] |= 0x02 if self.prevented else 0
            struct.pack_into(">H", capabilities, 12, 2)  # volume levels
            pages[0x2A] = bytes(capabilities)
        if code == 0x3F:
            return b"".join(pages[k] for k in sorted(pages))
        return pages.get(code)

    def read_toc(self, cdb: bytes) -> Reply:
        missing = self._needs_medium()
        if missing is not None:
            return missing
        msf, fmt, track = bool(cdb[1] & 0x02), cdb[2] & 0x0F, cdb[6]
        if fmt == 0 and cdb[9] & 0xC0:
            fmt = cdb[9] >> 6  # the older (SFF-8020) place of the format
        address = _msf if msf else (lambda lba: struct.pack(">I", lba))
        if fmt == 0:
            if track not in (0, 1, 0xAA):
                return Reply(sense=INVALID_FIELD)
            entries = [(1, 0), (0xAA, self.blocks)] if track != 0xAA else [(0xAA, self.blocks)]
            body = b"".join(bytes([0, 0x14, n, 0]) + address(lba) for n, lba in entries)
        elif fmt == 1:
            body = bytes([0, 0x14, 1, 0]) + address(0)
        else:
            return Reply(sense=INVALID_FIELD)
        return _cut(struct.pack(">HBB", len(body) + 2, 1, 1) + body, _u16(cdb, 7))

    def get_configuration(self, cdb: bytes) -> Reply:
        request, start = cdb[1] & 0x03, _u16(cdb, 2)
        present = self.loaded
        features = [
            (0x0000, True, struct.pack(">HBB", 0x0008, int(present), 0)),  # profile: CD-ROM
            (0x0001, True, struct.pack(">IBBH", 2, 0, 0, 0)),  # core: ATAPI
            (0x0002, True, bytes([0, 0, 0, 0])),  # morphing
            (0x0003, True, bytes([0x29 | (0x02 if self.prevented else 0), 0, 0, 0])),
            (0x0010, present, struct.pack(">IHBB", CD_SECTOR, 1, 0, 0)),  # random readable
            (0x001E, present, bytes([0, 0, 0, 0])),  # CD read
        ]
        out = b""
        for code, current, body in features:
            selected = code == start if request == 2 else code >= start
            if selected and (request != 1 or current):
                flags = (0x03 if current else 0x02) | (0x04 if code in (0x0001, 0x001E) else 0)
                out += struct.pack(">HBB", code, flags, len(body)) + body
        header = struct.pack(">IHH", len(out) + 4, 0, 0x0008 if present else 0)
        return _cut(header + out, _u16(cdb, 7))

    def get_event_status(self, cdb: bytes) -> Reply:
        if not cdb[1] & 0x01:
            return Reply(sense=INVALID_FIELD)  # only polled operation
        if not cdb[4] & 0x10:
            return _cut(struct.pack(">HBB", 2, 0x80, 0x10), _u16(cdb, 7))  # no event available
        event, self.media_event = self.media_event, 0
        status = 0x02 if self.loaded else 0x00
        body = struct.pack(">HBB", 4, 0x04, 0x10) + bytes([event, status, 0, 0])
        return _cut(body, _u16(cdb, 7))

    def read_disc_information(self, cdb: bytes) -> Reply:
        missing = self._needs_medium()
        if missing is not None:
            return missing
        data = bytearray(34)
        struct.pack_into(">H", data, 0, 32)
        data[2], data[3], data[4], data[5], data[6] = 0x0E, 1, 1, 1, 1  # complete, one track
        data[7] = 0x20  # unrestricted use
        return _cut(bytes(data), _u16(cdb, 7))


_WRITES = frozenset({Opcode.WRITE_10, Opcode.WRITE_12})
_Handler = Callable[[ScsiTarget, bytes], Reply]
_HANDLERS: dict[Opcode, _Handler] = {
    Opcode.TEST_UNIT_READY: ScsiTarget.unit_ready,
    Opcode.REQUEST_SENSE: ScsiTarget.request_sense,
    Opcode.INQUIRY: ScsiTarget.inquiry,
    Opcode.MODE_SENSE_6: ScsiTarget.mode_sense_6,
    Opcode.START_STOP_UNIT: ScsiTarget.start_stop_unit,
    Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL: ScsiTarget.prevent_allow,
    Opcode.READ_FORMAT_CAPACITIES: ScsiTarget.read_format_capacities,
    Opcode.READ_CAPACITY_10: ScsiTarget.read_capacity,
    Opcode.READ_10: ScsiTarget.read_10,
    Opcode.READ_TOC: ScsiTarget.read_toc,
    Opcode.GET_CONFIGURATION: ScsiTarget.get_configuration,
    Opcode.GET_EVENT_STATUS_NOTIFICATION: ScsiTarget.get_event_status,
    Opcode.READ_DISC_INFORMATION: ScsiTarget.read_disc_information,
    Opcode.MODE_SENSE_10: ScsiTarget.mode_sense_10,
    Opcode.READ_12: ScsiTarget.read_12,
}
