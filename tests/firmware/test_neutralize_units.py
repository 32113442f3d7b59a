"""Pure pieces of neutralize on synthetic bytes: LLUT chunks, checksum, sizes, CPD, moves.

Expected values are worked out by hand from the rules in ``../shared/reference/firmware.md``
§1.6-§1.7 (quoted next to each test), not taken from the code's output.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.me.fpt import parse_fpt
from mewarden.firmware.me.mme import Compression, Llut, MmeModule
from mewarden.firmware.neutralize_gen2 import chunk_ranges, plan_module_removal
from mewarden.firmware.neutralize_gen3 import plan_cpd_removal
from mewarden.firmware.neutralize_verify import fpt_checksum, fpt_checksum_valid
from mewarden.firmware.relocate import (
    Fill,
    Move,
    Write,
    apply_operations,
    minimum_size,
    relocation_target,
    rewrite_fpt,
)
from tests.support import require_fixture

LLUT = 0x100
HEADERS = 0x1000


def _llut(chunks: list[int], *, huff_start: int, huff_len: int, base: int = 0) -> Llut:
    return Llut(
        offset=LLUT,
        chunk_count=len(chunks),
        address_base=base,
        spi_base=LLUT + 0x40 - ((base >> 8) & 0xFFFF),
        huffman_length=huff_len,
        huffman_start=huff_start,
        chunk_size=0x400,
        chunks=tuple(chunks),
    )


def test_chunk_ranges_follow_the_next_start_and_skip_empty_chunks() -> None:
    # starts 0x800, empty (top byte 0x80), 0xA00, 0x900; stream 0x800..0xC00
    llut = _llut([0x800, 0x80000000, 0xA00, 0x900], huff_start=0x800, huff_len=0x400)
    # "a chunk extends to the next higher start, the last one to the stream end"
    assert chunk_ranges(llut) == ((0x800, 0x900), (0, 0), (0xA00, 0xC00), (0x900, 0xA00))


def test_duplicate_chunk_starts_are_zero_length() -> None:
    llut = _llut([0x800, 0x800, 0x900], huff_start=0x800, huff_len=0x200)
    # me_cleaner looks up the *next entry* of the sorted start list, which for a duplicated
    # start is the duplicate itself
    assert chunk_ranges(llut) == ((0x800, 0x800), (0x800, 0x800), (0x900, 0xA00))


def _region_with_llut(chunks: list[int]) -> bytearray:
    """A region with an LLUT at 0x100 (chunk 0 loads at 0x10000000, 1 KiB chunks)."""
    region = bytearray(b"\xaa" * 0x2000)
    region[LLUT : LLUT + 4] = b"LLUT"
    struct.pack_into("<5I", region, LLUT + 4, len(chunks), 0, LLUT + 0x40, 0x400, 0x800)
    struct.pack_into("<I", region, LLUT + 0x30, 0x400)
    for index, value in enumerate(chunks):
        struct.pack_into("<I", region, LLUT + 0x40 + 4 * index, value)
    return region


def _modules(
    region: bytearray, specs: list[tuple[str, int, int, Compression]]
) -> tuple[MmeModule, ...]:
    """``$MME`` headers at 0x1000 (0x60 each) and the parsed view of them."""
    modules = []
    for index, (name, load_base, size, compression) in enumerate(specs):
        at = HEADERS + 0x60 * index
        offset = LLUT if compression is Compression.HUFFMAN else 0x1800
        region[at : at + 4] = b"$MME"
        struct.pack_into("<4I", region, at + 0x34, load_base, offset, size, 0x100)
        struct.pack_into("<I", region, at + 0x50, int(compression) << 4)
        modules.append(
            MmeModule(
                name=name,
                header_offset=at,
                header_size=0x60,
                load_base=load_base,
                offset=offset,
                data_offset=offset,
                uncompressed_size=size,
                size=0x100,
                flags=int(compression) << 4,
                compression=compression,
                hash=b"",
                present=True,
            )
        )
    return tuple(modules)


def test_huffman_removal_keeps_only_chunks_of_essential_modules() -> None:
    region = _region_with_llut([0x800, 0x900, 0xA00, 0xB00])
    modules = _modules(
        region,
        [
            ("BUP", 0x10000000, 0x400, Compression.HUFFMAN),  # chunks 0..1
            ("KERNEL", 0x10000800, 0x400, Compression.HUFFMAN),  # chunks 2..3
            ("UPDATE", 0, 0, Compression.LZMA),
        ],
    )
    plan = plan_module_removal(bytes(region), modules)
    assert sorted(plan.fills) == [(0xA00, 0xB00), (0xB00, 0xC00), (0x1800, 0x1900)]
    assert plan.end == 0xA00  # end of BUP's last chunk
    assert [m.name for m in plan.modules if m.kept] == ["BUP"]


def test_huffman_modules_without_llut_are_an_error() -> None:
    region = bytearray(0x2000)
    modules = _modules(region, [("KERNEL", 0x10000000, 0x400, Compression.HUFFMAN)])
    with pytest.raises(FirmwareFormatError, match="LLUT"):
        plan_module_removal(bytes(region), modules)


@given(st.binary(min_size=0x30, max_size=0x30), st.booleans())
def test_fpt_checksum_makes_the_byte_sum_zero(header: bytes, header_only: bool) -> None:
    region = bytearray(header)
    region[0x1B] = fpt_checksum(bytes(region), 0x10, header_only=header_only)
    covered = region[0x10:0x30] if header_only else region[0x00:0x30]
    assert sum(covered) % 256 == 0
    before = region[0x1B]
    region[0x05] ^= 0x01  # the ROM-bypass vector counts only for ME 6-10
    assert (fpt_checksum(bytes(region), 0x10, header_only=header_only) == before) is header_only


def test_fpt_checksum_is_what_the_fpt_parser_accepts() -> None:
    region = bytearray(0x60)
    region[0x10:0x14] = b"$FPT"
    struct.pack_into("<IBBBB", region, 0x14, 1, 0x20, 0x10, 0x30, 0)  # 1 entry, header 0x30
    region[0x03] = 0x5A  # something in the ROM-bypass vector
    region[0x1B] = fpt_checksum(bytes(region), 0x10, header_only=False)
    assert parse_fpt(bytes(region)).checksum_valid
    assert fpt_checksum_valid(bytes(region), 0x10)
    region[0x03] ^= 1
    assert not fpt_checksum_valid(bytes(region), 0x10)


@pytest.mark.parametrize(
    ("end", "size"),
    [(0x12345, 0x17000), (0x13000, 0x18000), (0, 0x5000)],
)
def test_minimum_size_rounds_up_a_page_and_spares_four(end: int, size: int) -> None:
    # "(end_addr // 0x1000 + 1) * 0x1000, plus spared_blocks = 4 pages"
    assert minimum_size(end) == size


def test_relocation_target_respects_addr_base_and_alignment() -> None:
    llut = _llut([], huff_start=0, huff_len=0, base=0x000DC100)  # LLUT bytes 9-10 = 0x0DC1
    old = LLUT - 0x800
    # max(0x400, 0xDC1 - 0x100 - 0x40 + old) = 0x281 + old, aligned up to 0x20
    assert relocation_target(old, llut) == (0xDC1 - LLUT - 0x40 + old + 0x1F) // 0x20 * 0x20
    assert relocation_target(0x93000, None) == 0x400


def test_fpt_rewrite_matches_me_cleaner_on_the_me11_head() -> None:
    """intel_fw's me11.fpt before and after me_cleaner (fixtures manifest.md)."""
    before = require_fixture("intel_fw-tests/me11.fpt").read_bytes()
    after = require_fixture("intel_fw-tests/me11_cleaned.fpt").read_bytes()
    table = parse_fpt(before)
    ftpr = table.entry("FTPR")
    assert ftpr is not None
    region = bytearray(before)
    writes = rewrite_fpt(before, table, (ftpr,), clear_effs=True, header_only=True)
    apply_operations(region, tuple(writes))
    assert bytes(region) == after


def _cpd(entries: list[tuple[str, int]]) -> bytearray:
    region = bytearray(b"\xcc" * 0x3000)
    base = 0x1000
    region[base : base + 4] = b"$CPD"
    struct.pack_into("<IBBB", region, base + 4, len(entries), 1, 1, 0x10)  # header v1, 0x10
    for index, (name, offset) in enumerate(entries):
        at = base + 0x10 + 0x18 * index
        region[at : at + 12] = name.encode().ljust(12, b"\x00")
        struct.pack_into("<I", region, at + 12, offset)
    return region


def test_cpd_removal_keeps_manifest_metadata_and_the_four_essentials() -> None:
    region = _cpd(
        [
            ("FTPR.man", 0x100),
            ("pm", 0x600),
            ("rbe", 0x200),
            ("pm.met", 0x500),
            ("kernel", 0x300),
            ("vfs", 0x800),
            ("syslib", 0x400),
            ("bup.met", 0x580),
        ]
    )
    plan = plan_cpd_removal(bytes(region), 0x1000, 0x1000)
    # sorted by offset, each entry runs to the next one; the last to the partition length
    assert plan.fills == ((0x1600, 0x1800), (0x1800, 0x2000))
    assert {m.name for m in plan.modules if not m.kept} == {"pm", "vfs"}
    assert plan.end == 0x1600


def test_move_vacates_the_source_and_overlapping_moves_keep_data() -> None:
    region = bytearray(range(16)) + bytearray(16)
    apply_operations(region, (Move(source=4, target=2, size=8),))
    assert region[2:10] == bytes(range(4, 12))
    assert region[10:12] == b"\xff\xff"
    apply_operations(region, (Fill(start=0, end=2), Write(offset=30, data=b"ab")))
    assert region[:2] == b"\xff\xff"
    assert region[30:] == b"ab"
    with pytest.raises(FirmwareFormatError):
        apply_operations(region, (Write(offset=31, data=b"ab"),))
