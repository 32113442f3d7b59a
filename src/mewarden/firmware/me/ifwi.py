"""CSME 12+ "IFWI" layout: the CSE layout table and BPDT boot partition directories.

API: :func:`parse_layout_table` (ME region) -> :class:`LayoutTable` or None;
:func:`parse_bpdt` (``data``, ``offset``) -> :class:`Bpdt`. Entry offsets are relative to the
BPDT start as stored; ``data_offset`` is absolute.

Facts (``../shared/reference/firmware.md`` §2.3, §5): IFWI 1.6 (CSME 12-15) has offset/size
pairs for Data, BP1..BP5 from +0x10 after the 16-byte ROM-bypass vector; IFWI 1.7 (CSME 16+)
has a u16 table size (0x40/0x48) at +0x10, flags at +0x12, a CRC-32 at +0x14 and the pairs
from +0x18. BPDT: ``AA 55 00 00`` (``AA 55 AA 00`` recovery), entry count u16 at +4, version
u16 at +6 (1 = IFWI 1.6, 2 = 1.7), 12-byte entries from +0x18 (type u16, flags u16, offset,
size); type 2 = FTPR (see :data:`BPDT_TYPES`).
"""

from __future__ import annotations

import struct

from mewarden.errors import FirmwareFormatError
from mewarden.record import Record

BPDT_SIGNATURES = (b"\xaa\x55\x00\x00", b"\xaa\x55\xaa\x00")
BPDT_ENTRY_SIZE = 12
MAX_BPDT_ENTRIES = 64
SLOT_NAMES = ("data", "bp1", "bp2", "bp3", "bp4", "bp5")

BPDT_TYPES: dict[int, str] = {
    0: "SMIP", 1: "RBEP", 2: "FTPR", 3: "UCOD", 4: "IBBP", 5: "S-BPDT", 6: "OBBP", 7: "NFTP",
    8: "ISHC", 9: "DLMP", 10: "UEPB", 11: "UTOK", 12: "UFS_PHY", 13: "UFS_GPP", 14: "PMCP",
    15: "IUNP", 16: "NVMC", 17: "UEP", 18: "WCOD", 19: "LOCL", 20: "OEMP", 21: "FITC",
    22: "PAVP", 23: "IOMP", 24: "xPHY", 25: "TBTP", 26: "PLTS", 31: "DPHY", 32: "PCHC",
}  # fmt: skip


class LayoutSlot(Record):
    """One area of the CSE layout table (``data``, ``bp1`` ...); offsets relative to the region."""

    name: str
    offset: int
    size: int


class LayoutTable(Record):
    """The CSE layout table at the start of an IFWI ME region."""

    ifwi_version: str
    slots: tuple[LayoutSlot, ...]

    def slot(self, name: str) -> LayoutSlot | None:
        """The slot called ``name`` if it is not empty."""
        for slot in self.slots:
            if slot.name == name:
                return slot
        return None


class BpdtEntry(Record):
    """One BPDT entry; ``present`` is False for empty (size 0) entries."""

    type: int
    name: str
    flags: int
    offset: int
    data_offset: int
    size: int
    header_offset: int


class Bpdt(Record):
    """A parsed BPDT."""

    offset: int
    version: int
    recovery: bool
    entries: tuple[BpdtEntry, ...]


def _slots(data: bytes, start: int, limit: int) -> tuple[LayoutSlot, ...]:
    slots: list[LayoutSlot] = []
    for index, name in enumerate(SLOT_NAMES):
        offset, size = struct.unpack_from("<II", data, start + index * 8)
        if size and offset:
            if offset + size > limit:
                raise FirmwareFormatError(f"IFWI {name} runs past the region end", offset=start)
            slots.append(LayoutSlot(name=name, offset=offset, size=size))
    return tuple(slots)


def parse_layout_table(data: bytes) -> LayoutTable | None:
    """The CSE layout table at +0x10 of an ME region, or None when there is none."""
    if len(data) < 0x60:
        return None
    table_size, _flags = struct.unpack_from("<HH", data, 0x10)
    if table_size in (0x40, 0x48):
        version, start = "1.7", 0x18
    else:
        version, start = "1.6", 0x10
    try:
        slots = _slots(data, start, len(data))
    except FirmwareFormatError:
        return None
    found = [s for s in slots if data[s.offset : s.offset + 4] in (b"$FPT", *BPDT_SIGNATURES)]
    if not found:
        return None
    return LayoutTable(ifwi_version=version, slots=slots)


def parse_bpdt(data: bytes, offset: int) -> Bpdt:
    """Parse the BPDT at ``offset``."""
    signature = data[offset : offset + 4]
    if signature not in BPDT_SIGNATURES:
        raise FirmwareFormatError("no BPDT signature", offset=offset)
    if offset + 0x18 > len(data):
        raise FirmwareFormatError("BPDT header truncated", offset=offset)
    count, version = struct.unpack_from("<HH", data, offset + 4)
    if count > MAX_BPDT_ENTRIES or offset + 0x18 + count * BPDT_ENTRY_SIZE > len(data):
        raise FirmwareFormatError(f"BPDT entry count {count} does not fit", offset=offset)
    entries = []
    for index in range(count):
        at = offset + 0x18 + index * BPDT_ENTRY_SIZE
        kind, flags, rel, size = struct.unpack_from("<HHII", data, at)
        entries.append(
            BpdtEntry(
                type=kind,
                name=BPDT_TYPES.get(kind, f"type-{kind}"),
                flags=flags,
                offset=rel,
                data_offset=offset + rel,
                size=size,
                header_offset=at,
            )
        )
    return Bpdt(
        offset=offset,
        version=version,
        recovery=signature == BPDT_SIGNATURES[1],
        entries=tuple(entries),
    )
