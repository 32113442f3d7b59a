"""Independent cross-checks of the ME parsers.

* ``uefi-firmware`` (PyPI, theopolis/uefi-firmware-parser): FPT entries and FTPR ``$MME`` module
  names/compression on ME 6-10 regions (the reference, §3.4, says only those are reliable);
* ``UEFIExtract`` (Debian ``uefitool-cli``): the ME version and the FPT entry names of composed
  full images (ME 8, CSME 14, CSME 16.1; §3.5).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mewarden.firmware.inspect import inspect_image
from mewarden.firmware.me import fpt
from tests.firmware.inspect_support import compose, fixture
from tests.support import missing, require_tool

ME_6_10 = [
    "coreboot-blobs/google_link_me.bin",
    "coreboot-blobs/samsung_lumpy_me.bin",
    "coreboot-blobs/intel_emeraldlake2_me.bin",
]


def _uefi_firmware_container(data: bytes) -> object:
    try:
        import uefi_firmware
    except ImportError:
        missing("PyPI package uefi-firmware is not installed (dev extra)")
    parser = uefi_firmware.AutoParser(data)
    assert parser.type() == "IntelME"
    return parser.parse()


def _name(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii", "replace")


@pytest.mark.parametrize("path", ME_6_10)
def test_partitions_agree_with_uefi_firmware(path: str) -> None:
    data = fixture(path)
    container = _uefi_firmware_container(data)
    theirs = [
        (_name(p.structure.Name), p.structure.Offset, p.structure.Size)
        for p in container.partitions  # type: ignore[attr-defined]
    ]
    ours = [(e.name, e.offset, e.length) for e in fpt.parse_fpt(data).entries]
    assert len(ours) == len(theirs)
    for (our_name, our_offset, our_size), (name, offset, size) in zip(ours, theirs, strict=True):
        assert (our_offset, our_size) == (offset, size)
        if name.isprintable() and name.isascii():
            assert our_name == name


@pytest.mark.parametrize("path", ME_6_10)
def test_ftpr_modules_agree_with_uefi_firmware(path: str) -> None:
    data = fixture(path)
    container = _uefi_firmware_container(data)
    ftpr = next(
        p
        for p in container.partitions  # type: ignore[attr-defined]
        if p.structure.Name.rstrip(b"\0") == b"FTPR"
    )
    theirs = [
        (_name(m.structure.Name), {0: "uncompressed", 1: "huffman", 2: "lzma"}[
            (m.structure.Flags >> 4) & 7
        ])
        for m in ftpr.manifest.modules
    ]  # fmt: skip
    report = inspect_image(data)
    assert report.me is not None
    assert [(m.name, m.compression) for m in report.me.modules] == theirs


COMPOSED = [
    ("coreboot-blobs/google_link_descriptor.bin", "coreboot-blobs/google_link_me.bin"),
    ("system76-darp6/fd.rom", "system76-darp6/me.rom"),
    ("dasharo-blobs/msi_ms7d25_descriptor.bin", "dasharo-blobs/msi_ms7d25_me.bin"),
]


def _uefiextract(tool: str, image: Path) -> tuple[str, str]:
    """(ME region info.txt, report.txt) written by UEFIExtract for ``image``."""
    subprocess.run([tool, str(image), "report"], capture_output=True, timeout=120, check=False)
    subprocess.run([tool, str(image)], capture_output=True, timeout=120, check=False)
    report = Path(f"{image}.report.txt").read_text(errors="replace")
    infos = list(Path(f"{image}.dump").glob("*ME region/info.txt"))
    assert len(infos) == 1, "UEFIExtract found no ME region"
    return infos[0].read_text(errors="replace"), report


@pytest.mark.parametrize(("descriptor", "me"), COMPOSED)
def test_version_agrees_with_uefiextract(tmp_path: Path, descriptor: str, me: str) -> None:
    tool = require_tool("UEFIExtract")
    image = tmp_path / "full.bin"
    image.write_bytes(compose(descriptor, me))
    info, _report = _uefiextract(tool, image)
    match = re.search(r"^Version: (\S+)", info, re.MULTILINE)
    assert match is not None
    report = inspect_image(image.read_bytes())
    assert report.me is not None
    assert report.me.version == match.group(1)


def test_fpt_entries_agree_with_uefiextract(tmp_path: Path) -> None:
    tool = require_tool("UEFIExtract")
    image = tmp_path / "link.bin"
    image.write_bytes(compose(*COMPOSED[0]))
    _info, text = _uefiextract(tool, image)
    theirs = re.findall(r"^ FPT entry .*\| --- (\S+)\s*$", text, re.MULTILINE)
    report = inspect_image(image.read_bytes())
    assert report.me is not None
    ours = [p.name.removeprefix("0x").upper() if p.name.startswith("0x") else p.name
            for p in report.me.partitions]  # fmt: skip
    assert ours == theirs
