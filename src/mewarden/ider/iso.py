"""ISO 9660 volume descriptors and El Torito boot catalogs (pure: bytes in, values out).

What a BIOS reads to boot a CD, in order (ECMA-119 and the El Torito specification):

* sector 16 onwards, 2048-byte volume descriptors, each ``type`` + ``CD001`` + version 1, up to
  the terminator (type 255): the primary volume descriptor (type 1) carries the volume id
  (bytes 40-71), the volume size in sectors (both-endian u32 at 80) and the block size
  (both-endian u16 at 128, 2048 for a CD); the boot record (type 0) carries
  ``EL TORITO SPECIFICATION`` at 7 and the boot catalog's sector (u32 LE at 71);
* the boot catalog: a validation entry (header id 1, platform, id string, a checksum that makes
  the sum of its sixteen u16 words zero, key bytes 55 AA) and the initial/default entry (0x88
  bootable, media type, load segment, system type, sector count of 512-byte virtual sectors,
  load RBA);
* the boot image: ``sector count`` x 512 bytes at the load RBA without emulation, the whole
  floppy (1.2/1.44/2.88 MB) with floppy emulation, the first partition's end with hard-disk
  emulation (from the image's own MBR).

Every failure is an :class:`IsoError` whose message says what a BIOS would stop at.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass

from mewarden.errors import BadInputError

SECTOR = 2048
VIRTUAL_SECTOR = 512
FIRST_DESCRIPTOR = 16
MAX_DESCRIPTORS = 64
"""Descriptors a BIOS reads before it gives up on finding the terminator (a bound, not a rule)."""
STANDARD_ID = b"CD001"
EL_TORITO_ID = b"EL TORITO SPECIFICATION"
BOOTABLE = 0x88
_FLOPPY_BYTES = {1: 1_228_800, 2: 1_474_560, 3: 2_949_120}


class IsoError(BadInputError):
    """The image is not ISO 9660, or not bootable the way El Torito says."""


class DescriptorType(enum.IntEnum):
    """ECMA-119 volume descriptor types."""

    BOOT_RECORD = 0
    PRIMARY = 1
    SUPPLEMENTARY = 2
    PARTITION = 3
    TERMINATOR = 255


class BootMedia(enum.IntEnum):
    """El Torito boot media types (low nibble of the entry's byte 1)."""

    NO_EMULATION = 0
    FLOPPY_1_2M = 1
    FLOPPY_1_44M = 2
    FLOPPY_2_88M = 3
    HARD_DISK = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class PrimaryVolume:
    """What the primary volume descriptor says."""

    volume_id: str
    system_id: str
    sectors: int
    block_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BootEntry:
    """The boot catalog's validation and initial/default entries."""

    platform: int
    bootable: bool
    media: BootMedia
    load_segment: int
    sector_count: int
    load_rba: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BootableCd:
    """A checked bootable CD: what the emulated BIOS reports after reading it."""

    volume: PrimaryVolume
    catalog_sector: int
    entry: BootEntry
    boot_image_sha256: str
    boot_image_bytes: int


def _both_endian_u32(raw: bytes, offset: int) -> int:
    little, big = (
        struct.unpack_from("<I", raw, offset)[0],
        struct.unpack_from(">I", raw, offset + 4)[0],
    )
    if little != big:
        raise IsoError(f"primary volume descriptor: both-endian field at {offset} disagrees")
    return int(little)


def descriptor_type(sector: bytes, lba: int) -> DescriptorType:
    """The type of the volume descriptor in ``sector`` (IsoError when it is none)."""
    if len(sector) < SECTOR or sector[1:6] != STANDARD_ID or sector[6] != 1:
        raise IsoError(f"no ISO 9660 volume descriptor at sector {lba} (not an ISO 9660 image)")
    try:
        return DescriptorType(sector[0])
    except ValueError:
        raise IsoError(f"unknown volume descriptor type {sector[0]} at sector {lba}") from None


def parse_primary(sector: bytes) -> PrimaryVolume:
    """The primary volume descriptor's volume id, size and block size."""
    block = struct.unpack_from("<H", sector, 128)[0]
    if block != struct.unpack_from(">H", sector, 130)[0] or block != SECTOR:
        raise IsoError(f"primary volume descriptor: block size {block}, a CD needs {SECTOR}")
    return PrimaryVolume(
        volume_id=sector[40:72].decode("ascii", "replace").rstrip(" \x00"),
        system_id=sector[8:40].decode("ascii", "replace").rstrip(" \x00"),
        sectors=_both_endian_u32(sector, 80),
        block_size=block,
    )


def boot_catalog_sector(sector: bytes) -> int | None:
    """The boot catalog's sector from an El Torito boot record (None: another boot system)."""
    if sector[7:39].rstrip(b"\x00") != EL_TORITO_ID:
        return None
    return int(struct.unpack_from("<I", sector, 71)[0])


def parse_catalog(sector: bytes) -> BootEntry:
    """The validation entry (checked) and the initial/default entry of a boot catalog."""
    validation = sector[:32]
    if len(validation) < 32 or validation[0] != 1 or validation[30:32] != b"\x55\xaa":
        raise IsoError("boot catalog: no validation entry (header 01 ... 55 AA)")
    if sum(struct.unpack("<16H", validation)) & 0xFFFF:
        raise IsoError("boot catalog: validation entry checksum does not sum to zero")
    entry = sector[32:64]
    try:
        media = BootMedia(entry[1] & 0x0F)
    except ValueError:
        raise IsoError(f"boot catalog: unknown boot media type {entry[1] & 0x0F}") from None
    load_segment, _system, _unused, count, rba = struct.unpack_from("<HBBHI", entry, 2)
    return BootEntry(
        platform=validation[1],
        bootable=entry[0] == BOOTABLE,
        media=media,
        load_segment=load_segment,
        sector_count=count,
        load_rba=rba,
    )


def boot_image_length(entry: BootEntry, first_sector: bytes) -> int:
    """Bytes of the boot image a BIOS loads (``first_sector``: the image's first 2048 bytes)."""
    if entry.media is BootMedia.NO_EMULATION:
        return max(entry.sector_count, 1) * VIRTUAL_SECTOR
    if entry.media is not BootMedia.HARD_DISK:
        return _FLOPPY_BYTES[int(entry.media)]
    if first_sector[510:512] != b"\x55\xaa":
        raise IsoError("hard-disk emulation boot image has no MBR (55 AA)")
    start, count = struct.unpack_from("<II", first_sector, 446 + 8)
    if count == 0:
        raise IsoError("hard-disk emulation boot image: the first partition is empty")
    return int(start + count) * VIRTUAL_SECTOR


ReadSectors = Callable[[int, int], bytes]
"""(first LBA, count) -> ``count`` x 2048 bytes (a file, or SCSI READ over IDER)."""


ReadRequest = tuple[int, int]
"""(first LBA, count) of 2048-byte sectors to read."""
BootWalk = Generator[ReadRequest, bytes, BootableCd]


def walk_bootable(capacity: int) -> BootWalk:
    """Read a CD as a BIOS does, one read request at a time (sans-IO: send the sectors back).

    ``capacity`` is the medium's size in 2048-byte sectors (READ CAPACITY's answer + 1).
    Returns the checked :class:`BootableCd`; IsoError at the first thing a BIOS rejects.
    """
    volume: PrimaryVolume | None = None
    catalog: int | None = None
    for lba in range(FIRST_DESCRIPTOR, min(FIRST_DESCRIPTOR + MAX_DESCRIPTORS, capacity)):
        sector = yield (lba, 1)
        kind = descriptor_type(sector, lba)
        if kind is DescriptorType.PRIMARY and volume is None:
            volume = parse_primary(sector)
        elif kind is DescriptorType.BOOT_RECORD and catalog is None:
            catalog = boot_catalog_sector(sector)
        elif kind is DescriptorType.TERMINATOR:
            break
    else:
        raise IsoError("no volume descriptor set terminator (not an ISO 9660 image)")
    if volume is None:
        raise IsoError("no primary volume descriptor (not an ISO 9660 image)")
    if catalog is None:
        raise IsoError(f"volume {volume.volume_id!r} has no El Torito boot record: not bootable")
    _within(catalog, 1, capacity, "boot catalog")
    entry = parse_catalog((yield (catalog, 1)))
    if not entry.bootable:
        raise IsoError(f"volume {volume.volume_id!r}: the default boot entry is not bootable")
    _within(entry.load_rba, 1, capacity, "boot image")
    first = yield (entry.load_rba, 1)
    length = boot_image_length(entry, first)
    sectors = -(-length // SECTOR)
    _within(entry.load_rba, sectors, capacity, "boot image")
    rest = (yield (entry.load_rba + 1, sectors - 1)) if sectors > 1 else b""
    return BootableCd(
        volume=volume,
        catalog_sector=catalog,
        entry=entry,
        boot_image_sha256=hashlib.sha256((first + rest)[:length]).hexdigest(),
        boot_image_bytes=length,
    )


def find_bootable(read: ReadSectors, capacity: int) -> BootableCd:
    """:func:`walk_bootable` over a synchronous reader (a file)."""
    walk = walk_bootable(capacity)
    try:
        request = next(walk)
        while True:
            request = walk.send(read(*request))
    except StopIteration as done:
        result: BootableCd = done.value
        return result


def _within(lba: int, count: int, capacity: int, what: str) -> None:
    if lba < FIRST_DESCRIPTOR or lba + count > capacity:
        raise IsoError(f"{what} at sector {lba} lies outside the medium ({capacity} sectors)")
