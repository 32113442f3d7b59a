"""ME 11 (``$CPD`` FTPR) code removal on a synthetic region signed with a test key.

The corpus has no ME 11 region, so one is built from the layout facts of
``../shared/reference/firmware.md`` §1.4/§1.7 and signed like Intel does (FW-B's
``sign_for_tests``). Expected results are worked out by hand from the §1.7 keep-rules.
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mewarden.errors import NeutralizeRefusedError
from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.me.fpt import parse_fpt
from mewarden.firmware.me.signature import sign_for_tests
from mewarden.firmware.neutralize import (
    Mode,
    NeutralizeOptions,
    apply_neutralize,
    plan_neutralize,
    verify_neutralized,
)
from mewarden.firmware.neutralize_layout import MeLayout, read_me_image
from mewarden.firmware.neutralize_verify import fpt_checksum
from tests.firmware.neutralize_helpers import compose

FTPR, FTPR_LEN = 0x1000, 0x8000
MANIFEST = FTPR + 0x100
HEADER_LEN, MANIFEST_SIZE = 0x284, 0x400
# (name, offset in FTPR); each runs to the next, the last to FTPR_LEN
CPD_ENTRIES = [
    ("FTPR.man", 0x100),
    ("rbe.met", 0x500),
    ("rbe", 0x580),
    ("kernel", 0x1000),
    ("syslib", 0x1800),
    ("bup", 0x2000),
    ("pm", 0x3000),
    ("pm.met", 0x3800),
    ("vfs", 0x4000),
]
PARTITIONS = [("FTPR", FTPR, FTPR_LEN, 0), ("NFTP", 0x9000, 0x4000, 0), ("MFS", 0xD000, 0x2000, 0)]


def _manifest(region: bytearray, key: rsa.RSAPrivateKey, major: int = 11) -> None:
    at = MANIFEST
    struct.pack_into("<7I", region, at, 4, HEADER_LEN // 4, 0x10000, 0, 0x8086, 0x20170101,
                     MANIFEST_SIZE // 4)  # fmt: skip
    region[at + 0x1C : at + 0x20] = b"$MN2"
    struct.pack_into("<I4H", region, at + 0x20, 0, major, 8, 50, 3425)
    struct.pack_into("<II", region, at + 0x78, 0x40, 1)
    numbers = key.public_key().public_numbers()
    region[at + 0x80 : at + 0x180] = numbers.n.to_bytes(0x100, "little")
    struct.pack_into("<I", region, at + 0x180, numbers.e)
    message = bytes(region[at : at + 0x80] + region[at + HEADER_LEN : at + MANIFEST_SIZE])
    region[at + 0x184 : at + 0x284] = sign_for_tests(key, message)


def build_me11_region(key: rsa.RSAPrivateKey, size: int = 0x20000) -> bytes:
    """An ME 11 region: ``$FPT`` (header 0x20) + FTPR ``$CPD`` + two more partitions."""
    region = bytearray(b"\xff" * size)
    region[:0x10] = bytes(0x10)
    entries = [*PARTITIONS, ("NVKR", 0xFFFFFFFF, 0x1000, 2)]
    region[0x10:0x14] = b"$FPT"
    struct.pack_into("<IBBBB", region, 0x14, len(entries), 0x20, 0x10, 0x20, 0)
    struct.pack_into("<I", region, 0x24, 1)  # EFFS present
    for index, (name, offset, length, flags) in enumerate(entries):
        at = 0x30 + 0x20 * index
        region[at : at + 0x20] = bytes(0x20)
        region[at : at + 4] = name.encode()
        struct.pack_into("<II", region, at + 8, offset, length)
        struct.pack_into("<I", region, at + 0x1C, flags)
        if flags != 2:
            region[offset : offset + length] = bytes([0x10 + index]) * length
    region[FTPR : FTPR + 4] = b"$CPD"
    struct.pack_into("<IBBBB4s", region, FTPR + 4, len(CPD_ENTRIES), 1, 1, 0x10, 0, b"FTPR")
    for index, (name, offset) in enumerate(CPD_ENTRIES):
        at = FTPR + 0x10 + 0x18 * index
        region[at : at + 0x18] = name.encode().ljust(12, b"\0") + struct.pack("<III", offset, 0, 0)
    _manifest(region, key)
    region[0x1B] = fpt_checksum(bytes(region), 0x10, header_only=True)
    return bytes(region)


@pytest.fixture(scope="module")
def me11() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return build_me11_region(key)


def test_synthetic_region_reads_as_me11(me11: bytes) -> None:
    image = read_me_image(me11)
    assert image.layout is MeLayout.FPT_CPD
    assert image.version == (11, 8, 50, 3425)
    assert image.manifest is not None
    assert image.manifest.signature_valid is True


def test_cpd_modules_and_partitions_are_removed_by_the_rules(me11: bytes) -> None:
    plan = plan_neutralize(read_me_image(me11), NeutralizeOptions())
    out = apply_neutralize(me11, plan)
    checks = verify_neutralized(out, plan)
    assert checks.ftpr_signature_valid is True
    assert checks.fpt_checksum_valid is True
    assert checks.kept_modules_intact is True
    assert {m.name for m in plan.modules if not m.kept} == {"pm", "vfs"}
    assert out[FTPR + 0x3000 : FTPR + 0x3800] == b"\xff" * 0x800  # pm
    assert out[FTPR + 0x4000 : FTPR + FTPR_LEN] == b"\xff" * 0x4000  # vfs, to the partition end
    assert out[FTPR + 0x3800 : FTPR + 0x4000] == me11[FTPR + 0x3800 : FTPR + 0x4000]  # pm.met
    assert out[FTPR : FTPR + 0x3000] == me11[FTPR : FTPR + 0x3000]
    assert out[0x9000:0xF000] == b"\xff" * 0x6000  # NFTP and MFS
    table = parse_fpt(out)
    assert [e.name for e in table.entries] == ["FTPR"]
    assert table.flags & 1 == 0  # EFFS flag cleared
    # kept data ends with pm.met at FTPR+0x4000; + a page, + 4 spare pages (§1.6 item 7)
    assert plan.minimum_size == (FTPR + 0x4000) // 0x1000 * 0x1000 + 0x1000 + 0x4000


def test_relocate_and_truncate_keep_the_signature(me11: bytes) -> None:
    plan = plan_neutralize(read_me_image(me11), NeutralizeOptions(relocate=True, truncate=True))
    out = apply_neutralize(me11, plan)
    assert verify_neutralized(out, plan).ftpr_signature_valid is True
    assert parse_fpt(out).entries[0].offset == 0x400  # me_cleaner's target without an LLUT
    assert len(out) == (0x400 + 0x4000) // 0x1000 * 0x1000 + 0x1000 + 0x4000
    reread = read_me_image(out)
    assert reread.manifest is not None
    assert reread.manifest.signature_valid is True


def test_full_sunrise_point_image_gets_hap(me11: bytes) -> None:
    image = bytearray(compose("hardenedlinux/asus_p10s-m_ws_descriptor.bin"))
    region = parse_descriptor(bytes(image)).region("me")
    assert region is not None
    image[region.start : region.start + len(me11)] = me11
    plan = plan_neutralize(read_me_image(bytes(image)), NeutralizeOptions())
    assert plan.mode is Mode.STRIP_AND_DISABLE
    out = apply_neutralize(bytes(image), plan)
    checks = verify_neutralized(out, plan)
    assert checks.strap_set is True
    assert checks.ftpr_signature_valid is True
    after = parse_descriptor(out)
    assert after.me_disable.name == "HAP"
    assert after.straps[0] >> 16 & 1  # PCHSTRP0 bit 16 on Sunrise Point (§1.8)


def test_ifwi_major_12_manifest_in_cpd_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    region = bytearray(build_me11_region(key))
    _manifest(region, key, major=12)

    with pytest.raises(NeutralizeRefusedError, match="ME 12"):
        plan_neutralize(read_me_image(bytes(region)), NeutralizeOptions())
