"""The ME Flash Partition Table (``$FPT``): header, entries, checksum.

API (offsets are relative to the ``data`` passed in, i.e. the ME region):

* :func:`find_fpt` -> offset of ``$FPT`` at +0 or +0x10 (after the 16-byte ROM-bypass vector).
* :func:`parse_fpt` -> :class:`Fpt` with every :class:`FptEntry` (``header_offset`` = where the
  0x20-byte entry sits, ``offset``/``length`` = the partition data).

Facts (``../shared/reference/firmware.md`` §1.4, §2.3): entry count at ``$FPT``+4, header
version at +8 (0x20 = classic, 0x21 = CSME 12+ data partition), header length at +0xA, entries of
0x20 bytes after the header (``$FPT``+0x20). Header 0x20: an 8-bit checksum at +0xB makes the
bytes of the header (including the ROM-bypass vector when the header length is 0x30) sum to 0.
Header 0x21: a CRC-32 at +0x14 over header and entries with that field zeroed. Entry flags
``& 0x7F == 2`` mark an NVRAM partition that has no data in flash.
"""

from __future__ import annotations

import enum
import struct

from mewarden.errors import FirmwareFormatError
from mewarden.record import Record

FPT_TAG = b"$FPT"
ENTRY_SIZE = 0x20
MAX_ENTRIES = 0x7F  # MEA's $FPT signature allows counts 1..0x7F
_NVRAM_TYPE = 2


class ChecksumKind(enum.StrEnum):
    """How the FPT header protects itself."""

    SUM8 = "sum8"
    CRC32 = "crc32"


class FptEntry(Record):
    """One FPT entry; ``offset``/``length`` locate the partition data in the region."""

    index: int
    name: str
    owner: str
    offset: int
    length: int
    flags: int
    header_offset: int

    @property
    def nvram(self) -> bool:
        """True for NVRAM entries, which have no data in flash."""
        return self.flags & 0x7F == _NVRAM_TYPE

    @property
    def has_data(self) -> bool:
        """True when the entry points at bytes in flash (me_cleaner's "data here" rule)."""
        return (
            not self.nvram
            and self.length not in (0, 0xFFFFFFFF)
            and self.offset
            not in (
                0,
                0xFFFFFFFF,
            )
        )


class Fpt(Record):
    """A parsed ``$FPT``; ``offset`` is where the tag is."""

    offset: int
    header_version: int
    header_length: int
    entry_count: int
    checksum_kind: ChecksumKind
    stored_checksum: int
    computed_checksum: int
    flags: int
    entries: tuple[FptEntry, ...]

    @property
    def checksum_valid(self) -> bool:
        """Whether the stored checksum matches the bytes."""
        return self.stored_checksum == self.computed_checksum

    def entry(self, name: str) -> FptEntry | None:
        """The first entry called ``name``, or None."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None


def find_fpt(data: bytes) -> int | None:
    """Offset of ``$FPT`` at +0 or +0x10, or None."""
    for offset in (0x10, 0):
        if data[offset : offset + 4] == FPT_TAG:
            return offset
    return None


def _name(raw: bytes) -> str:
    """The ASCII name, or ``0x`` + hex when the bytes are not a printable name."""
    text = raw.split(b"\0", 1)[0]
    if text.isascii() and text.decode("ascii").isprintable():
        return text.decode("ascii")
    return "0x" + raw.hex()


def sum8_checksum(data: bytes, start: int, end: int, checksum_at: int) -> int:
    """The byte at ``checksum_at`` that makes ``data[start:end]`` sum to zero (mod 256).

    The byte's current value is left out, so this both checks a header and fixes one.
    """
    total = sum(data[start:end]) - data[checksum_at]
    return (-total) & 0xFF


CHECKSUM_FROM_FPT = 0x0B
"""Where the checksum byte sits, from the ``$FPT`` tag."""


def _checksum_range(fpt: int, header_only: bool) -> tuple[int, int]:
    return (fpt if header_only else 0), fpt + 0x20


def fpt_checksum(region: bytes, fpt: int, *, header_only: bool) -> int:
    """The checksum byte the ``$FPT`` at ``fpt`` needs (``header_only``: the ME 11 range)."""
    start, end = _checksum_range(fpt, header_only)
    return sum8_checksum(region, start, end, fpt + CHECKSUM_FROM_FPT)


def parse_fpt(data: bytes, offset: int | None = None) -> Fpt:
    """Parse the ``$FPT`` at ``offset`` (default: :func:`find_fpt`)."""
    if offset is None:
        offset = find_fpt(data)
    if offset is None or data[offset : offset + 4] != FPT_TAG:
        raise FirmwareFormatError("no $FPT partition table", offset=offset or 0)
    if len(data) < offset + 0x20:
        raise FirmwareFormatError("$FPT header truncated", offset=offset)
    count, hdr_ver, _entry_ver, hdr_len, stored = struct.unpack_from("<IBBBB", data, offset + 4)
    if not 1 <= count <= MAX_ENTRIES:
        raise FirmwareFormatError(f"$FPT entry count {count} out of range 1..127", offset=offset)
    table_end = offset + 0x20 + count * ENTRY_SIZE
    if table_end > len(data):
        raise FirmwareFormatError(f"$FPT lists {count} entries past the end of data", offset=offset)
    flags = struct.unpack_from("<I", data, offset + 0x14)[0]
    entries = tuple(_entry(data, offset + 0x20 + i * ENTRY_SIZE, i) for i in range(count))
    if hdr_ver >= 0x21:
        kind, stored_value = ChecksumKind.CRC32, flags
        zeroed = data[offset : offset + 0x14] + b"\0" * 4 + data[offset + 0x18 : table_end]
        import zlib  # CRC-32 headers are CSME 12+ only: older images never load it

        computed = zlib.crc32(zeroed)
    else:
        kind, stored_value = ChecksumKind.SUM8, stored
        start = offset + 0x20 - hdr_len if hdr_len in (0x20, 0x30) else offset
        computed = sum8_checksum(data, max(start, 0), offset + 0x20, offset + 0xB)
    return Fpt(
        offset=offset,
        header_version=hdr_ver,
        header_length=hdr_len,
        entry_count=count,
        checksum_kind=kind,
        stored_checksum=stored_value,
        computed_checksum=computed,
        flags=flags,
        entries=entries,
    )


def _entry(data: bytes, at: int, index: int) -> FptEntry:
    name, owner, offset, length, flags = struct.unpack_from("<4s4sII12xI", data, at)
    return FptEntry(
        index=index,
        name=_name(name),
        owner=_name(owner),
        offset=offset,
        length=length,
        flags=flags,
        header_offset=at,
    )
