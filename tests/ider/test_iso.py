"""ISO 9660 / El Torito checks against images built by xorriso, genisoimage and pycdlib."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mewarden.ider.iso import SECTOR, BootMedia, IsoError, find_bootable
from tests.ider.images import BuiltIso, genisoimage_iso, pycdlib_iso, xorriso_iso


def _reader(data: bytes):  # type: ignore[no-untyped-def]
    def read(lba: int, count: int) -> bytes:
        chunk = data[lba * SECTOR : (lba + count) * SECTOR]
        return chunk + bytes(count * SECTOR - len(chunk))

    return read


def _check(built: BuiltIso) -> None:
    data = built.path.read_bytes()
    found = find_bootable(_reader(data), len(data) // SECTOR)
    assert found.volume.volume_id == built.volume_id
    assert found.boot_image_sha256 == built.boot_sha256
    assert found.volume.sectors == len(data) // SECTOR


def test_xorriso_no_emulation_image(tmp_path: Path) -> None:
    built = xorriso_iso(tmp_path, "XORRISO_INSTALLER")
    _check(built)


def test_xorriso_floppy_emulation_image(tmp_path: Path) -> None:
    built = xorriso_iso(tmp_path, "FLOPPY_EMU", floppy=True)
    _check(built)
    data = built.path.read_bytes()
    assert find_bootable(_reader(data), len(data) // SECTOR).entry.media is BootMedia.FLOPPY_1_44M


def test_genisoimage_image(tmp_path: Path) -> None:
    _check(genisoimage_iso(tmp_path, "GENISO_VOL"))


def test_pycdlib_image(tmp_path: Path) -> None:
    _check(pycdlib_iso(tmp_path, "PYCDLIB_VOL"))


def test_iso_without_el_torito_is_not_bootable(tmp_path: Path) -> None:
    data = xorriso_iso(tmp_path, "DATA_ONLY", bootable=False).path.read_bytes()
    with pytest.raises(IsoError, match="'DATA_ONLY' has no El Torito boot record"):
        find_bootable(_reader(data), len(data) // SECTOR)


def test_not_an_iso_at_all() -> None:
    data = bytes(40 * SECTOR)
    with pytest.raises(IsoError, match="not an ISO 9660 image"):
        find_bootable(_reader(data), 40)


def _catalog_lba(data: bytes) -> int:
    for lba in range(16, 32):
        sector = data[lba * SECTOR : (lba + 1) * SECTOR]
        if sector[0] == 0 and sector[1:6] == b"CD001":
            return int(struct.unpack_from("<I", sector, 71)[0])
    raise AssertionError("no boot record")


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (30, 0x00, "no validation entry"),  # key byte 55 broken
        (4, 0x41, "checksum"),  # id string changed without fixing the checksum
        (32, 0x00, "not bootable"),  # boot indicator 0x88 -> 0
    ],
)
def test_damaged_boot_catalog_fails_like_a_bios(
    tmp_path: Path, offset: int, value: int, message: str
) -> None:
    data = bytearray(xorriso_iso(tmp_path, "DAMAGED").path.read_bytes())
    data[_catalog_lba(bytes(data)) * SECTOR + offset] = value
    with pytest.raises(IsoError, match=message):
        find_bootable(_reader(bytes(data)), len(data) // SECTOR)


def test_boot_image_beyond_the_medium(tmp_path: Path) -> None:
    data = bytearray(xorriso_iso(tmp_path, "SHORT").path.read_bytes())
    at = _catalog_lba(bytes(data)) * SECTOR + 32 + 8
    struct.pack_into("<I", data, at, 10_000_000)
    with pytest.raises(IsoError, match="outside the medium"):
        find_bootable(_reader(bytes(data)), len(data) // SECTOR)
