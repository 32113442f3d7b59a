"""A truncated output built from a region prefix is the output built from the whole region.

``apply_neutralize`` copies and changes only the first :func:`needed_prefix` bytes of a bare ME
region when the output is truncated; these properties check that shortcut against applying the
same operations to the whole region, for random fills, writes and moves in any order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.relocate import Fill, Move, Operation, Write, apply_operations, needed_prefix

SIZE = 96


def _fill(draw: st.DrawFn) -> Fill:
    start = draw(st.integers(0, SIZE))
    return Fill(start=start, end=draw(st.integers(start, SIZE)))


def _write(draw: st.DrawFn) -> Write:
    offset = draw(st.integers(0, SIZE))
    return Write(offset=offset, data=draw(st.binary(max_size=SIZE - offset)))


def _move(draw: st.DrawFn) -> Move:
    size = draw(st.integers(0, SIZE))
    return Move(
        source=draw(st.integers(0, SIZE - size)),
        target=draw(st.integers(0, SIZE - size)),
        size=size,
    )


@st.composite
def operations(draw: st.DrawFn) -> tuple[Operation, ...]:
    makers: list[Callable[[st.DrawFn], Operation]] = [_fill, _write, _move]
    return tuple(draw(st.sampled_from(makers))(draw) for _ in range(draw(st.integers(0, 8))))


@settings(max_examples=600)
@given(ops=operations(), keep=st.integers(0, SIZE), region=st.binary(min_size=SIZE, max_size=SIZE))
def test_the_prefix_decides_the_kept_bytes(
    ops: tuple[Operation, ...], keep: int, region: bytes
) -> None:
    whole = bytearray(region)
    apply_operations(whole, ops)
    prefix = needed_prefix(ops, keep)
    assert keep <= prefix <= SIZE
    part = bytearray(region[:prefix])
    apply_operations(part, ops, region_size=SIZE)
    assert len(part) == prefix  # never grown by a write past its end
    assert part[:keep] == whole[:keep]


def test_a_move_reads_only_what_lands_in_the_kept_bytes() -> None:
    """FTPR moving down from the middle of a region: the output needs the start of FTPR only."""
    move = Move(source=0x9000, target=0x400, size=0x7000)
    assert needed_prefix((move,), keep=0x2000) == 0x9000 + 0x1C00
    assert needed_prefix((move,), keep=0x400) == 0x400  # nothing of FTPR lands in the kept bytes


def test_a_prefix_is_still_checked_against_the_whole_region() -> None:
    with pytest.raises(FirmwareFormatError, match="outside the ME region"):
        apply_operations(bytearray(16), (Fill(start=60, end=70),), region_size=64)
    region = bytearray(16)
    apply_operations(region, (Fill(start=8, end=64),), region_size=64)
    assert region == bytes(8) + b"\xff" * 8
