"""Cross-checks of the descriptor parser against independent parsers: ifdtool and chipsec.

ifdtool (Debian coreboot-utils 4.15) decodes IFD v2 only when told a v2 platform with ``-p``;
the version given to it here comes from the fixture manifest, not from our parser. chipsec's
pure functions (``chipsec.hal.spi_descriptor``) read 12 FLREGs with v2 masks; on IFD v1 only
regions 0-4 are real (reference firmware.md §3.3), and 16 KiB descriptors give ``None``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mewarden.firmware.descriptor import IfdVersion, parse_descriptor
from tests.support import missing, require_fixture, require_tool

# (fixture, IFD version per manifest.md, ifdtool platform for v2)
DESCRIPTORS = [
    ("coreboot-blobs/google_link_descriptor.bin", IfdVersion.V1, None),
    ("coreboot-blobs/samsung_lumpy_descriptor.bin", IfdVersion.V1, None),
    ("coreboot-blobs/intel_emeraldlake2_descriptor.bin", IfdVersion.V1, None),
    ("coreboot-blobs/facebook_fbg1701_descriptor.bin", IfdVersion.V1, None),
    ("coreboot-blobs/ocp_tiogapass_descriptor.bin", IfdVersion.V2, "lbg"),
    ("coreboot-blobs/erying_tgl_fd.bin", IfdVersion.V2, "tgl"),
    ("system76-darp6/fd.rom", IfdVersion.V2, "cnl"),
    ("dasharo-blobs/msi_ms7d25_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/novacustom_ns5x_adl_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/novacustom_nv4x_adl_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/protectli_vault_adl_n_vp2430_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/protectli_vault_adl_n_vp2440_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/protectli_vault_adl_n_vp32xx_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/novacustom_ns5x_tgl_descriptor.bin", IfdVersion.V2, "tgl"),
    ("dasharo-blobs/protectli_vault_cml_descriptor.bin", IfdVersion.V2, "cnl"),
    ("dasharo-blobs/protectli_vault_ehl_descriptor.bin", IfdVersion.V2, "ehl"),
    ("dasharo-blobs/protectli_vault_glk_descriptor.bin", IfdVersion.V2, "glk"),
    ("dasharo-blobs/novacustom_v5x0tu_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/novacustom_v5x0tnx_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/asrock_spc741d8_descriptor.bin", IfdVersion.V2, "adl"),
    ("dasharo-blobs/intel_minnowmax_descriptor.bin", IfdVersion.V1, None),
    ("hardenedlinux/gigabyte_ga-b75m-d3h_descriptor.bin", IfdVersion.V1, None),
    ("hardenedlinux/asus_p10s-m_ws_descriptor.bin", IfdVersion.V2, "sklkbl"),
    ("nethsm/supermicro_x11ssh-tf_descriptor_hap.bin", IfdVersion.V2, "sklkbl"),
    ("intel_fw-tests/me11.ifd", IfdVersion.V2, "sklkbl"),
    ("intel_fw-tests/me8.ifd", IfdVersion.V1, None),
]
IDS = [path.split("/")[-1] for path, _, _ in DESCRIPTORS]

_REGION = re.compile(r"Flash Region (\d+) \([^)]*\): ([0-9a-f]+) - ([0-9a-f]+)( \(unused\))?")
_STRAP = re.compile(r"^PCHSTRP(\d+)\s*:\s*0x([0-9a-f]+)", re.MULTILINE)
_MASTER = re.compile(r"^FLMSTR(\d):\s+0x([0-9a-f]+)", re.MULTILINE)


def _full_descriptor(path: Path, tmp_path: Path) -> Path:
    """The 2 KiB fragments are padded with 0xFF to the 4 KiB ifdtool expects."""
    data = path.read_bytes()
    if len(data) >= 0x1000:
        return path
    padded = tmp_path / path.name
    padded.write_bytes(data + b"\xff" * (0x1000 - len(data)))
    return padded


def _ifdtool_dump(path: Path, platform: str | None) -> str:
    ifdtool = require_tool("ifdtool")
    argv = [ifdtool, *(["-p", platform] if platform else []), "-d", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.system
@pytest.mark.parametrize(("path", "version", "platform"), DESCRIPTORS, ids=IDS)
def test_regions_straps_masters_agree_with_ifdtool(
    path: str, version: IfdVersion, platform: str | None, tmp_path: Path
) -> None:
    fixture = _full_descriptor(require_fixture(path), tmp_path)
    dump = _ifdtool_dump(fixture, platform)
    ours = parse_descriptor(fixture.read_bytes())
    assert ours.version is version
    theirs = _REGION.findall(dump)
    assert len(theirs) >= 3
    for index, start, limit, unused in theirs:
        region = ours.regions[int(index)]
        assert region.used is not bool(unused), f"region {index}"
        if region.used:
            assert (region.start, region.end) == (int(start, 16), int(limit, 16) + 1)
    straps = {int(i): int(v, 16) for i, v in _STRAP.findall(dump)}
    # ifdtool 4.15 prints a fixed number of dwords, beyond PSL; compare the PSL we report.
    assert set(range(len(ours.straps))) <= set(straps), "ifdtool printed fewer straps"
    for index, value in enumerate(ours.straps):
        assert straps[index] == value, f"PCHSTRP{index}"
    for number, raw in _MASTER.findall(dump):
        assert ours.masters[int(number) - 1].raw == int(raw, 16), f"FLMSTR{number}"


@pytest.mark.system
@pytest.mark.parametrize(
    "path",
    [
        "coreboot-blobs/google_link_descriptor.bin",
        "coreboot-blobs/intel_emeraldlake2_descriptor.bin",
        "intel_fw-tests/me8.ifd",
        "hardenedlinux/asus_p10s-m_ws_descriptor.bin",
        "nethsm/supermicro_x11ssh-tf_descriptor_hap.bin",
        "intel_fw-tests/me11.ifd",
    ],
)
def test_me_disable_state_agrees_with_ifdtool(path: str, tmp_path: Path) -> None:
    """Only where ifdtool's rule is right: IFD v1 (AltMeDisable) and Sunrise Point (HAP)."""
    fixture = _full_descriptor(require_fixture(path), tmp_path)
    ours = parse_descriptor(fixture.read_bytes())
    platform = "sklkbl" if ours.version is IfdVersion.V2 else None
    dump = _ifdtool_dump(fixture, platform)
    line = re.search(r"(HAP|AltMeDisable) bit is (not )?set", dump)
    assert line is not None
    assert ours.me_disable.name == line.group(1)
    assert ours.me_disable.set is (line.group(2) is None)


_ACCESS_NAMES = {
    "Flash Descriptor": "fd",
    "Host CPU/BIOS Region": "bios",
    "Intel ME Region": "me",
    "GbE Region": "gbe",
    "Platform Data Region": "pd",
    "EC Region": "ec",
}
_ACCESS = re.compile(r"^\s+(.+?) (Read|Write) Access:\s+(enabled|disabled)", re.MULTILINE)


def _ifdtool_access(dump: str) -> dict[int, dict[str, set[str]]]:
    """Per FLMSTR number: the regions ifdtool lists as readable / writable."""
    access: dict[int, dict[str, set[str]]] = {}
    blocks = re.split(r"^FLMSTR(\d):.*$", dump, flags=re.MULTILINE)
    for number, body in zip(blocks[1::2], blocks[2::2], strict=True):
        granted: dict[str, set[str]] = {"Read": set(), "Write": set()}
        for label, kind, state in _ACCESS.findall(body.split("\n\n")[0]):
            if state == "enabled":
                granted[kind].add(_ACCESS_NAMES[label])
        access[int(number)] = granted
    return access


@pytest.mark.system
@pytest.mark.parametrize(("path", "version", "platform"), DESCRIPTORS, ids=IDS)
def test_master_access_agrees_with_ifdtool(
    path: str, version: IfdVersion, platform: str | None, tmp_path: Path
) -> None:
    fixture = _full_descriptor(require_fixture(path), tmp_path)
    ours = parse_descriptor(fixture.read_bytes())
    access = _ifdtool_access(_ifdtool_dump(fixture, platform))
    assert access, "ifdtool printed no master section"
    for number, granted in access.items():
        master = ours.masters[number - 1]
        shown = set(_ACCESS_NAMES.values())  # ifdtool shows only these regions
        assert set(master.read) & shown == granted["Read"], f"FLMSTR{number} read"
        assert set(master.write) & shown == granted["Write"], f"FLMSTR{number} write"


def _chipsec() -> object:
    try:
        from chipsec.hal import spi_descriptor
    except Exception as exc:  # chipsec's import can fail on optional native parts
        missing(f"chipsec.hal.spi_descriptor cannot be imported: {exc}")
    return spi_descriptor


@pytest.mark.system
@pytest.mark.parametrize(("path", "version", "platform"), DESCRIPTORS, ids=IDS)
def test_regions_agree_with_chipsec(
    path: str, version: IfdVersion, platform: str | None, tmp_path: Path
) -> None:
    del platform
    spi_descriptor: object = _chipsec()
    fixture = _full_descriptor(require_fixture(path), tmp_path)
    data = fixture.read_bytes()
    ours = parse_descriptor(data)
    found = spi_descriptor.get_spi_flash_descriptor(data)  # type: ignore[attr-defined]
    assert found is not None
    regions = spi_descriptor.get_spi_regions(found[1])  # type: ignore[attr-defined]
    if ours.size != 0x1000:
        assert regions is None  # manifest.md: chipsec gives None for 16 KiB descriptors
        return
    assert regions is not None
    compared = 5 if version is IfdVersion.V1 else len(regions)
    for index, _name, _flreg, base, limit, notused in regions[:compared]:
        region = ours.regions[index]
        assert region.used is not notused or _erased(data, index), f"region {index}"
        if region.used:
            assert (region.start, region.end) == (base, limit + 1)


def _erased(data: bytes, index: int) -> bool:
    """chipsec calls an erased FLREG (0xFFFFFFFF) used; we do not (it is no region)."""
    return data[0x40 + 4 * index : 0x44 + 4 * index] == b"\xff" * 4


@pytest.mark.system
@pytest.mark.parametrize(
    "path",
    [
        "coreboot-blobs/google_link_descriptor.bin",
        "coreboot-blobs/samsung_lumpy_descriptor.bin",
        "intel_fw-tests/me8.ifd",
    ],
)
def test_v1_master_access_agrees_with_chipsec(path: str) -> None:
    spi_descriptor: object = _chipsec()
    ours = parse_descriptor(require_fixture(path).read_bytes())
    names = [region.name for region in ours.regions]
    for master in ours.masters:
        _rid, read_mask, write_mask = spi_descriptor.get_SPI_master(master.raw)  # type: ignore[attr-defined]
        read = tuple(n for i, n in enumerate(names) if read_mask >> i & 1)
        write = tuple(n for i, n in enumerate(names) if write_mask >> i & 1)
        assert (master.read, master.write) == (read, write), master.name
