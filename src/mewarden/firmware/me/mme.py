"""``$MME`` module headers of ME 6-10 / TXE 1-2 FTPR manifests, and the Huffman LLUT.

API: :func:`parse_modules` (``data``, the :class:`Manifest`, ``partition_offset``) ->
tuple of :class:`MmeModule`; :func:`parse_llut` -> :class:`Llut` or None.
``header_offset`` and ``data_offset`` are absolute in ``data``; ``offset`` is as stored
(relative to the partition).

Facts (``../shared/reference/firmware.md`` §1.6 step 5, §2.3): headers start at
manifest+``header_length``+0xC (after the 12-byte partition name), 0x60 bytes each (0x80 on TXE,
told by where the next ``$MME`` is); +0x04 name[16], +0x14 hash[32], +0x34 load base, +0x38
offset, +0x3C uncompressed size, +0x40 stored size, +0x50 flags, compression = (flags >> 4) & 7
(0 none, 1 Huffman, 2 LZMA). Huffman modules share one ``LLUT`` stream: +0x04 chunk count,
+0x08 address base, +0x0C SPI base, +0x30 chunk size, chunk table at +0x40 (4 bytes per chunk,
low 24 bits = flash offset, top byte 0x80 = empty chunk).
"""

from __future__ import annotations

import enum
import struct

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.me.manifest import Manifest
from mewarden.record import Record

MME_TAG = b"$MME"
LLUT_TAG = b"LLUT"
MAX_MODULES = 64
_ERASED = 0xFF


class Compression(enum.IntEnum):
    """Module compression as stored in the ``$MME`` flags."""

    UNCOMPRESSED = 0
    HUFFMAN = 1
    LZMA = 2


class MmeModule(Record):
    """One FTPR module; ``present`` is False when its bytes were wiped to 0xFF."""

    name: str
    header_offset: int
    header_size: int
    load_base: int
    offset: int
    data_offset: int
    uncompressed_size: int
    size: int
    flags: int
    compression: Compression | int
    hash: bytes
    present: bool


class Llut(Record):
    """The Huffman lookup table shared by all Huffman modules."""

    offset: int
    chunk_count: int
    address_base: int
    spi_base: int
    huffman_length: int
    huffman_start: int
    chunk_size: int
    chunks: tuple[int, ...]


def header_size(data: bytes, first: int) -> int:
    """0x80 when the second header follows 0x80 bytes after the first (TXE), else 0x60."""
    return 0x80 if data[first + 0x80 : first + 0x84] == MME_TAG else 0x60


def parse_modules(data: bytes, manifest: Manifest, partition_offset: int) -> tuple[MmeModule, ...]:
    """The ``$MME`` modules of a pre-CSE manifest."""
    first = manifest.offset + manifest.header_length + 0xC
    count = manifest.num_modules
    if count > MAX_MODULES:
        raise FirmwareFormatError(f"manifest claims {count} modules", offset=manifest.offset)
    if count and data[first : first + 4] != MME_TAG:
        raise FirmwareFormatError("no $MME module header after the manifest", offset=first)
    stride = header_size(data, first) if count > 1 else 0x60
    if first + count * stride > len(data):
        raise FirmwareFormatError("module headers run past the end of data", offset=first)
    llut = parse_llut(data, partition_offset, data[first : first + count * stride], stride)
    return tuple(
        _module(data, first + i * stride, stride, partition_offset, llut) for i in range(count)
    )


def _module(data: bytes, at: int, stride: int, partition: int, llut: Llut | None) -> MmeModule:
    if data[at : at + 4] != MME_TAG:
        raise FirmwareFormatError("module header without $MME tag", offset=at)
    name = data[at + 4 : at + 0x14].split(b"\0", 1)[0].decode("ascii", "replace")
    load_base, offset, unc_size, size = struct.unpack_from("<4I", data, at + 0x34)
    flags = struct.unpack_from("<I", data, at + 0x50)[0]
    raw_comp = (flags >> 4) & 7
    compression: Compression | int = (
        Compression(raw_comp) if raw_comp in Compression._value2member_map_ else raw_comp
    )
    if compression == Compression.HUFFMAN:
        present = _huffman_present(data, llut, load_base, unc_size)
    else:
        present = _bytes_present(data, partition + offset, size)
    return MmeModule(
        name=name,
        header_offset=at,
        header_size=stride,
        load_base=load_base,
        offset=offset,
        data_offset=partition + offset,
        uncompressed_size=unc_size,
        size=size,
        flags=flags,
        compression=compression,
        hash=bytes(data[at + 0x14 : at + 0x34]),
        present=present,
    )


def _bytes_present(data: bytes, start: int, size: int) -> bool:
    if size <= 0 or start < 0 or start + size > len(data):
        return False
    return data.count(_ERASED, start, start + size) != size  # counted in place, no copy


def parse_llut(data: bytes, partition: int, headers: bytes, stride: int) -> Llut | None:
    """The LLUT at the first Huffman module's offset, or None when there is none."""
    for at in range(0, len(headers), stride):
        flags = struct.unpack_from("<I", headers, at + 0x50)[0]
        if (flags >> 4) & 7 == Compression.HUFFMAN:
            offset = partition + struct.unpack_from("<I", headers, at + 0x38)[0]
            break
    else:
        return None
    if data[offset : offset + 4] != LLUT_TAG or offset + 0x40 > len(data):
        return None
    count, base, spi, h_len, h_start = struct.unpack_from("<5I", data, offset + 4)
    chunk_size = struct.unpack_from("<I", data, offset + 0x30)[0]
    table_end = offset + 0x40 + count * 4
    if table_end > len(data) or chunk_size == 0:
        return None
    chunks = struct.unpack_from(f"<{count}I", data, offset + 0x40)
    return Llut(
        offset=offset,
        chunk_count=count,
        address_base=base,
        spi_base=spi,
        huffman_length=h_len,
        huffman_start=h_start,
        chunk_size=chunk_size,
        chunks=chunks,
    )


def _huffman_present(data: bytes, llut: Llut | None, load_base: int, unc_size: int) -> bool:
    """A Huffman module is present when any of its chunks is non-empty and not erased.

    Leading chunks of a module can be empty (zero-filled memory), so all are looked at.
    """
    if llut is None or unc_size == 0:
        return False
    first = (load_base - llut.address_base - 0x10000000) // llut.chunk_size
    last = first + -(-unc_size // llut.chunk_size)
    if not 0 <= first < llut.chunk_count:
        return False
    for chunk in llut.chunks[first : min(last, llut.chunk_count)]:
        if chunk >> 24 != 0x80 and _bytes_present(data, chunk & 0xFFFFFF, 0x10):
            return True
    return False
