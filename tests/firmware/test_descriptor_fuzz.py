"""Mutated descriptor bytes give a Descriptor or a FirmwareFormatError, nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.fit import boot_guard_hints
from mewarden.jsonutil import dumps
from tests.support import require_fixture

SEEDS = (
    "coreboot-blobs/google_link_descriptor.bin",
    "system76-darp6/fd.rom",
    "dasharo-blobs/novacustom_v5x0tu_descriptor.bin",
    "intel_fw-tests/me8.ifd",
)

# Mutations concentrate on the first 0x200 bytes, where FLMAPs, FLREGs, FLMSTRs and straps live.
_mutation = st.tuples(st.integers(0, 0x1FF), st.integers(0, 255))


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for position, value in edits:
        if position < len(buf):
            buf[position] = value
    return bytes(buf[:cut] if cut is not None else buf)


def _check(data: bytes) -> None:
    try:
        descriptor = parse_descriptor(data)
    except FirmwareFormatError as exc:
        message = str(exc)
    else:
        message = ""
    assert "\n" not in message  # errors are one line for the CLI
    if message:
        return
    dumps(descriptor)  # the report must always be representable as JSON
    for region in descriptor.regions:
        assert region.start >= 0
        assert region.end > 0
    assert descriptor.me_disable.set in (True, False, None)


@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(_mutation, max_size=12),
    cut=st.one_of(st.none(), st.integers(0, 0x1200)),
)
def test_mutated_fixtures_give_typed_results(
    seed: str, edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = require_fixture(seed).read_bytes()
    _check(_mutate(data, edits, cut))


@given(st.binary(max_size=0x300))
def test_random_bytes_with_signature_give_typed_results(tail: bytes) -> None:
    _check(b"\xff" * 0x10 + b"\x5a\xa5\xf0\x0f" + tail)
    _check(b"\x5a\xa5\xf0\x0f" + tail)


@given(st.binary(max_size=0x200), st.integers(0, 0xFFFFFFFF))
def test_random_fit_data_gives_typed_results(body: bytes, pointer: int) -> None:
    image = body + b"\xff" * 0x40
    image = image[:-0x40] + pointer.to_bytes(4, "little") + image[-0x3C:]
    for data in (image, b"_FIT_   " + body):
        try:
            hints = boot_guard_hints(data)
        except FirmwareFormatError:
            continue
        dumps(hints)
