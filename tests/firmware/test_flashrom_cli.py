"""`mewarden firmware read|write` end to end: real flashrom, dummy programmer, CLI process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mewarden.firmware.descriptor import parse_descriptor
from tests.support import require_fixture, require_tool

CHIP_SIZE = 16 << 20
ME_START, ME_END = 0x1000, 0x200000  # manifest.md: link ME 0x1000-0x1FFFFF


def _mewarden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _chip(tmp_path: Path, *, flmstr1: int | None) -> Path:
    require_tool("flashrom")
    chip = bytearray(b"\xff" * CHIP_SIZE)
    descriptor = require_fixture("coreboot-blobs/google_link_descriptor.bin").read_bytes()
    me = require_fixture("coreboot-blobs/google_link_me.bin").read_bytes()
    chip[: len(descriptor)] = descriptor
    chip[ME_START : ME_START + len(me)] = me
    if flmstr1 is not None:
        chip[0x60:0x64] = flmstr1.to_bytes(4, "little")  # link FMBA = 0x60
    path = tmp_path / "chip.bin"
    path.write_bytes(bytes(chip))
    return path


@pytest.mark.system
def test_read_me_region_json(tmp_path: Path) -> None:
    chip = _chip(tmp_path, flmstr1=None)
    out = tmp_path / "me.bin"
    spec = f"dummy:emulate=W25Q128FV,image={chip}"
    result = _mewarden(
        "firmware", "read", "--programmer", spec, "--region", "me", "-o", str(out), "--json"
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["region"] == "me"
    assert doc["size"] == len(require_fixture("coreboot-blobs/google_link_me.bin").read_bytes())
    assert out.read_bytes() == require_fixture("coreboot-blobs/google_link_me.bin").read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600


@pytest.mark.system
def test_write_refused_on_locked_me_exit_3(tmp_path: Path) -> None:
    chip = _chip(tmp_path, flmstr1=None)  # link: FLMSTR1 0x0A0B0000, ME not host-writable
    before = chip.read_bytes()
    image = tmp_path / "new.bin"
    image.write_bytes(before)
    spec = f"dummy:emulate=W25Q128FV,image={chip}"
    result = _mewarden("firmware", "write", str(image), "--programmer", spec, "--region", "me")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "locks the me region" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert chip.read_bytes() == before


@pytest.mark.system
def test_write_descriptor_from_full_image_then_inspect(tmp_path: Path) -> None:
    chip = _chip(tmp_path, flmstr1=0xFFFF0000)
    spec = f"dummy:emulate=W25Q128FV,image={chip}"
    image = bytearray(chip.read_bytes())
    image[0x100 + 4 * 10] |= 0x80  # PCHSTRP10 bit 7 (AltMeDisable), reference firmware.md §1.8
    new = tmp_path / "new.bin"
    new.write_bytes(bytes(image))
    backup = tmp_path / "fd.bak"
    result = _mewarden(
        "firmware",
        "write",
        str(new),
        "--programmer",
        spec,
        "--region",
        "fd",
        "--backup",
        str(backup),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["changed"], doc["verified"], doc["region"]) == (True, True, "fd")
    assert parse_descriptor(chip.read_bytes()).me_disable.set is True
    assert chip.read_bytes() == bytes(image)


@pytest.mark.system
@pytest.mark.parametrize(
    "args",
    [
        ["write", "/nonexistent/new.bin", "--programmer", "dummy:emulate=W25Q128FV"],
        ["read", "--programmer", "internal x", "-o", "/tmp/unused.bin"],
    ],
)
def test_bad_input_is_exit_2_one_line(args: list[str]) -> None:
    result = _mewarden("firmware", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
