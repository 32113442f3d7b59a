"""``inspect_image`` on real fixtures (bare and composed) and on bad input.

Expected values come from ``../shared/firmware-fixtures/manifest.md``.
"""

from __future__ import annotations

import os
import struct

import pytest

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.descriptor import IfdVersion, encode_flreg
from mewarden.firmware.inspect import SCHEMA_VERSION, ImageKind, inspect_image
from mewarden.firmware.me.analyze import MeState
from mewarden.jsonutil import to_jsonable
from tests.firmware.inspect_support import compose, fixture

LINK_FD = "coreboot-blobs/google_link_descriptor.bin"
LINK_ME = "coreboot-blobs/google_link_me.bin"


def test_full_image_link() -> None:
    report = inspect_image(compose(LINK_FD, LINK_ME))
    assert report.kind is ImageKind.FULL_IMAGE
    assert report.descriptor is not None
    regions = {r.name: (r.start, r.end) for r in report.descriptor.regions if r.used}
    # manifest.md: FD 0-0xFFF, ME 0x1000-0x1FFFFF, BIOS 0x200000-0x7FFFFF (inclusive ends)
    assert regions["fd"] == (0, 0x1000)
    assert regions["me"] == (0x1000, 0x200000)
    assert regions["bios"] == (0x200000, 0x800000)
    strap = report.descriptor.me_disable
    assert (strap.name, strap.strap, strap.bit, strap.set) == ("AltMeDisable", 10, 7, False)
    assert report.me is not None
    assert report.me.version == "8.0.20.1513"
    assert report.me.state is MeState.STOCK
    assert report.boot_guard is not None
    assert report.boot_guard.key_manifest is False


def test_full_image_with_fit_reports_boot_guard_hints() -> None:
    image = compose(LINK_FD, LINK_ME, fit_path="intel_fw-tests/me11_fit.bin")
    report = inspect_image(image)
    assert report.boot_guard is not None
    # manifest.md: X270 FIT has KM 0x0B and BPM 0x0C entries and a startup ACM
    assert report.boot_guard.fit_found
    assert report.boot_guard.key_manifest
    assert report.boot_guard.boot_policy_manifest
    assert report.boot_guard.startup_acm
    assert "hint" in report.boot_guard.note


@pytest.mark.parametrize(
    ("fd", "me", "version"),
    [
        ("system76-darp6/fd.rom", "system76-darp6/me.rom", "14.0.10.1204"),
        ("dasharo-blobs/msi_ms7d25_descriptor.bin", "dasharo-blobs/msi_ms7d25_me.bin",
         "16.1.30.2307"),
    ],
)  # fmt: skip
def test_full_image_csme(fd: str, me: str, version: str) -> None:
    report = inspect_image(compose(fd, me))
    assert report.kind is ImageKind.FULL_IMAGE
    assert report.me is not None
    assert report.me.version == version
    assert report.me.manifest is not None
    assert report.me.manifest.signature_valid is True


@pytest.mark.parametrize(
    ("path", "name", "strap", "bit", "is_set"),
    [
        (LINK_FD, "AltMeDisable", 10, 7, False),
        ("coreboot-blobs/samsung_lumpy_descriptor.bin", "AltMeDisable", 10, 7, False),
        ("hardenedlinux/asus_p10s-m_ws_descriptor.bin", "HAP", 0, 16, False),
        ("nethsm/supermicro_x11ssh-tf_descriptor_hap.bin", "HAP", 0, 16, True),
    ],
)
def test_bare_descriptors(path: str, name: str, strap: int, bit: int, is_set: bool) -> None:
    report = inspect_image(fixture(path))
    assert report.kind is ImageKind.DESCRIPTOR
    assert report.me is None
    assert report.descriptor is not None
    found = report.descriptor.me_disable
    assert (found.name, found.strap, found.bit, found.set) == (name, strap, bit, is_set)


def test_sixteen_kib_descriptor_is_a_descriptor() -> None:
    report = inspect_image(fixture("dasharo-blobs/novacustom_v5x0tu_descriptor.bin"))
    assert report.kind is ImageKind.DESCRIPTOR
    assert report.descriptor is not None
    me = next(r for r in report.descriptor.regions if r.name == "me")
    assert me.start == 0x6000  # manifest.md: ME base 0x6000


def test_bare_me_region_kind() -> None:
    report = inspect_image(fixture(LINK_ME))
    assert report.kind is ImageKind.ME_REGION
    assert report.descriptor is None
    assert report.schema_version == SCHEMA_VERSION


def test_json_contract_keys() -> None:
    document = to_jsonable(inspect_image(compose(LINK_FD, LINK_ME)))
    assert document["schema_version"] == 1
    assert document["kind"] == "full-image"
    assert set(document["descriptor"]["regions"][0]) >= {"name", "start", "end"}
    assert set(document["descriptor"]["me_disable"]) >= {"name", "strap", "bit", "set"}
    me = document["me"]
    assert me["family"] == "ME"
    assert me["version"] == "8.0.20.1513"
    assert me["layout"] == "fpt"
    assert set(me["partitions"][0]) >= {"name", "offset", "length", "present"}
    assert me["manifest"]["signature_valid"] is True
    assert set(me["modules"][0]) >= {"name", "present"}
    assert me["state"] == "stock"
    assert set(document["boot_guard"]) >= {"key_manifest", "boot_policy_manifest"}
    assert isinstance(document["warnings"], list)


def test_flipped_signature_byte_is_corrupt() -> None:
    data = bytearray(fixture(LINK_ME))
    data[0x93000 + 0x184 + 0x10] ^= 0x01  # inside the signature (manifest+0x184, §1.5)
    report = inspect_image(bytes(data))
    assert report.me is not None
    assert report.me.manifest is not None
    assert report.me.manifest.signature_valid is False
    assert report.me.state is MeState.CORRUPT


def test_wrong_fpt_checksum_is_corrupt() -> None:
    data = bytearray(fixture(LINK_ME))
    data[0x1B] ^= 0xFF  # the checksum byte, $FPT+0x0B
    report = inspect_image(bytes(data))
    assert report.me is not None
    assert report.me.fpt is not None
    assert not report.me.fpt.checksum_valid
    assert report.me.state is MeState.CORRUPT


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 50


@pytest.mark.parametrize(
    "data",
    [b"", os.urandom(4096), PDF, b"\xff" * 0x10000],
    ids=["empty", "random", "pdf", "erased"],
)
def test_garbage_is_a_format_error(data: bytes) -> None:
    with pytest.raises(FirmwareFormatError):
        inspect_image(data)


def test_descriptor_pointing_past_eof() -> None:
    image = bytearray(fixture(LINK_FD) + b"\xff" * 0x1000)
    flmap0 = struct.unpack_from("<I", image, 0x14)[0]
    frba = ((flmap0 >> 16) & 0xFF) << 4  # ifdtool's FRBA rule (reference §3.1)
    flreg2 = encode_flreg(0x400000, 0x600000, IfdVersion.V1)
    struct.pack_into("<I", image, frba + 8, flreg2)  # FLREG2 = ME region
    with pytest.raises(FirmwareFormatError, match="past the end"):
        inspect_image(bytes(image))


def test_descriptor_head_is_a_descriptor() -> None:
    assert inspect_image(fixture(LINK_FD)[:0x800]).kind is ImageKind.DESCRIPTOR


def test_overflowing_counts_are_format_errors() -> None:
    data = bytearray(fixture(LINK_ME))
    struct.pack_into("<I", data, 0x14, 0x7FFFFFFF)  # $FPT entry count
    with pytest.raises(FirmwareFormatError):
        inspect_image(bytes(data))
    data = bytearray(fixture(LINK_ME))
    struct.pack_into("<I", data, 0x93000 + 0x20, 0xFFFFFFFF)  # manifest module count
    report = inspect_image(bytes(data))
    assert report.me is not None
    assert report.me.state is MeState.CORRUPT


def test_truncated_me_region() -> None:
    data = fixture(LINK_ME)[:0x94000]  # cuts FTPR (0x93000 + 0x75000) short
    report = inspect_image(data)
    assert any("truncated" in w for w in report.warnings)


# manifest.md "what it is" column: every fixture file, and what kind of file it is
EVERY_FIXTURE = {
    "coreboot-blobs/erying_tgl_fd.bin": ImageKind.DESCRIPTOR,
    "coreboot-blobs/facebook_fbg1701_descriptor.bin": ImageKind.DESCRIPTOR,
    "coreboot-blobs/facebook_fbg1701_me.bin": ImageKind.ME_REGION,
    "coreboot-blobs/google_link_descriptor.bin": ImageKind.DESCRIPTOR,
    "coreboot-blobs/google_link_me.bin": ImageKind.ME_REGION,
    "coreboot-blobs/intel_emeraldlake2_descriptor.bin": ImageKind.DESCRIPTOR,
    "coreboot-blobs/intel_emeraldlake2_me.bin": ImageKind.ME_REGION,
    "coreboot-blobs/ocp_tiogapass_descriptor.bin": ImageKind.DESCRIPTOR,
    "coreboot-blobs/samsung_lumpy_descriptor.bin": ImageKind.DESCRIPTOR,
    "coreboot-blobs/samsung_lumpy_me.bin": ImageKind.ME_REGION,
    "dasharo-blobs/asrock_spc741d8_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/intel_minnowmax_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/msi_ms7d25_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/msi_ms7d25_me.bin": ImageKind.ME_REGION,
    "dasharo-blobs/novacustom_ns5x_adl_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/novacustom_ns5x_tgl_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/novacustom_nv4x_adl_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/novacustom_v5x0tnx_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/novacustom_v5x0tu_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/protectli_vault_adl_n_vp2430_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/protectli_vault_adl_n_vp2440_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/protectli_vault_adl_n_vp32xx_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/protectli_vault_cml_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/protectli_vault_ehl_descriptor.bin": ImageKind.DESCRIPTOR,
    "dasharo-blobs/protectli_vault_glk_descriptor.bin": ImageKind.DESCRIPTOR,
    "hardenedlinux/asus_p10s-m_ws_descriptor.bin": ImageKind.DESCRIPTOR,
    "hardenedlinux/gigabyte_ga-b75m-d3h_descriptor.bin": ImageKind.DESCRIPTOR,
    "hardenedlinux/gigabyte_ga-b75m-d3h_me.bin": ImageKind.ME_REGION,
    "hardenedlinux/lenovo_x220_lumpy_me_cl.bin": ImageKind.ME_REGION,
    "intel_fw-tests/me11.fpt": ImageKind.ME_REGION,
    "intel_fw-tests/me11_cleaned.fpt": ImageKind.ME_REGION,
    "intel_fw-tests/me11.ifd": ImageKind.DESCRIPTOR,
    "intel_fw-tests/me8.ifd": ImageKind.DESCRIPTOR,
    "nethsm/supermicro_x11ssh-tf_descriptor_hap.bin": ImageKind.DESCRIPTOR,
    "system76-darp6/fd.rom": ImageKind.DESCRIPTOR,
    "system76-darp6/me.rom": ImageKind.ME_REGION,
}


@pytest.mark.parametrize("path", sorted(EVERY_FIXTURE))
def test_every_fixture_is_inspected(path: str) -> None:
    report = inspect_image(fixture(path))
    assert report.kind is EVERY_FIXTURE[path]
    to_jsonable(report)


def test_bare_fit_table_is_refused() -> None:
    # manifest.md: me11_fit.bin is a FIT table alone, neither image, region nor descriptor
    with pytest.raises(FirmwareFormatError):
        inspect_image(fixture("intel_fw-tests/me11_fit.bin"))


def test_fragments_are_reported_truncated() -> None:
    report = inspect_image(fixture("intel_fw-tests/me11.fpt"))
    assert report.me is not None
    assert report.me.fpt is not None
    assert report.me.fpt.checksum_valid  # manifest.md: gen-3 checksum 0xD0, valid
    assert any("truncated" in w for w in report.warnings)


def _erased_me_image() -> bytes:
    """link's descriptor with its ME region (0x1000-0x1FFFFF per manifest.md) all 0xFF."""
    from tests.firmware.neutralize_helpers import compose as compose_descriptor

    return compose_descriptor(LINK_FD)


def test_erased_me_region_reports_no_me_and_the_descriptor() -> None:
    report = inspect_image(_erased_me_image())
    assert report.kind is ImageKind.FULL_IMAGE
    assert report.me is None
    assert report.descriptor is not None
    assert report.descriptor.me_disable.set is False
    assert report.me_region is not None
    assert (report.me_region.start, report.me_region.end) == (0x1000, 0x200000)
    assert any("erased" in w for w in report.warnings)
    assert to_jsonable(report)["me"] is None


def test_after_disable_only_inspect_reports_the_strap_set() -> None:
    from mewarden.firmware.neutralize import (
        Mode,
        NeutralizeOptions,
        apply_neutralize,
        plan_neutralize,
    )
    from mewarden.firmware.neutralize_layout import read_me_image

    image = _erased_me_image()
    plan = plan_neutralize(read_me_image(image), NeutralizeOptions(mode=Mode.DISABLE_ONLY))
    report = inspect_image(apply_neutralize(image, plan))
    assert report.me is None
    assert report.descriptor is not None
    assert report.descriptor.me_disable.set is True


def test_descriptor_without_me_region_reports_no_me() -> None:
    from tests.firmware.neutralize_helpers import compose as compose_descriptor

    # manifest.md: the Gemini Lake descriptor's ME FLREG is unused (TXE lives elsewhere)
    report = inspect_image(compose_descriptor("dasharo-blobs/protectli_vault_glk_descriptor.bin"))
    assert report.kind is ImageKind.FULL_IMAGE
    assert report.me is None
    assert report.me_region is None
    assert any("no ME region" in w for w in report.warnings)


def test_random_me_region_in_a_full_image_is_still_a_format_error() -> None:
    image = bytearray(_erased_me_image())
    image[0x1000:0x2000] = os.urandom(0x1000)
    with pytest.raises(FirmwareFormatError):
        inspect_image(bytes(image))


@pytest.mark.parametrize(
    "path",
    [
        "coreboot-blobs/ocp_tiogapass_descriptor.bin",  # Lewisburg: no source for the strap
        "dasharo-blobs/novacustom_v5x0tu_descriptor.bin",  # Meteor Lake
    ],
)
def test_unknown_strap_location_is_an_unknown_platform_warning(path: str) -> None:
    report = inspect_image(fixture(path))
    assert report.descriptor is not None
    assert report.descriptor.me_disable.set is None
    assert any(w.startswith("unknown platform") for w in report.warnings)


def test_known_strap_location_gives_no_platform_warning() -> None:
    report = inspect_image(fixture(LINK_FD))
    assert not any("unknown platform" in w for w in report.warnings)
