"""Descriptor parsing against the verified facts of every real descriptor in the fixture corpus.

Every expected value below is transcribed from ``../shared/firmware-fixtures/manifest.md``
("verified facts" column; inclusive region ends there become exclusive ``end`` here) or from
``../shared/reference/firmware.md`` §1.8 for the strap location of a family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.descriptor import (
    IfdVersion,
    encode_flreg,
    find_descriptor,
    parse_descriptor,
    replace_regions,
)
from mewarden.firmware.straps import PchFamily
from mewarden.jsonutil import to_jsonable
from tests.support import require_fixture

MiB = 1 << 20


@dataclass(frozen=True)
class Facts:
    path: str
    version: IfdVersion
    regions: dict[str, tuple[int, int]] = field(default_factory=dict)
    straps: dict[int, int] = field(default_factory=dict)
    flash_size: int | None = None
    size: int = 0x1000
    psl: int | None = None
    masters: tuple[int, ...] = ()
    family: PchFamily | None = None
    me_disable: tuple[str, int, int, bool] | None = None  # name, strap, bit, set
    me_unused: bool = False


FACTS = [
    Facts(
        "coreboot-blobs/google_link_descriptor.bin",
        IfdVersion.V1,
        regions={"fd": (0, 0x1000), "me": (0x1000, 0x200000), "bios": (0x200000, 0x800000)},
        straps={0: 0x0820D682, 10: 0x00410044},
        flash_size=8 * MiB,
        masters=(0x0A0B0000, 0x0C0D0000, 0x08080118),
        family=PchFamily.PCH_IFD1,
        me_disable=("AltMeDisable", 10, 7, False),
    ),
    Facts(
        "coreboot-blobs/samsung_lumpy_descriptor.bin",
        IfdVersion.V1,
        regions={"me": (0x1000, 0x180000)},
        straps={0: 0x0820D602, 10: 0x00410044},
        family=PchFamily.PCH_IFD1,
        me_disable=("AltMeDisable", 10, 7, False),
    ),
    Facts(
        "coreboot-blobs/intel_emeraldlake2_descriptor.bin",
        IfdVersion.V1,
        straps={10: 0x00C10044},
        masters=(0xFFFF0000, 0xFFFF0000),
        family=PchFamily.PCH_IFD1,
        me_disable=("AltMeDisable", 10, 7, False),
    ),
    Facts(
        "coreboot-blobs/facebook_fbg1701_descriptor.bin",
        IfdVersion.V1,
        straps={0: 0, 10: 0},
        psl=14,
        family=PchFamily.TXE_SOC_IFD1,
    ),
    Facts(
        "coreboot-blobs/ocp_tiogapass_descriptor.bin",
        IfdVersion.V2,
        regions={"me": (0x3000, 0xA26000)},
        psl=139,
        family=PchFamily.LEWISBURG,
    ),
    Facts(
        "coreboot-blobs/erying_tgl_fd.bin",
        IfdVersion.V2,
        straps={0: 0x00010000, 37: 0x800000B0},
        family=PchFamily.TIGER_POINT_H,
        me_disable=("HAP", 37, 16, False),
    ),
    Facts(
        "system76-darp6/fd.rom",
        IfdVersion.V2,
        regions={"me": (0x1000, 0x400000), "bios": (0x400000, 0x1000000)},
        straps={28: 0x800201B8},
        flash_size=16 * MiB,
        masters=(0xFFFFFF00, 0xFFFFFF00, 0xFFFFFF00),
        family=PchFamily.CANNON_POINT_LP,
        me_disable=("HAP", 28, 16, False),
    ),
    Facts(
        "dasharo-blobs/msi_ms7d25_descriptor.bin",
        IfdVersion.V2,
        regions={"me": (0x1000, 0x3D9000)},
        straps={52: 0x10081008, 55: 0xC21000B0},
        flash_size=32 * MiB,
        psl=115,
        family=PchFamily.ALDER_POINT_S,
        me_disable=("HAP", 55, 16, False),
    ),
    Facts(
        "dasharo-blobs/novacustom_ns5x_adl_descriptor.bin",
        IfdVersion.V2,
        straps={31: 0x40000030, 52: 0x300},
        family=PchFamily.TIGER_POINT_LP_ALDER_POINT_P,
        me_disable=("HAP", 31, 16, False),
    ),
    Facts(
        "dasharo-blobs/novacustom_nv4x_adl_descriptor.bin",
        IfdVersion.V2,
        straps={31: 0x40010030, 52: 0x300},
        family=PchFamily.TIGER_POINT_LP_ALDER_POINT_P,
        me_disable=("HAP", 31, 16, True),
    ),
    *(
        Facts(
            f"dasharo-blobs/protectli_vault_adl_n_{board}_descriptor.bin",
            IfdVersion.V2,
            straps={31: s31, 52: 0x300},
            family=PchFamily.ALDER_POINT_N,
            me_disable=("HAP", 31, 16, False),
        )
        for board, s31 in (("vp2430", 0x400000A2), ("vp2440", 0x400000A2), ("vp32xx", 0x401000A2))
    ),
    Facts(
        "dasharo-blobs/novacustom_ns5x_tgl_descriptor.bin",
        IfdVersion.V2,
        straps={31: 0x00000830},
        family=PchFamily.TIGER_POINT_LP_ALDER_POINT_P,
        me_disable=("HAP", 31, 16, False),
    ),
    Facts(
        "dasharo-blobs/protectli_vault_cml_descriptor.bin",
        IfdVersion.V2,
        straps={28: 0x800001B8},
        family=PchFamily.CANNON_POINT_LP,
        me_disable=("HAP", 28, 16, False),
    ),
    Facts(
        "dasharo-blobs/protectli_vault_ehl_descriptor.bin",
        IfdVersion.V2,
        straps={32: 0x8204B354, 33: 0x80000210},
        psl=56,
        family=PchFamily.ELKHART_LAKE,
        me_disable=("HAP", 33, 16, False),
    ),
    Facts(
        "dasharo-blobs/protectli_vault_glk_descriptor.bin",
        IfdVersion.V2,
        psl=23,
        family=PchFamily.APOLLO_GEMINI_LAKE,
        me_unused=True,
    ),
    Facts(
        "dasharo-blobs/novacustom_v5x0tu_descriptor.bin",
        IfdVersion.V2,
        size=0x4000,
        psl=130,
        regions={"fd": (0, 0x4000)},
        family=PchFamily.METEOR_LAKE,
    ),
    Facts(
        "dasharo-blobs/novacustom_v5x0tnx_descriptor.bin",
        IfdVersion.V2,
        size=0x4000,
        psl=130,
        family=PchFamily.METEOR_LAKE,
    ),
    Facts(
        "dasharo-blobs/asrock_spc741d8_descriptor.bin",
        IfdVersion.V2,
        regions={"me": (0x1000, 0x2FF0000)},
        psl=80,
        family=PchFamily.EMMITSBURG,
    ),
    Facts(
        "dasharo-blobs/intel_minnowmax_descriptor.bin",
        IfdVersion.V1,
        psl=11,
        family=PchFamily.TXE_SOC_IFD1,
    ),
    Facts(
        "hardenedlinux/gigabyte_ga-b75m-d3h_descriptor.bin",
        IfdVersion.V1,
        regions={"me": (0x1000, 0x20000), "bios": (0x20000, 0x800000)},
        masters=(0xFFFF0000, 0xFFFF0000),
        family=PchFamily.PCH_IFD1,
    ),
    Facts(
        "hardenedlinux/asus_p10s-m_ws_descriptor.bin",
        IfdVersion.V2,
        straps={0: 0x00520000},
        family=PchFamily.SUNRISE_POINT,
        me_disable=("HAP", 0, 16, False),
    ),
    Facts(
        "nethsm/supermicro_x11ssh-tf_descriptor_hap.bin",
        IfdVersion.V2,
        straps={0: 0x00430000},
        family=PchFamily.SUNRISE_POINT,
        me_disable=("HAP", 0, 16, True),
    ),
    Facts(
        "intel_fw-tests/me11.ifd",
        IfdVersion.V2,
        regions={"me": (0x3000, 0x700000)},
        flash_size=16 * MiB,
        family=PchFamily.SUNRISE_POINT,
        me_disable=("HAP", 0, 16, False),
    ),
    Facts(
        "intel_fw-tests/me8.ifd",
        IfdVersion.V1,
        flash_size=12 * MiB,
        family=PchFamily.PCH_IFD1,
        me_disable=("AltMeDisable", 10, 7, False),
    ),
]


@pytest.mark.system
@pytest.mark.parametrize("facts", FACTS, ids=lambda f: f.path.split("/")[-1])
def test_fixture_descriptor_matches_manifest(facts: Facts) -> None:
    data = require_fixture(facts.path).read_bytes()
    descriptor = parse_descriptor(data)
    assert descriptor.offset == 0x10
    assert descriptor.version is facts.version
    assert descriptor.size == facts.size
    for name, (start, end) in facts.regions.items():
        region = descriptor.region(name)
        assert region is not None
        assert (region.start, region.end, region.used) == (start, end, True)
    for index, value in facts.straps.items():
        assert descriptor.straps[index] == value, f"PCHSTRP{index}"
    if facts.flash_size is not None:
        assert descriptor.flash_size == facts.flash_size
    if facts.psl is not None:
        assert len(descriptor.straps) == facts.psl
    for index, raw in enumerate(facts.masters):
        assert descriptor.masters[index].raw == raw
    if facts.family is not None:
        assert descriptor.pch_family == facts.family.value
    if facts.me_disable is not None:
        me = descriptor.me_disable
        assert (me.name, me.strap, me.bit, me.set) == facts.me_disable
    me_region = descriptor.region("me")
    assert me_region is not None
    assert me_region.used is not facts.me_unused


@pytest.mark.system
def test_strap_base_is_fpsba_and_descriptor_warns_on_truncated_fragment() -> None:
    data = require_fixture("intel_fw-tests/me8.ifd").read_bytes()
    descriptor = parse_descriptor(data)
    # me8.ifd is the first 2 KiB of a 4 KiB descriptor (manifest.md).
    assert any("truncated" in w for w in descriptor.warnings)
    assert descriptor.strap_base == 0x100


@pytest.mark.system
def test_hap_set_and_clear_pair_differ_only_where_expected() -> None:
    hap_set = parse_descriptor(
        require_fixture("nethsm/supermicro_x11ssh-tf_descriptor_hap.bin").read_bytes()
    )
    hap_clear = parse_descriptor(
        require_fixture("hardenedlinux/asus_p10s-m_ws_descriptor.bin").read_bytes()
    )
    assert hap_set.me_disable.confidence == hap_clear.me_disable.confidence == "verified"
    assert hap_set.me_disable.candidates == ()
    assert (hap_set.me_disable.set, hap_clear.me_disable.set) == (True, False)


@pytest.mark.system
@pytest.mark.parametrize(
    "path",
    [
        "coreboot-blobs/ocp_tiogapass_descriptor.bin",
        "dasharo-blobs/asrock_spc741d8_descriptor.bin",
        "dasharo-blobs/novacustom_v5x0tu_descriptor.bin",
    ],
)
def test_platforms_without_known_location_report_unknown_with_candidates(path: str) -> None:
    descriptor = parse_descriptor(require_fixture(path).read_bytes())
    me = descriptor.me_disable
    assert (me.name, me.strap, me.bit, me.set, me.confidence) == (
        "unknown",
        None,
        None,
        None,
        "unknown",
    )
    strap_bits = {(c.strap, c.bit) for c in me.candidates}
    # reference §1.8: the v2 candidates named by some source (all bit 16).
    assert {(0, 16), (28, 16), (31, 16), (32, 16), (55, 16)} <= strap_bits


@pytest.mark.system
def test_unverified_family_lists_its_disputed_alternatives() -> None:
    descriptor = parse_descriptor(require_fixture("system76-darp6/fd.rom").read_bytes())
    me = descriptor.me_disable
    assert me.confidence == "unverified"
    # reference §1.8: Comet Lake LP is PCHSTRP28 per one fork, PCHSTRP32 per another,
    # and ifdtool -M 1 writes PCHSTRP0 on every IFD v2.
    assert {(c.strap, c.bit) for c in me.candidates} == {(28, 16), (32, 16), (0, 16)}


@pytest.mark.system
def test_ifdtool_modified_tgl_h_descriptor_is_flagged() -> None:
    descriptor = parse_descriptor(require_fixture("coreboot-blobs/erying_tgl_fd.bin").read_bytes())
    assert descriptor.me_disable.set is False
    assert any("PCHSTRP0 bit 16 is set" in w for w in descriptor.warnings)


@pytest.mark.system
def test_json_carries_the_contract_keys() -> None:
    data = require_fixture("coreboot-blobs/google_link_descriptor.bin").read_bytes()
    doc = to_jsonable(parse_descriptor(data))
    assert {k: v for k, v in doc["regions"][2].items() if k in ("name", "start", "end")} == {
        "name": "me",
        "start": 0x1000,
        "end": 0x200000,
    }
    assert {k: doc["me_disable"][k] for k in ("name", "strap", "bit", "set")} == {
        "name": "AltMeDisable",
        "strap": 10,
        "bit": 7,
        "set": False,
    }
    assert doc["version"] == "v1"


# --- synthetic descriptors (stand alone, no fixture) ---------------------------------------------


def _synthetic_v1(size: int = 0x1000) -> bytearray:
    """A minimal IFD v1 (layout per reference firmware.md §1.3/§3.1), 8 MiB, 18 straps."""
    data = bytearray(b"\xff" * size)
    data[0x10:0x14] = b"\x5a\xa5\xf0\x0f"
    data[0x14:0x18] = (0x02040003).to_bytes(4, "little")  # FCBA 0x30, FRBA 0x40, NR 2
    data[0x18:0x1C] = (0x12100206).to_bytes(4, "little")  # FMBA 0x60, FPSBA 0x100, PSL 18
    data[0x1C:0x20] = (0x00210120).to_bytes(4, "little")
    data[0x30:0x34] = (0x00000024).to_bytes(4, "little")  # 8 MiB component
    flregs = (0x00000000, 0x07FF0200, 0x01FF0001, 0x00001FFF, 0x00001FFF)
    for index, flreg in enumerate(flregs):
        data[0x40 + 4 * index : 0x44 + 4 * index] = flreg.to_bytes(4, "little")
    for index in range(18):
        data[0x100 + 4 * index : 0x104 + 4 * index] = bytes(4)
    return data


def test_synthetic_v1_decodes_regions_and_alt_me_disable() -> None:
    descriptor = parse_descriptor(bytes(_synthetic_v1()))
    assert descriptor.version is IfdVersion.V1
    assert [(r.name, r.start, r.end) for r in descriptor.regions if r.used] == [
        ("fd", 0, 0x1000),
        ("bios", 0x200000, 0x800000),
        ("me", 0x1000, 0x200000),
    ]
    assert descriptor.me_disable.set is False
    data = _synthetic_v1()
    data[0x128] |= 0x80  # PCHSTRP10 bit 7
    assert parse_descriptor(bytes(data)).me_disable.set is True


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 0x1000, b"\xff" * 64, b"%PDF-1.7\n" + b"\x00" * 100],
    ids=["empty", "zeros", "ff", "pdf"],
)
def test_non_descriptors_are_rejected(data: bytes) -> None:
    assert find_descriptor(data) is None
    with pytest.raises(FirmwareFormatError):
        parse_descriptor(data)


def test_descriptor_pointing_past_eof_is_a_format_error() -> None:
    data = _synthetic_v1()
    data[0x16] = 0xF0  # FRBA = 0xF00 ...
    with pytest.raises(FirmwareFormatError, match="past the end"):
        parse_descriptor(bytes(data[:0xF10]))  # ... whose FLREGs are beyond the cut


def test_truncated_strap_section_is_a_warning_not_a_crash() -> None:
    data = _synthetic_v1()[:0x120]
    descriptor = parse_descriptor(bytes(data))
    assert len(descriptor.straps) == 8
    assert any("strap section truncated" in w for w in descriptor.warnings)
    assert descriptor.me_disable.name == "unknown"  # PCHSTRP10 is not in the file


def test_region_zero_must_be_the_descriptor() -> None:
    data = _synthetic_v1()
    data[0x40:0x44] = (0x00010001).to_bytes(4, "little")  # FLREG0 = 0x1000-0x1FFF
    with pytest.raises(FirmwareFormatError, match="region 0"):
        parse_descriptor(bytes(data))


@pytest.mark.system
def test_shrinking_me_region_gives_the_flregs_of_a_real_shrunk_descriptor() -> None:
    """manifest.md: the ga-b75m-d3h descriptor has ME 0x1000-0x1FFFF, BIOS 0x20000-0x7FFFFF."""
    link = require_fixture("coreboot-blobs/google_link_descriptor.bin").read_bytes()
    shrunk_real = require_fixture("hardenedlinux/gigabyte_ga-b75m-d3h_descriptor.bin").read_bytes()
    ours = replace_regions(
        link, parse_descriptor(link), {"me": (0x1000, 0x20000), "bios": (0x20000, 0x800000)}
    )
    assert ours[0x44:0x4C] == shrunk_real[0x44:0x4C]  # FLREG1 (BIOS) and FLREG2 (ME), bytewise


@pytest.mark.parametrize(
    ("start", "end", "version"),
    [(0x1000, 0x1000, IfdVersion.V1), (0x1800, 0x2000, IfdVersion.V1), (0, 1 << 25, IfdVersion.V1)],
)
def test_unencodable_regions_are_rejected(start: int, end: int, version: IfdVersion) -> None:
    with pytest.raises(FirmwareFormatError):
        encode_flreg(start, end, version)


def test_ich_descriptor_with_signature_at_zero() -> None:
    """ICH8-10: signature at 0, sections relative to it (reference firmware.md §1.1, §2.3)."""
    data = bytearray(b"\xff" * 0x1000)
    data[0:4] = b"\x5a\xa5\xf0\x0f"
    data[4:8] = (0x04040001).to_bytes(4, "little")  # FCBA 0x10, FRBA 0x40
    data[8:12] = (0x02100206).to_bytes(4, "little")  # FMBA 0x60, FISBA 0x100, ISL 2
    data[0x10:0x14] = (0x00000004).to_bytes(4, "little")
    for index, flreg in enumerate((0x00000000, 0x07FF0200, 0x01FF0001, 0x1FFF, 0x1FFF)):
        data[0x40 + 4 * index : 0x44 + 4 * index] = flreg.to_bytes(4, "little")
    data[0x100:0x108] = bytes([1, 0, 0, 0, 0, 0, 0, 0])  # ICHSTRP0 bit 0 = MeDisable
    descriptor = parse_descriptor(bytes(data))
    assert descriptor.offset == 0
    assert descriptor.pch_family == PchFamily.ICH8_10.value
    assert (descriptor.me_disable.name, descriptor.me_disable.set) == ("MeDisable", True)
