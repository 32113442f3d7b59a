"""Helpers for the inspect tests: fixture loading and full images composed from real parts.

Composition follows ``../shared/reference/firmware.md`` §5: the real descriptor at 0, the real
ME region at its FLREG2 base, 0xFF up to the BIOS limit; optionally a real FIT table in the BIOS
region with the FIT pointer at 4 GiB - 0x40.
"""

from __future__ import annotations

import struct

from mewarden.firmware.descriptor import parse_descriptor
from tests.support import require_fixture

FIT_AT = 0x10000  # distance of the FIT table from the end of the composed image


def fixture(relative: str) -> bytes:
    """The bytes of a firmware fixture (skip/fail when the corpus is absent)."""
    return require_fixture(relative).read_bytes()


def compose(descriptor_path: str, me_path: str, *, fit_path: str | None = None) -> bytes:
    """A full SPI image built from a real descriptor and ME region (and FIT)."""
    descriptor = fixture(descriptor_path)
    me = fixture(me_path)
    parsed = parse_descriptor(descriptor)
    me_region, bios = parsed.region("me"), parsed.region("bios")
    assert me_region is not None
    assert bios is not None
    image = bytearray(b"\xff" * bios.end)
    image[: len(descriptor)] = descriptor
    image[me_region.start : me_region.start + len(me)] = me
    if fit_path is not None:
        fit = fixture(fit_path)
        offset = len(image) - FIT_AT
        image[offset : offset + len(fit)] = fit
        pointer = (1 << 32) - len(image) + offset
        struct.pack_into("<I", image, len(image) - 0x40, pointer)
    return bytes(image)
