"""FIT parsing and Boot Guard hints against the real X270 FIT (facts from manifest.md)."""

from __future__ import annotations

import struct

import pytest

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.fit import (
    FitEntryType,
    boot_guard_hints,
    find_fit,
    parse_fit,
)
from mewarden.jsonutil import to_jsonable
from tests.support import require_fixture

FIT = "intel_fw-tests/me11_fit.bin"


@pytest.mark.system
def test_real_fit_table_entries_match_manifest() -> None:
    table = parse_fit(require_fixture(FIT).read_bytes(), 0)
    kinds = [entry.type for entry in table.entries]
    # manifest.md: 11 entries incl. header; 3x microcode, 1x startup ACM, 4x type 0x07, KM, BPM
    assert len(kinds) == 10
    assert kinds.count(FitEntryType.MICROCODE_UPDATE) == 3
    assert kinds.count(FitEntryType.STARTUP_ACM) == 1
    assert kinds.count(FitEntryType.BIOS_STARTUP_MODULE) == 4
    km = table.first(FitEntryType.KEY_MANIFEST)
    bpm = table.first(FitEntryType.BOOT_POLICY_MANIFEST)
    assert km is not None
    assert bpm is not None
    assert (km.address, km.size) == (0xFFFFAAC0, 0x241)
    assert (bpm.address, bpm.size) == (0xFFFFAFC0, 0x2DF)


@pytest.mark.system
def test_bare_fit_gives_boot_guard_hints() -> None:
    hints = boot_guard_hints(require_fixture(FIT).read_bytes())
    assert hints.fit_found
    assert hints.manifests_present
    assert hints.startup_acm is not None
    assert hints.note.startswith("hints only:")
    doc = to_jsonable(hints)
    assert doc["key_manifest"]["address"] == 0xFFFFAAC0
    assert doc["boot_policy_manifest"]["size"] == 0x2DF


def _image_with_fit(fit: bytes, *, size: int = 0x100000, fit_at: int = 0xF0000) -> bytearray:
    image = bytearray(b"\xff" * size)
    image[fit_at : fit_at + len(fit)] = fit
    pointer = (1 << 32) - size + fit_at
    struct.pack_into("<I", image, size - 0x40, pointer)
    return image


@pytest.mark.system
def test_fit_found_through_pointer_in_full_image_and_manifest_tags_checked() -> None:
    fit = require_fixture(FIT).read_bytes()
    image = _image_with_fit(fit)
    km_offset = 0xFFFFAAC0 - ((1 << 32) - len(image))
    image[km_offset : km_offset + 8] = b"__KEYM__"
    table = find_fit(bytes(image))
    assert table is not None
    assert table.offset == 0xF0000
    assert table.pointer == (1 << 32) - len(image) + 0xF0000
    hints = boot_guard_hints(bytes(image))
    assert hints.key_manifest is not None
    assert hints.key_manifest.file_offset == km_offset
    assert hints.key_manifest_tag_ok is True
    assert hints.boot_policy_manifest_tag_ok is False  # nothing placed at the BPM address


@pytest.mark.system
def test_no_fit_in_composed_link_image() -> None:
    image = bytearray(b"\xff" * 0x800000)
    image[:0x1000] = require_fixture("coreboot-blobs/google_link_descriptor.bin").read_bytes()
    assert find_fit(bytes(image)) is None
    hints = boot_guard_hints(bytes(image))
    assert not hints.fit_found
    assert not hints.manifests_present
    assert hints.note.startswith("hints only:")


@pytest.mark.parametrize("pointer", [0, 0xFFFFFFFF, 0xFFFFF008, 0x10])
def test_bad_pointers_mean_no_fit(pointer: int) -> None:
    image = bytearray(b"\x00" * 0x1000)
    struct.pack_into("<I", image, len(image) - 0x40, pointer)
    assert find_fit(bytes(image)) is None


def test_fit_claiming_more_entries_than_the_file_holds_is_a_format_error() -> None:
    header = b"_FIT_   " + (0x1000).to_bytes(3, "little") + b"\x00" + b"\x00\x01" + b"\x00\x00"
    with pytest.raises(FirmwareFormatError, match="entries"):
        boot_guard_hints(header)


def test_checksum_is_checked_when_flagged() -> None:
    header = bytearray(b"_FIT_   " + (1).to_bytes(3, "little") + b"\x00\x00\x01\x80\x00")
    header[15] = (-sum(header)) & 0xFF
    assert parse_fit(bytes(header), 0).checksum_valid is True
    header[15] ^= 1
    assert parse_fit(bytes(header), 0).checksum_valid is False
