"""Mutated images give a report or a typed error, never a crash (hypothesis).

Mutations target the structures the parsers read: descriptor, ``$FPT`` and its entries, the FTPR
manifest and module headers, the IFWI layout table and BPDT; plus truncation anywhere.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mewarden.errors import MewardenError
from mewarden.firmware.inspect import InspectReport, inspect_image
from mewarden.firmware.synth import SynthSpec, build_image
from mewarden.jsonutil import dumps
from tests.firmware.inspect_support import compose, fixture

# (fixture or builder, hot spots: (start, length) ranges where structures live)
TARGETS: dict[str, tuple[tuple[int, int], ...]] = {
    "synth": ((0, 0x200), (0x1000, 0x100), (0x2000, 0x800)),
    "synth-cpd": ((0x1000, 0x100), (0x2000, 0x100), (0x2200, 0x300)),
    "coreboot-blobs/google_link_me.bin": ((0, 0x220), (0x93000, 0x900), (0x938C0, 0x840)),
    "coreboot-blobs/facebook_fbg1701_me.bin": ((0, 0x2B0), (0x6F000, 0x900)),
    # (0x80000, 0x480) and (0x22000, 0x600): the PMCP partition's directory, signed manifest
    # and .met files, whose hash chain --verify-modules follows
    "system76-darp6/me.rom": (
        (0, 0x50),
        (0x1000, 0x140),
        (0x6F000, 0x90),
        (0x94000, 0xC00),
        (0x80000, 0x480),
    ),
    "dasharo-blobs/msi_ms7d25_me.bin": (
        (0, 0x60),
        (0x1000, 0xA0),
        (0x1A7000, 0x1C0),
        (0x22000, 0x600),
    ),
    "link-full": ((0, 0x1000), (0x1000, 0x220), (0x94000, 0x900)),
}


@cache
def _base(name: str) -> bytes:
    if name == "synth":
        return build_image(SynthSpec())
    if name == "synth-cpd":
        return build_image(SynthSpec(cpd=True, version=(11, 0, 0, 1)))
    if name == "link-full":
        return compose(
            "coreboot-blobs/google_link_descriptor.bin", "coreboot-blobs/google_link_me.bin"
        )
    return fixture(name)


mutation = st.tuples(st.integers(0, 10**9), st.integers(0, 255))


def _check(data: bytes, *, verify: bool) -> None:
    try:
        report = inspect_image(data, verify_modules=verify)
    except MewardenError as exc:
        message = str(exc)
    else:
        assert isinstance(report, InspectReport)
        dumps(report)  # the report must always be serialisable
        return
    assert "\n" not in message


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutations=st.lists(mutation, min_size=1, max_size=8),
    spot=st.integers(0, 10),
    cut=st.one_of(st.none(), st.integers(0, 10**9)),
)
def test_mutated_images(
    target: str, mutations: list[tuple[int, int]], spot: int, cut: int | None
) -> None:
    base = _base(target)
    spots = TARGETS[target]
    start, length = spots[spot % len(spots)]
    data = bytearray(base)
    for position, value in mutations:
        data[min(start + position % length, len(data) - 1)] = value
    if cut is not None:
        del data[cut % len(data) :]
    _check(bytes(data), verify=False)
    _check(bytes(data), verify=True)  # metadata chains, LZMA streams and hashes too
