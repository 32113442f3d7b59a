"""``$CPD`` code partition directories (ME 11+ / CSME): header and entries.

API: :func:`parse_cpd` (``data``, ``offset`` of ``$CPD``, ``partition_length``) -> :class:`Cpd`.
Entry ``offset`` is relative to the ``$CPD`` start (as stored), ``data_offset`` absolute.

Facts (``../shared/reference/firmware.md`` §1.7): count at +4, header version at +8 (1 or 2),
entry version at +9, header length at +0xA (0x10 for v1 with an 8-bit checksum at +0xB; 0x14
for v2 with a CRC-32 at +0x10), partition name at +0xC; entries of 0x18 bytes: name[12],
offset u32 (low 25 bits; bit 25 = Huffman), length u32, reserved u32. Each entry's data runs to
the next entry's offset (the last one to the partition end) when a cleaner needs its extent.
"""

from __future__ import annotations

import struct

from mewarden.errors import FirmwareFormatError
from mewarden.record import Record

CPD_TAG = b"$CPD"
ENTRY_SIZE = 0x18
MAX_ENTRIES = 0x100
_OFFSET_MASK = 0x01FFFFFF
_HUFFMAN_BIT = 1 << 25


class CpdEntry(Record):
    """One ``$CPD`` entry (a module, its ``.met`` metadata or the ``.man`` manifest)."""

    name: str
    header_offset: int
    offset: int
    data_offset: int
    length: int
    huffman: bool
    present: bool


class Cpd(Record):
    """A parsed ``$CPD`` directory."""

    offset: int
    header_version: int
    header_length: int
    partition_name: str
    entries: tuple[CpdEntry, ...]

    def entry(self, name: str) -> CpdEntry | None:
        """The entry called ``name``, or None."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None

    @property
    def manifest(self) -> CpdEntry | None:
        """The partition manifest entry (``<name>.man``)."""
        for entry in self.entries:
            if entry.name.endswith(".man"):
                return entry
        return None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def parse_cpd(data: bytes, offset: int, partition_length: int | None = None) -> Cpd:
    """Parse the ``$CPD`` at ``offset``."""
    if data[offset : offset + 4] != CPD_TAG:
        raise FirmwareFormatError("no $CPD directory", offset=offset)
    if offset + 0x14 > len(data):
        raise FirmwareFormatError("$CPD header truncated", offset=offset)
    count, hdr_ver, _entry_ver, hdr_len = struct.unpack_from("<IBBB", data, offset + 4)
    if hdr_ver not in (1, 2) or hdr_len not in (0x10, 0x14):
        raise FirmwareFormatError(f"unknown $CPD header version {hdr_ver}", offset=offset)
    if not 0 < count <= MAX_ENTRIES or offset + hdr_len + count * ENTRY_SIZE > len(data):
        raise FirmwareFormatError(f"$CPD entry count {count} does not fit", offset=offset)
    end = offset + partition_length if partition_length else len(data)
    entries = tuple(
        _entry(data, offset + hdr_len + i * ENTRY_SIZE, offset, end) for i in range(count)
    )
    return Cpd(
        offset=offset,
        header_version=hdr_ver,
        header_length=hdr_len,
        partition_name=_text(data[offset + 0xC : offset + 0x10]),
        entries=entries,
    )


def _entry(data: bytes, at: int, base: int, end: int) -> CpdEntry:
    name, raw_offset, length = struct.unpack_from("<12sII", data, at)
    offset = raw_offset & _OFFSET_MASK
    start = base + offset
    stop = min(start + min(length, 0x1000), end, len(data))
    present = stop > start and data.count(0xFF, start, stop) != stop - start  # no slice copy
    return CpdEntry(
        name=_text(name),
        header_offset=at,
        offset=offset,
        data_offset=start,
        length=length,
        huffman=bool(raw_offset & _HUFFMAN_BIT),
        present=present,
    )
