"""The emulated BIOS against the SCSI target over images built by real tools (no network)."""

from __future__ import annotations

from pathlib import Path

from mewarden.emulate.ider_bios import bios_boot
from mewarden.emulate.values import IderBootResult
from mewarden.ider.medium import open_medium
from mewarden.ider.scsi import ScsiTarget
from tests.ider.images import genisoimage_iso, pycdlib_iso, xorriso_iso


def _boot(target: ScsiTarget, *, cd: bool = True) -> tuple[IderBootResult, list[int]]:
    opcodes: list[int] = []
    walk = bios_boot(cd=cd)
    try:
        cdb = next(walk)
        while True:
            opcodes.append(cdb[0])
            cdb = walk.send(target.execute(cdb))
    except StopIteration as done:
        result: IderBootResult = done.value
    return result, opcodes


def _boot_file(path: Path) -> tuple[IderBootResult, list[int]]:
    with open_medium(path) as medium:
        return _boot(ScsiTarget(medium.read, medium.sectors))


def test_bios_boots_images_of_three_builders(tmp_path: Path) -> None:
    for built in (
        xorriso_iso(tmp_path / "x", "XORRISO_BOOT"),
        genisoimage_iso(tmp_path / "g", "GENISO_BOOT"),
        pycdlib_iso(tmp_path / "p", "PYCDLIB_BOOT"),
    ):
        result, opcodes = _boot_file(built.path)
        assert result.bootable, result.error
        assert result.volume_id == built.volume_id
        assert result.boot_image_sha256 == built.boot_sha256
        # unit attention, ready, INQUIRY, READ CAPACITY, then READ(10) only
        assert opcodes[:4] == [0x00, 0x00, 0x12, 0x25]
        assert set(opcodes[4:]) == {0x28}
        assert result.sectors_read >= 4  # PVD, boot record, terminator, catalog, image


def test_floppy_emulation_boot_image_is_read_whole(tmp_path: Path) -> None:
    built = xorriso_iso(tmp_path, "FLOPPY_BOOT", floppy=True)
    result, _ = _boot_file(built.path)
    assert result.bootable
    assert result.boot_image_sha256 == built.boot_sha256
    assert result.sectors_read >= 1_474_560 // 2048


def test_non_bootable_and_non_iso_images_fail_like_a_bios(tmp_path: Path) -> None:
    data_only = xorriso_iso(tmp_path, "DATA_ONLY", bootable=False)
    result, _ = _boot_file(data_only.path)
    assert not result.bootable
    assert "no El Torito boot record" in result.error
    junk = tmp_path / "junk.iso"
    junk.write_bytes(bytes(64 * 2048))
    result, _ = _boot_file(junk)
    assert not result.bootable
    assert "not an ISO 9660 image" in result.error


def test_ejected_drive_has_no_medium() -> None:
    target = ScsiTarget(lambda lba, n: bytes(2048 * n), 100)
    target.eject()
    result, _ = _boot(target)
    assert (result.bootable, result.error) == (False, "no medium in the IDER drive")


def test_floppy_boot_sector() -> None:
    sector = bytearray(512)
    sector[38], sector[43:54] = 0x29, b"MEWFLOPPY  "
    sector[510:512] = b"\x55\xaa"
    image = bytes(sector) + bytes(512 * 2879)
    target = ScsiTarget(lambda lba, n: image[lba * 512 : (lba + n) * 512], 2880, floppy=True)
    result, _ = _boot(target, cd=False)
    assert (result.bootable, result.volume_id, result.sectors_read) == (True, "MEWFLOPPY", 1)
