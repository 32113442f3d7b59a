"""Moving FTPR towards the start of the ME region, and the size the ME region can shrink to.

Facts (``../shared/reference/firmware.md`` §1.6 items 6-7, me_cleaner 1.2 semantics):

* the target offset is 0x400. With Huffman modules, the ME adds bytes 1-2 of the LLUT's
  AddrBase (LLUT +0x09, a u16) to SpiBase, so the new offset is raised to at least
  ``that - llut - 0x40 + old`` and aligned up to 0x20;
* the FPT entry offset (FTPR is entry 0 after cleaning, at region +0x38), LLUT SpiBase (+0x0C;
  SpiBase plus that AddrBase correction is the chunk table, LLUT +0x40), LLUT Huffman start
  (+0x14) and every non-empty chunk start move by the same delta; the partition data moves and
  its old place becomes 0xFF;
* the minimum ME size is the end of kept data rounded to the next 4 KiB page (always adding a
  page) plus 4 spare pages.
"""

from __future__ import annotations

import struct

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.me.fpt import CHECKSUM_FROM_FPT, Fpt, FptEntry, fpt_checksum
from mewarden.firmware.me.mme import Llut
from mewarden.record import Record

MIN_FTPR_OFFSET = 0x400
PAGE = 0x1000
SPARE_PAGES = 4
FIRST_ENTRY = 0x30
"""Region offset of FPT entry 0 (``$FPT`` at +0x10, entries from its +0x20)."""


class Write(Record):
    """Write ``data`` at region offset ``offset``."""

    offset: int
    data: bytes


class Fill(Record):
    """Fill region bytes ``start``..``end`` (exclusive) with 0xFF."""

    start: int
    end: int


class Move(Record):
    """Move ``size`` bytes from ``source`` to ``target``; the vacated bytes become 0xFF."""

    source: int
    target: int
    size: int


Operation = Write | Fill | Move


class Relocation(Record):
    """The operations that move FTPR, and by how much it moves (negative: towards 0)."""

    operations: tuple[Operation, ...]
    old_offset: int
    new_offset: int

    @property
    def delta(self) -> int:
        """How far FTPR moved."""
        return self.new_offset - self.old_offset


def relocation_target(old_offset: int, llut: Llut | None) -> int:
    """Where FTPR goes: 0x400, or later when the LLUT's AddrBase forces it."""
    target = MIN_FTPR_OFFSET
    if llut is not None:
        correction = (llut.address_base >> 8) & 0xFFFF  # LLUT bytes 9-10
        target = max(target, correction - llut.offset - 0x40 + old_offset)
        target = (target + 0x1F) // 0x20 * 0x20
    return target


def _shifted_chunks(llut: Llut, delta: int) -> bytes:
    table = bytearray()
    for chunk in llut.chunks:
        moved = chunk if chunk >> 24 == 0x80 else chunk & 0xFF000000 | (chunk + delta) & 0xFFFFFF
        table += struct.pack("<I", moved)
    return bytes(table)


def plan_relocation(
    region_size: int, old_offset: int, length: int, llut: Llut | None, *, entry: int = FIRST_ENTRY
) -> Relocation | None:
    """Operations moving FTPR, whose FPT entry is at region offset ``entry`` after cleaning.

    None when FTPR cannot move towards the start of the region.
    """
    new_offset = relocation_target(old_offset, llut)
    if new_offset >= old_offset:
        return None
    delta = new_offset - old_offset
    operations: list[Operation] = [Write(offset=entry + 0x08, data=struct.pack("<I", new_offset))]
    if llut is not None:
        at, spi_base, huffman_start = llut.offset, llut.spi_base + delta, llut.huffman_start + delta
        if not (0 <= spi_base < 1 << 32 and 0 <= huffman_start < 1 << 32):
            raise FirmwareFormatError("the LLUT's SPI base or Huffman start cannot move", offset=at)
        operations += [
            Write(offset=at + 0x0C, data=struct.pack("<I", spi_base)),
            Write(offset=at + 0x14, data=struct.pack("<I", huffman_start)),
            Write(offset=at + 0x40, data=_shifted_chunks(llut, delta)),
        ]
    size = min(length, region_size - old_offset)
    operations.append(Move(source=old_offset, target=new_offset, size=size))
    return Relocation(operations=tuple(operations), old_offset=old_offset, new_offset=new_offset)


def rewrite_fpt(
    region: bytes, table: Fpt, kept: tuple[FptEntry, ...], *, clear_effs: bool, header_only: bool
) -> list[Operation]:
    """The writes that leave only ``kept`` in the FPT (§1.6 items 2-4).

    Kept entries move to the front of the table, the freed slots become 0xFF, the count is
    updated, the EFFS-present flag (bit 0 of ``$FPT`` +0x14) is cleared if asked, and the
    checksum is recomputed.
    """
    fpt = table.offset
    entries = b"".join(region[e.header_offset : e.header_offset + 0x20] for e in kept)
    entries += b"\xff" * (0x20 * (len(table.entries) - len(kept)))
    header = bytearray(region[: fpt + 0x20])
    struct.pack_into("<I", header, fpt + 4, len(kept))
    if clear_effs:
        (flags,) = struct.unpack_from("<I", header, fpt + 0x14)
        struct.pack_into("<I", header, fpt + 0x14, flags & ~1)
    header[fpt + CHECKSUM_FROM_FPT] = fpt_checksum(bytes(header), fpt, header_only=header_only)
    return [Write(offset=0, data=bytes(header)), Write(offset=fpt + 0x20, data=entries)]


def minimum_size(end_of_data: int) -> int:
    """The smallest ME region size that keeps ``end_of_data`` bytes (me_cleaner's rounding)."""
    return (end_of_data // PAGE + 1) * PAGE + SPARE_PAGES * PAGE


def needed_prefix(operations: tuple[Operation, ...], keep: int) -> int:
    """How many leading region bytes decide the first ``keep`` bytes after ``operations``.

    Fills and writes read nothing; a Move reads only the part of its source whose bytes land
    below the bound that matters after it. Walking the operations backwards from ``keep`` gives
    the bound that matters before them all: a truncated output needs only this prefix of the
    region, copied and changed (:func:`apply_operations` cuts each Move at the prefix's end).
    """
    bound = keep
    for op in reversed(operations):
        if isinstance(op, Move) and op.target < bound:
            bound = max(bound, op.source + min(op.size, bound - op.target))
    return bound


def apply_operations(
    region: bytearray, operations: tuple[Operation, ...], *, region_size: int | None = None
) -> None:
    """Apply ``operations`` in order to ``region`` (in place; the caller owns the copy).

    ``region`` may be the first :func:`needed_prefix` bytes of a region of ``region_size``
    bytes: the operations are checked against the whole region, what they write past the
    prefix is dropped, and a Move takes only the source bytes the prefix holds.
    """
    size = len(region) if region_size is None else region_size
    for op in operations:
        _check_operation(op, size)
    # One erased buffer serves every fill: allocating (and page-faulting) a fresh 0xFF string
    # per fill cost more than the rest of neutralizing an ME region.
    erased = memoryview(
        b"\xff" * min(max((_span(op) for op in operations), default=0), len(region))
    )
    for op in operations:
        if isinstance(op, Fill):
            _put(region, op.start, erased[: op.end - op.start])
        elif isinstance(op, Write):
            _put(region, op.offset, memoryview(op.data))
        else:
            end = min(op.source + op.size, len(region))  # the rest lands past the prefix
            block = bytes(region[op.source : end])
            _put(region, op.source, erased[: op.size])
            _put(region, op.target, memoryview(block))


def _put(region: bytearray, offset: int, data: memoryview) -> None:
    """``data`` at ``offset``, cut at the end of ``region`` (never growing it)."""
    end = min(offset + len(data), len(region))
    if end > offset:
        region[offset:end] = data[: end - offset]


def _check_operation(op: Operation, size: int) -> None:
    if isinstance(op, Fill):
        _check(size, op.start, op.end - op.start)
    elif isinstance(op, Write):
        _check(size, op.offset, len(op.data))
    else:
        _check(size, op.source, op.size)
        _check(size, op.target, op.size)


def _span(op: Operation) -> int:
    """How many erased bytes ``op`` may need."""
    if isinstance(op, Fill):
        return max(op.end - op.start, 0)
    if isinstance(op, Write):
        return 0
    return max(op.size, 0)


def _check(region_size: int, offset: int, size: int) -> None:
    if offset < 0 or size < 0 or offset + size > region_size:
        raise FirmwareFormatError(
            f"a planned change ({size:#x} bytes) lies outside the ME region", offset=offset
        )
