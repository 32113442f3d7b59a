"""The emulated BIOS booting from the IDER drive: the commands a real one issues (pure).

Sans-IO: :func:`bios_boot` is a generator that yields 12-byte CDBs and is sent each command's
:class:`~mewarden.ider.scsi.Reply`; it returns the :class:`IderBootResult` the device model
reports. For a CD it waits for the drive (TEST UNIT READY, riding out the unit attention a
fresh medium reports), checks it is a CD-ROM (INQUIRY), reads the capacity (READ CAPACITY),
then walks the ISO as a BIOS does (:func:`mewarden.ider.iso.walk_bootable`: the volume
descriptors from sector 16, the El Torito boot record and catalog, the boot image) with
READ(10). For a floppy it reads the boot sector and checks the 55 AA signature. Anything a
BIOS would stop at becomes a non-bootable result with the reason.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Generator

from mewarden.emulate.values import IderBootResult
from mewarden.ider.iso import IsoError, walk_bootable
from mewarden.ider.scsi import CD_SECTOR, FLOPPY_SECTOR, Opcode, Reply, SenseKey

BiosBoot = Generator[bytes, Reply, IderBootResult]

READY_ATTEMPTS = 5
MAX_READ_SECTORS = 16
"""Sectors per READ(10): a BIOS reads through a small real-mode buffer."""


def _cdb(opcode: Opcode, body: bytes = b"") -> bytes:
    return (bytes([opcode]) + body).ljust(12, b"\x00")


def read_10(lba: int, count: int) -> bytes:
    return _cdb(Opcode.READ_10, struct.pack(">xIxH", lba, count))


def _failed(error: str, sectors: int = 0) -> IderBootResult:
    return IderBootResult(bootable=False, error=error, sectors_read=sectors)


def _sense(reply: Reply) -> str:
    sense = reply.sense
    if sense is None:
        return "no sense"
    return f"sense {sense.key.name.lower().replace('_', ' ')} {sense.asc:02X}/{sense.ascq:02X}"


def _wait_ready() -> Generator[bytes, Reply, str | None]:
    """TEST UNIT READY until ready; the error text when the drive never gets ready."""
    reply = Reply()
    for _ in range(READY_ATTEMPTS):
        reply = yield _cdb(Opcode.TEST_UNIT_READY)
        if reply.good:
            return None
        if reply.sense is not None and reply.sense.key is not SenseKey.UNIT_ATTENTION:
            break
    if reply.sense is not None and reply.sense.asc == 0x3A:
        return "no medium in the IDER drive"
    return f"the IDER drive is not ready ({_sense(reply)})"


def _capacity(block: int) -> Generator[bytes, Reply, int | str]:
    """READ CAPACITY: the number of blocks, or the error text."""
    reply = yield _cdb(Opcode.READ_CAPACITY_10)
    if not reply.good or len(reply.data) < 8:
        return f"READ CAPACITY failed ({_sense(reply)})"
    last, size = struct.unpack(">II", reply.data[:8])
    if size != block:
        return f"the IDER drive reports {size}-byte blocks, expected {block}"
    return int(last) + 1


def bios_boot(*, cd: bool = True) -> BiosBoot:
    """Boot from the IDER CD (``cd``) or floppy, as a BIOS does."""
    problem = yield from _wait_ready()
    if problem is not None:
        return _failed(problem)
    inquiry = yield _cdb(Opcode.INQUIRY, bytes([0, 0, 0, 36]))
    wanted = 0x05 if cd else 0x00
    if not inquiry.good or not inquiry.data or inquiry.data[0] & 0x1F != wanted:
        return _failed(f"the IDER device is not a {'CD-ROM' if cd else 'floppy'}")
    blocks = yield from _capacity(CD_SECTOR if cd else FLOPPY_SECTOR)
    if isinstance(blocks, str):
        return _failed(blocks)
    if not cd:
        return (yield from _floppy())
    return (yield from _cd(blocks))


def _cd(blocks: int) -> BiosBoot:
    walk = walk_bootable(blocks)
    sectors = 0
    try:
        request = next(walk)
        while True:
            lba, count = request
            data = b""
            for at in range(lba, lba + count, MAX_READ_SECTORS):
                n = min(MAX_READ_SECTORS, lba + count - at)
                reply = yield read_10(at, n)
                if not reply.good or len(reply.data) != n * CD_SECTOR:
                    return _failed(f"READ of sector {at} failed ({_sense(reply)})", sectors)
                sectors += n
                data += reply.data
            request = walk.send(data)
    except IsoError as exc:
        return _failed(str(exc), sectors)
    except StopIteration as done:
        cd = done.value
    return IderBootResult(
        bootable=True,
        volume_id=cd.volume.volume_id,
        boot_image_sha256=cd.boot_image_sha256,
        sectors_read=sectors,
    )


def _floppy() -> BiosBoot:
    reply = yield read_10(0, 1)
    if not reply.good or len(reply.data) != FLOPPY_SECTOR:
        return _failed(f"READ of the boot sector failed ({_sense(reply)})")
    sector = reply.data
    if sector[510:512] != b"\x55\xaa":
        return _failed("the floppy's boot sector has no 55 AA signature: not bootable", 1)
    label = sector[43:54].decode("ascii", "replace").strip() if sector[38] == 0x29 else ""
    return IderBootResult(
        bootable=True,
        volume_id=label,
        boot_image_sha256=hashlib.sha256(sector).hexdigest(),
        sectors_read=1,
    )
