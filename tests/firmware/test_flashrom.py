"""flashrom I/O against the real flashrom with its dummy programmer on a composed image.

The chip image is built as expected-neutralize.md composes the link image (descriptor at 0,
ME region at 0x1000), padded with 0xFF to the 16 MiB of the emulated W25Q128FV. The link
descriptor locks the ME region against the host (FLMSTR1 = 0x0A0B0000, manifest.md); for the
write tests it is unlocked with ``ifdtool -u`` (coreboot), an independent tool.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mewarden.errors import BadInputError, ExternalToolError, FirmwareFormatError, RefusedError
from mewarden.firmware import flashrom
from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.flashrom import FlashRegion, read_flash, write_chip, write_region
from mewarden.firmware.strap_writes import resolve_location, set_me_disable
from tests.support import require_fixture, require_tool

CHIP_SIZE = 16 << 20
ME_START, ME_END = 0x1000, 0x200000  # manifest.md: link ME 0x1000-0x1FFFFF
LINK_DESCRIPTOR = "coreboot-blobs/google_link_descriptor.bin"
LINK_ME = "coreboot-blobs/google_link_me.bin"


def _compose(tmp_path: Path, *, unlock: bool) -> Path:
    require_tool("flashrom")
    chip = bytearray(b"\xff" * CHIP_SIZE)
    descriptor = require_fixture(LINK_DESCRIPTOR).read_bytes()
    me = require_fixture(LINK_ME).read_bytes()
    chip[: len(descriptor)] = descriptor
    chip[ME_START : ME_START + len(me)] = me
    path = tmp_path / "chip.bin"
    path.write_bytes(bytes(chip))
    if unlock:
        ifdtool = require_tool("ifdtool")
        unlocked = tmp_path / "chip-unlocked.bin"
        subprocess.run(
            [ifdtool, "-u", str(path), "-O", str(unlocked)],
            capture_output=True,
            timeout=60,
            check=True,
        )
        unlocked.replace(path)
    return path


def _programmer(chip: Path, extra: str = "") -> str:
    return f"dummy:emulate=W25Q128FV,image={chip}{extra}"


@pytest.mark.system
def test_read_me_region_and_whole_chip(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=False)
    me = read_flash(_programmer(chip), region=FlashRegion.ME)
    assert me == require_fixture(LINK_ME).read_bytes()
    assert read_flash(_programmer(chip)) == chip.read_bytes()
    assert read_flash(_programmer(chip), region=FlashRegion.FD) == chip.read_bytes()[:0x1000]


@pytest.mark.system
def test_locked_me_region_is_refused_with_reason(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=False)
    before = chip.read_bytes()
    backup = tmp_path / "backup.bin"
    new_me = bytes(ME_END - ME_START)
    with pytest.raises(RefusedError, match=r"locks the me region.*FLMSTR1 = 0x0a0b0000"):
        write_region(_programmer(chip), FlashRegion.ME, new_me, backup=backup)
    assert chip.read_bytes() == before
    assert not backup.exists()


@pytest.mark.system
def test_round_trip_strap_and_me_region(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=True)
    original = chip.read_bytes()
    spec = _programmer(chip)
    # 1. read the descriptor, set the ME-disable strap, write only the descriptor.
    fd = read_flash(spec, region=FlashRegion.FD)
    descriptor = parse_descriptor(fd)
    new_fd = set_me_disable(fd, descriptor, resolve_location(descriptor, None))
    fd_report = write_region(spec, FlashRegion.FD, new_fd, backup=tmp_path / "fd.bak")
    assert fd_report.changed
    assert fd_report.verified
    # 2. write another ME region of the same size (emeraldlake2's) into the ME region only.
    new_me = require_fixture("coreboot-blobs/intel_emeraldlake2_me.bin").read_bytes()
    new_me += b"\xff" * (ME_END - ME_START - len(new_me))
    me_report = write_region(spec, FlashRegion.ME, new_me, backup=tmp_path / "me.bak")
    assert (me_report.start, me_report.end) == (ME_START, ME_END)
    # 3. read everything back and inspect.
    after = read_flash(spec)
    assert after == chip.read_bytes()
    assert parse_descriptor(after).me_disable.set is True
    assert after[ME_START:ME_END] == new_me
    assert after[ME_END:] == original[ME_END:]  # BIOS and padding untouched
    changed = [i for i in range(0x1000) if after[i] != original[i]]
    assert changed == [descriptor.strap_base + 4 * 10]  # PCHSTRP10 bit 7 is in its first byte
    # The unlocked host may read everything, so each backup holds the whole chip as it was.
    assert fd_report.backup_scope == me_report.backup_scope == "chip"
    assert (tmp_path / "fd.bak").read_bytes() == original
    assert (tmp_path / "me.bak").read_bytes()[ME_START:ME_END] == original[ME_START:ME_END]
    assert (tmp_path / "me.bak").stat().st_mode & 0o777 == 0o600


@pytest.mark.system
def test_write_fault_leaves_original_recoverable(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=True)
    original = chip.read_bytes()
    backup = tmp_path / "me.bak"
    faulty = _programmer(chip, ",spi_blacklist=0x02")  # the chip refuses PAGE PROGRAM
    with pytest.raises(ExternalToolError, match=r"flashrom failed writing.*me\.bak") as info:
        write_region(faulty, FlashRegion.ME, bytes(ME_END - ME_START), backup=backup)
    assert "\n" not in str(info.value)
    # flashrom's erase fallback destroys more than the ME region, the descriptor included ...
    damaged = chip.read_bytes()
    assert damaged[ME_START:ME_END] != original[ME_START:ME_END]
    with pytest.raises(FirmwareFormatError):
        parse_descriptor(damaged)
    # ... which is why the backup is the whole chip; writing it back restores everything.
    assert backup.read_bytes() == original
    report = write_chip(_programmer(chip), backup.read_bytes(), backup=tmp_path / "again.bak")
    assert report.verified
    assert report.changed
    assert chip.read_bytes() == original


@pytest.mark.system
def test_unchanged_region_is_not_written(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=True)
    me = require_fixture(LINK_ME).read_bytes()
    me += b"\xff" * (ME_END - ME_START - len(me))
    report = write_region(_programmer(chip), FlashRegion.ME, me, backup=tmp_path / "me.bak")
    assert not report.changed
    assert report.backup is None
    assert not (tmp_path / "me.bak").exists()


@pytest.mark.system
def test_bad_requests_are_refused_before_writing(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=True)
    before = chip.read_bytes()
    spec = _programmer(chip)
    with pytest.raises(BadInputError, match="is 0x10 bytes"):
        write_region(spec, FlashRegion.ME, b"\x00" * 16, backup=tmp_path / "a.bak")
    existing = tmp_path / "exists.bak"
    existing.write_bytes(b"keep")
    with pytest.raises(BadInputError, match="already exists"):
        write_region(spec, FlashRegion.ME, bytes(ME_END - ME_START), backup=existing)
    moved = bytearray(before[:0x1000])
    moved[0x48] = 0x03  # FLREG2 base 0x3000: a different layout
    with pytest.raises(RefusedError, match="changes the flash layout"):
        write_region(spec, FlashRegion.FD, bytes(moved), backup=tmp_path / "b.bak")
    with pytest.raises(BadInputError, match="no gbe region"):
        write_region(spec, FlashRegion.GBE, b"\x00" * 0x1000, backup=tmp_path / "c.bak")
    assert chip.read_bytes() == before
    assert existing.read_bytes() == b"keep"


@pytest.mark.system
def test_flashrom_failure_is_one_line_external_tool_error(tmp_path: Path) -> None:
    require_tool("flashrom")
    with pytest.raises(ExternalToolError, match="flashrom failed reading") as info:
        read_flash("dummy:emulate=NO_SUCH_CHIP")
    assert "\n" not in str(info.value)


def test_missing_flashrom_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(ExternalToolError, match="not installed"):
        read_flash("dummy:emulate=W25Q128FV")


def test_argv_building_and_programmer_parsing(tmp_path: Path) -> None:
    argv = flashrom.write_argv(
        "flashrom", "internal", FlashRegion.ME, tmp_path / "n.bin", tmp_path / "c.bin"
    )
    assert argv == [
        "flashrom",
        "-p",
        "internal",
        "--ifd",
        "-i",
        f"me:{tmp_path / 'n.bin'}",
        "--noverify-all",
        "-w",
        str(tmp_path / "c.bin"),
    ]
    assert flashrom.programmer_name("ch341a_spi") == "ch341a_spi"
    with pytest.raises(BadInputError):
        flashrom.programmer_name("internal; rm -rf /")


def _set_flmstr1(chip: Path, value: int) -> None:
    data = bytearray(chip.read_bytes())
    data[0x60:0x64] = value.to_bytes(4, "little")  # link: FMBA = 0x60 (ifdtool -d)
    chip.write_bytes(bytes(data))


@pytest.mark.system
def test_region_backup_when_host_cannot_read_everything(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=True)
    _set_flmstr1(chip, 0x04050000)  # IFD v1: read fd+me, write me; the BIOS region is unreadable
    original = chip.read_bytes()
    new_me = b"\x00" * (ME_END - ME_START)
    report = write_region(_programmer(chip), FlashRegion.ME, new_me, backup=tmp_path / "me.bak")
    assert report.backup_scope == "region"
    assert (tmp_path / "me.bak").read_bytes() == original[ME_START:ME_END]
    assert chip.read_bytes()[ME_START:ME_END] == new_me


@pytest.mark.system
def test_write_without_host_read_is_refused(tmp_path: Path) -> None:
    chip = _compose(tmp_path, unlock=True)
    _set_flmstr1(chip, 0x04030000)  # write me, but read only fd+bios
    with pytest.raises(RefusedError, match="could not be verified"):
        write_region(
            _programmer(chip), FlashRegion.ME, bytes(ME_END - ME_START), backup=tmp_path / "b"
        )
