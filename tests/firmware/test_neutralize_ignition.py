"""ME 6 "Ignition" firmware is wiped whole (reference §1.6 step 1), on a synthetic region.

The region is built from the §1.4-§1.6 layout facts and signed with a test key (FW-B's
``sign_for_tests``): ``$FPT`` + FTPR with a ``$MN2`` manifest of version 6, one ``$MME`` module,
and the ``$SKU`` record after the module headers whose SKU dword decides "Ignition".
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mewarden.firmware.me.signature import sign_for_tests
from mewarden.firmware.neutralize import (
    NeutralizeOptions,
    apply_neutralize,
    plan_neutralize,
    verify_neutralized,
)
from mewarden.firmware.neutralize_layout import MeLayout, read_me_image
from mewarden.firmware.neutralize_verify import fpt_checksum
from mewarden.firmware.report import firmware_state

FTPR, HEADER_LEN, SIZE = 0x1000, 0x284, 0x400


def _region(key: rsa.RSAPrivateKey, sku: int) -> bytes:
    region = bytearray(b"\xff" * 0x10000)
    region[:0x10] = bytes(0x10)
    region[0x10:0x14] = b"$FPT"
    struct.pack_into("<IBBBB", region, 0x14, 1, 0x20, 0x10, 0x30, 0)
    region[0x30:0x50] = b"FTPR" + bytes(4) + struct.pack("<II", FTPR, 0x4000) + bytes(16)
    region[FTPR : FTPR + 0x4000] = b"\x5a" * 0x4000
    at = FTPR
    struct.pack_into("<7I", region, at, 4, HEADER_LEN // 4, 0x10000, 0, 0x8086, 0x20100101,
                     SIZE // 4)  # fmt: skip
    region[at + 0x1C : at + 0x20] = b"$MN2"
    struct.pack_into("<I4H", region, at + 0x20, 1, 6, 0, 0, 1000)
    struct.pack_into("<II", region, at + 0x78, 0x40, 1)
    numbers = key.public_key().public_numbers()
    region[at + 0x80 : at + 0x180] = numbers.n.to_bytes(0x100, "little")
    struct.pack_into("<I", region, at + 0x180, numbers.e)
    module = at + HEADER_LEN + 0xC  # the $MME headers follow the 12-byte partition name
    region[module : module + 0x60] = b"$MME" + b"ROMP".ljust(16, b"\0") + bytes(0x60 - 20)
    struct.pack_into("<4I", region, module + 0x34, 0x20000000, 0x800, 0x100, 0x100)
    record = module + 2 * 0x60  # after (num_modules + 1) headers' worth of bytes
    region[record : record + 12] = b"$SKU" + struct.pack("<II", 3, sku)
    message = bytes(region[at : at + 0x80] + region[at + HEADER_LEN : at + SIZE])
    region[at + 0x184 : at + 0x284] = sign_for_tests(key, message)
    region[0x1B] = fpt_checksum(bytes(region), 0x10, header_only=False)
    return bytes(region)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_ignition_firmware_is_wiped_entirely(key: rsa.RSAPrivateKey) -> None:
    region = _region(key, sku=0)
    image = read_me_image(region)
    assert image.layout is MeLayout.FPT_MN2
    assert image.manifest is not None
    assert image.manifest.signature_valid is True
    plan = plan_neutralize(image, NeutralizeOptions())
    assert plan.ignition
    out = apply_neutralize(region, plan)
    assert out == b"\xff" * len(region)
    verify_neutralized(out, plan)  # nothing left to check, and nothing fails
    assert firmware_state(out).layout is MeLayout.ABSENT


def test_a_non_zero_sku_is_not_ignition(key: rsa.RSAPrivateKey) -> None:
    region = _region(key, sku=0x0E)
    plan = plan_neutralize(read_me_image(region), NeutralizeOptions())
    assert not plan.ignition
    out = apply_neutralize(region, plan)
    assert verify_neutralized(out, plan).ftpr_signature_valid is True
    assert out[FTPR : FTPR + 0x800] == region[FTPR : FTPR + 0x800]  # manifest and headers
    assert [m.name for m in plan.modules if m.kept] == ["ROMP"]
