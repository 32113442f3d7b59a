"""Strap-only neutralization: exactly one bit at the family's location, verified by re-reading.

Independent sources: the strap table of ``../shared/reference/firmware.md`` §1.8, the
me_cleaner 1.2 output hash for the composed link image in
``../shared/firmware-fixtures/expected-neutralize.md``, and ``ifdtool -M 1`` where its rule
is right (IFD v1, Sunrise Point).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from mewarden.errors import BadInputError, FirmwareFormatError, NeutralizeRefusedError
from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.strap_writes import resolve_location, restrict_me_access, set_me_disable
from mewarden.firmware.straps import PchFamily, me_disable_location
from tests.support import require_fixture, require_tool

# reference firmware.md §1.8: (family, name, strap, bit, confidence)
TABLE = [
    (PchFamily.PCH_IFD1, "AltMeDisable", 10, 7, "verified"),
    (PchFamily.SUNRISE_POINT, "HAP", 0, 16, "verified"),
    (PchFamily.CANNON_POINT_LP, "HAP", 28, 16, "unverified"),
    (PchFamily.CANNON_POINT_H, "HAP", 32, 16, "unverified"),
    (PchFamily.JASPER_LAKE, "HAP", 26, 16, "unverified"),
    (PchFamily.TIGER_POINT_LP_ALDER_POINT_P, "HAP", 31, 16, "unverified"),
    (PchFamily.ALDER_POINT_N, "HAP", 31, 16, "unverified"),
    (PchFamily.TIGER_POINT_H, "HAP", 37, 16, "unverified"),
    (PchFamily.ELKHART_LAKE, "HAP", 33, 16, "unverified"),
    (PchFamily.ALDER_POINT_S, "HAP", 55, 16, "unverified"),
]

V2_WITH_LOCATION = [
    "coreboot-blobs/erying_tgl_fd.bin",
    "system76-darp6/fd.rom",
    "dasharo-blobs/msi_ms7d25_descriptor.bin",
    "dasharo-blobs/novacustom_ns5x_adl_descriptor.bin",
    "dasharo-blobs/protectli_vault_adl_n_vp2430_descriptor.bin",
    "dasharo-blobs/protectli_vault_adl_n_vp2440_descriptor.bin",
    "dasharo-blobs/protectli_vault_adl_n_vp32xx_descriptor.bin",
    "dasharo-blobs/novacustom_ns5x_tgl_descriptor.bin",
    "dasharo-blobs/protectli_vault_cml_descriptor.bin",
    "dasharo-blobs/protectli_vault_ehl_descriptor.bin",
    "dasharo-blobs/protectli_vault_glk_descriptor.bin",
    "hardenedlinux/asus_p10s-m_ws_descriptor.bin",
]


@pytest.mark.parametrize(("family", "name", "strap", "bit", "confidence"), TABLE)
def test_location_table_matches_reference(
    family: PchFamily, name: str, strap: int, bit: int, confidence: str
) -> None:
    location = me_disable_location(family)
    assert location is not None
    assert (location.name, location.strap, location.bit, location.confidence) == (
        name,
        strap,
        bit,
        confidence,
    )
    assert location.sources


@pytest.mark.parametrize("family", [PchFamily.METEOR_LAKE, PchFamily.LEWISBURG, "no-such"])
def test_no_location_where_no_source_gives_one(family: str) -> None:
    assert me_disable_location(family) is None


def _changed_bits(before: bytes, after: bytes) -> list[tuple[int, int]]:
    assert len(before) == len(after)
    return [
        (index, bit)
        for index, (a, b) in enumerate(zip(before, after, strict=True))
        if a != b
        for bit in range(8)
        if (a ^ b) >> bit & 1
    ]


@pytest.mark.system
@pytest.mark.parametrize("path", V2_WITH_LOCATION, ids=lambda p: p.split("/")[-1])
def test_strap_only_sets_exactly_one_bit_at_family_location(path: str) -> None:
    data = require_fixture(path).read_bytes()
    descriptor = parse_descriptor(data)
    location = resolve_location(descriptor, None)
    patched = set_me_disable(data, descriptor, location)
    position = descriptor.strap_base + 4 * location.strap + location.bit // 8
    assert _changed_bits(data, patched) == [(position, location.bit % 8)]
    after = parse_descriptor(patched)
    assert after.me_disable.set is True
    assert (after.me_disable.strap, after.me_disable.bit) == (location.strap, location.bit)


@pytest.mark.system
def test_already_set_bit_is_left_alone() -> None:
    data = require_fixture("dasharo-blobs/novacustom_nv4x_adl_descriptor.bin").read_bytes()
    descriptor = parse_descriptor(data)
    assert set_me_disable(data, descriptor, resolve_location(descriptor, None)) == data


def _compose_link() -> bytes:
    """expected-neutralize.md: 8 MiB of 0xFF, link descriptor at 0, link ME at 0x1000."""
    image = bytearray(b"\xff" * 0x800000)
    descriptor = require_fixture("coreboot-blobs/google_link_descriptor.bin").read_bytes()
    me = require_fixture("coreboot-blobs/google_link_me.bin").read_bytes()
    image[: len(descriptor)] = descriptor
    image[0x1000 : 0x1000 + len(me)] = me
    return bytes(image)


@pytest.mark.system
def test_alt_me_disable_on_composed_link_matches_me_cleaner_output() -> None:
    image = _compose_link()
    assert (
        hashlib.sha256(image).hexdigest()
        == "4c72caa0367efac18ca2a9e7c83ef8c6283ce20e866d0721946b80b2c774bd90"
    )
    descriptor = parse_descriptor(image)
    location = resolve_location(descriptor, None)
    assert (location.name, location.strap, location.bit) == ("AltMeDisable", 10, 7)
    patched = set_me_disable(image, descriptor, location)
    # expected-neutralize.md, "composed link image | -s | set AltMeDisable only"
    assert (
        hashlib.sha256(patched).hexdigest()
        == "36915e0a53083594a7b466bff35cb1320353f4654523bd329ba396448cc3c4fd"
    )


@pytest.mark.system
@pytest.mark.parametrize(
    ("path", "platform"),
    [
        ("coreboot-blobs/google_link_descriptor.bin", None),
        ("hardenedlinux/asus_p10s-m_ws_descriptor.bin", "sklkbl"),
    ],
)
def test_matches_ifdtool_where_its_rule_is_right(
    path: str, platform: str | None, tmp_path: Path
) -> None:
    ifdtool = require_tool("ifdtool")
    source = require_fixture(path)
    out = tmp_path / "ifdtool.bin"
    argv = [ifdtool, *(["-p", platform] if platform else []), "-M", "1", "-O", str(out)]
    subprocess.run([*argv, str(source)], capture_output=True, timeout=60, check=True)
    data = source.read_bytes()
    descriptor = parse_descriptor(data)
    assert set_me_disable(data, descriptor, resolve_location(descriptor, None)) == (
        out.read_bytes()
    )


def _unknown_family_cml() -> bytes:
    """The darp6 descriptor with PSL changed to a count no known family has."""
    data = bytearray(require_fixture("system76-darp6/fd.rom").read_bytes())
    data[0x1B] = 72  # FLMAP1 bits 31:24 = PSL (69 -> 72)
    return bytes(data)


@pytest.mark.system
def test_unknown_family_is_refused_unless_named() -> None:
    data = _unknown_family_cml()
    descriptor = parse_descriptor(data)
    assert descriptor.pch_family is None
    assert descriptor.me_disable.name == "unknown"
    assert descriptor.me_disable.set is None
    with pytest.raises(NeutralizeRefusedError, match="cannot be told"):
        resolve_location(descriptor, None)
    location = resolve_location(descriptor, PchFamily.CANNON_POINT_LP)
    patched = set_me_disable(data, descriptor, location)
    assert len(_changed_bits(data, patched)) == 1
    assert parse_descriptor(patched).straps[28] >> 16 & 1


@pytest.mark.system
@pytest.mark.parametrize(
    ("path", "platform", "match"),
    [
        ("dasharo-blobs/novacustom_v5x0tu_descriptor.bin", None, "no source"),
        ("coreboot-blobs/ocp_tiogapass_descriptor.bin", None, "no source"),
        ("system76-darp6/fd.rom", PchFamily.ALDER_POINT_S, "not alder-point-s"),
    ],
)
def test_refusals(path: str, platform: str | None, match: str) -> None:
    descriptor = parse_descriptor(require_fixture(path).read_bytes())
    with pytest.raises(NeutralizeRefusedError, match=match):
        resolve_location(descriptor, platform)


@pytest.mark.system
def test_unknown_platform_name_is_bad_input() -> None:
    descriptor = parse_descriptor(require_fixture("system76-darp6/fd.rom").read_bytes())
    with pytest.raises(BadInputError, match="unknown platform 'z390'") as error:
        resolve_location(descriptor, "z390")
    assert error.value.exit_code == 2


@pytest.mark.system
def test_v1_location_refused_on_v2_descriptor() -> None:
    data = require_fixture("system76-darp6/fd.rom").read_bytes()
    location = me_disable_location(PchFamily.PCH_IFD1)
    assert location is not None
    with pytest.raises(NeutralizeRefusedError, match="does not apply"):
        set_me_disable(data, parse_descriptor(data), location)


@pytest.mark.system
def test_strap_beyond_psl_is_a_format_error() -> None:
    data = require_fixture("dasharo-blobs/protectli_vault_glk_descriptor.bin").read_bytes()
    location = me_disable_location(PchFamily.ALDER_POINT_S)  # PCHSTRP55; GLK has 23 straps
    assert location is not None
    with pytest.raises(FirmwareFormatError, match="does not exist"):
        set_me_disable(data, parse_descriptor(data), location)


@pytest.mark.system
@pytest.mark.parametrize(
    ("path", "read", "write"),
    [
        # reference §1.6 item 9: v1 keeps read/write of the ME region only ...
        ("coreboot-blobs/google_link_descriptor.bin", ("me",), ("me",)),
        # ... v2 writes 0x00400500: read FD+ME, write ME.
        ("system76-darp6/fd.rom", ("fd", "me"), ("me",)),
    ],
)
def test_restrict_me_access(path: str, read: tuple[str, ...], write: tuple[str, ...]) -> None:
    data = require_fixture(path).read_bytes()
    before = parse_descriptor(data)
    after = parse_descriptor(restrict_me_access(data, before))
    me = after.master("me")
    assert me is not None
    assert (me.read, me.write) == (read, write)
    assert after.master("bios") == before.master("bios")
    assert len(_changed_bits(data, restrict_me_access(data, before))) > 0
    if before.version == 1:
        assert me.raw & 0xFFFF == before.masters[1].raw & 0xFFFF  # requester ID kept
