"""ME region parsers against the facts in ``../shared/firmware-fixtures/manifest.md``.

Every expected value below is quoted from that manifest (or the reference it cites), not taken
from mewarden's own output.
"""

from __future__ import annotations

import pytest

from mewarden.firmware.me import cpd, fpt, ifwi, manifest
from mewarden.firmware.me.analyze import MeLayout, MeState, analyze_me
from mewarden.firmware.me.keys import MeFamily
from mewarden.firmware.me.signature import SignatureScheme
from tests.firmware.inspect_support import fixture

LINK = "coreboot-blobs/google_link_me.bin"
LUMPY = "coreboot-blobs/samsung_lumpy_me.bin"
EMERALD = "coreboot-blobs/intel_emeraldlake2_me.bin"
TXE2 = "coreboot-blobs/facebook_fbg1701_me.bin"
DARP6 = "system76-darp6/me.rom"
MS7D25 = "dasharo-blobs/msi_ms7d25_me.bin"
GA_B75M = "hardenedlinux/gigabyte_ga-b75m-d3h_me.bin"
X220_CL = "hardenedlinux/lenovo_x220_lumpy_me_cl.bin"


@pytest.mark.parametrize(
    ("path", "family", "version", "entries", "checksum"),
    [
        (LINK, MeFamily.ME, "8.0.20.1513", 15, 0xE4),
        (LUMPY, MeFamily.ME, "7.1.40.1161", 11, 0xFA),
        (TXE2, MeFamily.TXE, "2.0.4.3098", 20, None),
        (GA_B75M, MeFamily.ME, "8.1.30.1350", 1, 0x7B),
        (X220_CL, MeFamily.ME, "7.1.40.1161", 1, None),
    ],
)
def test_fpt_layout_regions(
    path: str, family: MeFamily, version: str, entries: int, checksum: int | None
) -> None:
    data = fixture(path)
    table = fpt.parse_fpt(data)
    assert table.offset == 0x10
    assert table.entry_count == entries
    assert table.checksum_valid
    if checksum is not None:
        assert table.stored_checksum == checksum
    report = analyze_me(data)
    assert report.family == family.value
    assert report.version == version
    assert report.layout is MeLayout.FPT
    assert report.manifest is not None
    assert report.manifest.signature_valid is True
    assert report.manifest.signature_scheme == SignatureScheme.PKCS1V15_SHA256.value


def test_link_partitions_modules_and_keys() -> None:
    report = analyze_me(fixture(LINK))
    names = [p.name for p in report.partitions]
    for expected in ("FOVD", "MDES", "FCRS", "EFFS", "GLUT", "MDMV", "FTPR", "NFTP"):
        assert expected in names
    assert any(name.startswith("NV") for name in names)
    modules = {m.name: m for m in report.modules}
    assert len(report.modules) == 12
    for name in ("ROMP", "BUP", "KERNEL", "POLICY", "FTCS"):
        assert modules[name].compression == "huffman"
    assert report.manifest is not None
    assert report.manifest.key_md5.startswith("0903fc25")
    assert report.manifest.key_sha256.upper().startswith("A356E3AC")
    assert report.manifest.key_known is not None
    assert report.state is MeState.STOCK


def test_pre_production_key_is_flagged() -> None:
    report = analyze_me(fixture(EMERALD))
    assert report.version == "8.0.0.1351"
    assert report.manifest is not None
    assert report.manifest.signature_valid is True
    # manifest.md: key MD5 not in me_cleaner's table; MEA: "Pre-Production"
    assert report.manifest.production_key is False
    assert any("pre-production" in w for w in report.warnings)


def test_txe2_module_headers_are_0x80_bytes() -> None:
    data = fixture(TXE2)
    table = fpt.parse_fpt(data)
    ftpr = table.entry("FTPR")
    assert ftpr is not None
    parsed = manifest.parse_manifest(data, ftpr.offset)
    from mewarden.firmware.me import mme

    modules = mme.parse_modules(data, parsed, ftpr.offset)
    assert {m.header_size for m in modules} == {0x80}
    assert parsed.key is not None
    assert parsed.key.family is MeFamily.TXE


def test_darp6_ifwi_16() -> None:
    data = fixture(DARP6)
    layout = ifwi.parse_layout_table(data)
    assert layout is not None
    assert layout.ifwi_version == "1.6"
    spans = {(s.offset, s.size) for s in layout.slots}
    assert spans == {(0x1000, 0x6E000), (0x6F000, 0x140000), (0x1AF000, 0x146000)}
    data_fpt = fpt.parse_fpt(data, 0x1000)
    assert data_fpt.header_version == 0x20
    assert data_fpt.stored_checksum == 0xCD
    assert data_fpt.checksum_valid
    assert [e.name for e in data_fpt.entries] == [
        "PSVN", "UEP", "IVBP", "MFS", "UTOK", "HVMP", "RSTR", "FLOG", "IMDP",
    ]  # fmt: skip
    bp1 = ifwi.parse_bpdt(data, 0x6F000)
    assert bp1.version == 1
    present = [e.name for e in bp1.entries if e.size]
    assert {"RBEP", "FTPR", "PMCP", "OEMP", "PCHC"} <= set(present)
    ftpr = next(e for e in bp1.entries if e.name == "FTPR")
    assert ftpr.data_offset == 0x94000
    directory = cpd.parse_cpd(data, 0x94000, ftpr.size)
    assert directory.header_version == 1
    names = [e.name for e in directory.entries]
    assert len(names) == 23
    assert names[:5] == ["FTPR.man", "rot.key", "kernel", "syslib", "bup"]
    assert names[-3:] == ["fwupdate", "ptt", "touch_fw"]
    assert [e.name for e in ifwi.parse_bpdt(data, 0x1AF000).entries if e.size] == ["NFTP"]


def test_darp6_report() -> None:
    report = analyze_me(fixture(DARP6))
    assert report.family == MeFamily.CSME.value
    assert report.version == "14.0.10.1204"
    assert report.layout is MeLayout.IFWI
    assert report.ifwi_version == "1.6"
    assert report.manifest is not None
    assert report.manifest.key_md5.startswith("8e4f8346")
    assert report.manifest.key_sha256.upper().startswith("DE15892B")
    assert report.manifest.signature_valid is True
    assert report.module_format == "cpd"
    assert report.sku == "Consumer"  # manifest.md: "CSME 14.0.10.1204 Consumer LP"
    assert report.state is MeState.STOCK


def test_ms7d25_csme16_pss() -> None:
    data = fixture(MS7D25)
    layout = ifwi.parse_layout_table(data)
    assert layout is not None
    assert layout.ifwi_version == "1.7"
    report = analyze_me(data)
    assert report.version == "16.1.30.2307"
    assert report.sku == "Consumer"  # manifest.md: "CSME 16.1.30.2307 Consumer"
    assert report.fpt is not None
    assert report.fpt.header_version == 0x21
    assert report.fpt.checksum_kind == "crc32"
    assert report.fpt.checksum_valid
    data_names = [p.name for p in report.partitions if p.directory == "data"]
    assert data_names == [
        "PSVN", "UEP", "RSTR", "IMDP", "HVMP", "IVBP", "MFS", "UTOK", "FLOG", "ELOG", "EFS",
        "FITC", "CDMD",
    ]  # fmt: skip
    assert report.manifest is not None
    assert report.manifest.key_size == 3072
    assert report.manifest.signature_scheme == SignatureScheme.PSS_SHA384.value
    assert report.manifest.signature_valid is True
    assert report.manifest.key_sha256.upper().startswith("BE6A10CB")
    ftpr = next(p for p in report.partitions if p.name == "FTPR")
    directory = cpd.parse_cpd(data, ftpr.offset, ftpr.length)
    assert (directory.header_version, directory.header_length) == (2, 0x14)
    assert len(directory.entries) == 29
    assert {"fitc.cfg", "intl.cfg"} <= {e.name for e in directory.entries}
    parsed = manifest.parse_manifest(data, directory.entries[0].data_offset)
    assert parsed.header_version == 0x21000


@pytest.mark.parametrize("path", [GA_B75M, X220_CL])
def test_me_cleaner_outputs_are_neutralized(path: str) -> None:
    report = analyze_me(fixture(path))
    assert report.state is MeState.NEUTRALIZED
    assert [p.name for p in report.partitions] == ["FTPR"]
    assert report.manifest is not None
    assert report.manifest.signature_valid is True


def test_truncated_cleaned_image_warns() -> None:
    report = analyze_me(fixture(GA_B75M))
    ftpr = report.partitions[0]
    assert (ftpr.offset, ftpr.length) == (0xD00, 0xCA000)
    assert any("truncated" in w for w in report.warnings)
    assert report.state is MeState.NEUTRALIZED  # a cleaner's -t output, not a cut-off image


# manifest.md: link's FPT lists FTPR at 0x93000 (+0x75000) and NFTP right after it at 0x108000
@pytest.mark.parametrize("cut", [0x108000, 0xF0000, 0xA0000])
def test_stock_region_cut_short_is_corrupt_not_neutralized(cut: int) -> None:
    report = analyze_me(fixture(LINK)[:cut])
    assert report.state is MeState.CORRUPT
    assert any("the ME region is truncated" in w and "NFTP" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("path", "names", "checksum"),
    [
        (
            "intel_fw-tests/me11.fpt",
            ["FTPR", "FTUP", "DLMP", "PSVN", "IVBP", "MFS", "NFTP", "ROMB", "FLOG", "UTOK", "ISHC"],
            0xD0,
        ),
        ("intel_fw-tests/me11_cleaned.fpt", ["FTPR"], 0xDA),
    ],
)
def test_me11_fpt_heads(path: str, names: list[str], checksum: int) -> None:
    table = fpt.parse_fpt(fixture(path))
    assert [e.name for e in table.entries] == names
    assert table.stored_checksum == checksum
    assert table.checksum_valid
