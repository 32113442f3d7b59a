"""The Firmware Interface Table (FIT) and the Boot Guard hints it gives (pure).

Facts (``../shared/reference/firmware.md`` §4.1): the 32-bit FIT pointer sits at physical
address 0xFFFFFFC0, i.e. ``len - 0x40`` in an image whose last byte maps to 0xFFFFFFFF; the table
is at ``pointer - (2**32 - len)``. Every entry is 16 bytes: u64 address, 24-bit size, a reserved
byte, u16 version, a byte ``type | C_V << 7`` and a checksum. The first entry is the header
(address = ``_FIT_   ``, size = number of entries including the header). Type 0x0B is the Boot
Guard Key Manifest, 0x0C the Boot Policy Manifest, 0x02 the startup ACM.

An image can only *hint* at Boot Guard: whether it is enforced is fused into the PCH and can be
read only on the running machine (MSR 0x13A, HFSTS6).
"""

from __future__ import annotations

import enum
import struct

from mewarden.errors import FirmwareFormatError
from mewarden.record import Record

FIT_SIGNATURE = b"_FIT_   "
FIT_POINTER_FROM_END = 0x40
ENTRY_SIZE = 16
_FOUR_GIB = 1 << 32
_KEYM_TAG = b"__KEYM__"
_ACBP_TAG = b"__ACBP__"


class FitEntryType(enum.IntEnum):
    """FIT entry types (Intel FIT specification names as UEFITool/coreboot use them)."""

    HEADER = 0x00
    MICROCODE_UPDATE = 0x01
    STARTUP_ACM = 0x02
    DIAGNOSTIC_ACM = 0x03
    PLATFORM_BOOT_POLICY = 0x04
    FIT_RESET_STATE = 0x06
    BIOS_STARTUP_MODULE = 0x07
    TPM_POLICY = 0x08
    BIOS_POLICY = 0x09
    TXT_POLICY = 0x0A
    KEY_MANIFEST = 0x0B
    BOOT_POLICY_MANIFEST = 0x0C
    CSE_SECURE_BOOT = 0x10
    SACM_DEBUG_RECORD = 0x2C
    ACM_FEATURE_POLICY = 0x2D
    SCRTM_ERROR_RECORD = 0x2E
    JMP_DEBUG_POLICY = 0x2F
    UNUSED = 0x7F


class FitEntry(Record):
    """One FIT entry; ``file_offset`` is where ``address`` lands in the image, when it does."""

    type: int
    type_name: str
    address: int
    size: int
    version: int
    checksum_valid_flag: bool
    file_offset: int | None


class FitTable(Record):
    """A FIT: where it is (``offset`` in the file, ``pointer`` as physical address) and entries."""

    offset: int
    pointer: int | None
    version: int
    entries: tuple[FitEntry, ...]
    checksum_valid: bool | None

    def first(self, entry_type: FitEntryType) -> FitEntry | None:
        """The first entry of ``entry_type``, or None."""
        for entry in self.entries:
            if entry.type == entry_type:
                return entry
        return None


class BootGuardHints(Record):
    """Boot Guard evidence an image carries. Hints only: enforcement is fused in the PCH."""

    fit_found: bool
    key_manifest: FitEntry | None
    boot_policy_manifest: FitEntry | None
    startup_acm: FitEntry | None
    key_manifest_tag_ok: bool | None
    boot_policy_manifest_tag_ok: bool | None
    note: str

    @property
    def manifests_present(self) -> bool:
        """True when the FIT names a Key Manifest or a Boot Policy Manifest."""
        return self.key_manifest is not None or self.boot_policy_manifest is not None


def _type_name(value: int) -> str:
    try:
        return FitEntryType(value).name.lower().replace("_", "-")
    except ValueError:
        if 0x30 <= value <= 0x70:
            return "oem"
        return f"type-{value:#04x}"


def _map(address: int, image_len: int | None) -> int | None:
    if image_len is None:
        return None
    offset = address - (_FOUR_GIB - image_len)
    return offset if 0 <= offset < image_len else None


def _entry(data: bytes, position: int, image_len: int | None) -> FitEntry:
    address, size_lo, size_hi, version, type_byte = struct.unpack_from("<QHBxHB", data, position)
    kind = type_byte & 0x7F
    return FitEntry(
        type=kind,
        type_name=_type_name(kind),
        address=address,
        size=size_lo | size_hi << 16,
        version=version,
        checksum_valid_flag=bool(type_byte & 0x80),
        file_offset=_map(address, image_len),
    )


def parse_fit(data: bytes, offset: int, *, image_len: int | None = None) -> FitTable:
    """Parse the FIT at ``offset``; ``image_len`` maps addresses into a full image."""
    if data[offset : offset + 8] != FIT_SIGNATURE:
        raise FirmwareFormatError("no FIT signature '_FIT_   '", offset=offset)
    if offset + ENTRY_SIZE > len(data):
        raise FirmwareFormatError("FIT header truncated", offset=offset)
    header = _entry(data, offset, None)
    count = header.size
    if count < 1 or offset + count * ENTRY_SIZE > len(data):
        raise FirmwareFormatError(
            f"FIT claims {count} entries, more than the file holds", offset=offset
        )
    entries = tuple(_entry(data, offset + i * ENTRY_SIZE, image_len) for i in range(1, count))
    checksum: bool | None = None
    if header.checksum_valid_flag:
        checksum = sum(data[offset : offset + count * ENTRY_SIZE]) & 0xFF == 0
    return FitTable(
        offset=offset,
        pointer=None,
        version=header.version,
        entries=entries,
        checksum_valid=checksum,
    )


def find_fit(data: bytes) -> FitTable | None:
    """The FIT of a full image or BIOS region (pointer at 4 GiB - 0x40 mapped to the file end)."""
    if len(data) < FIT_POINTER_FROM_END or len(data) > _FOUR_GIB:
        return None
    (pointer,) = struct.unpack_from("<I", data, len(data) - FIT_POINTER_FROM_END)
    if pointer in (0, 0xFFFFFFFF) or pointer % ENTRY_SIZE:
        return None
    offset = _map(pointer, len(data))
    if offset is None or data[offset : offset + 8] != FIT_SIGNATURE:
        return None
    table = parse_fit(data, offset, image_len=len(data))
    return FitTable(
        offset=table.offset,
        pointer=pointer,
        version=table.version,
        entries=table.entries,
        checksum_valid=table.checksum_valid,
    )


def _tag_ok(data: bytes, entry: FitEntry | None, tag: bytes) -> bool | None:
    if entry is None or entry.file_offset is None:
        return None
    return data[entry.file_offset : entry.file_offset + len(tag)] == tag


def boot_guard_hints(data: bytes) -> BootGuardHints:
    """Boot Guard hints from a full image, a BIOS region, or a bare FIT table."""
    table = parse_fit(data, 0) if data.startswith(FIT_SIGNATURE) else find_fit(data)
    if table is None:
        return BootGuardHints(
            fit_found=False,
            key_manifest=None,
            boot_policy_manifest=None,
            startup_acm=None,
            key_manifest_tag_ok=None,
            boot_policy_manifest_tag_ok=None,
            note="hints only: no FIT found, so no Boot Guard manifests are referenced; "
            "enforcement is fused in the PCH and must be read on the machine",
        )
    km = table.first(FitEntryType.KEY_MANIFEST)
    bpm = table.first(FitEntryType.BOOT_POLICY_MANIFEST)
    present = km is not None or bpm is not None
    return BootGuardHints(
        fit_found=True,
        key_manifest=km,
        boot_policy_manifest=bpm,
        startup_acm=table.first(FitEntryType.STARTUP_ACM),
        key_manifest_tag_ok=_tag_ok(data, km, _KEYM_TAG),
        boot_policy_manifest_tag_ok=_tag_ok(data, bpm, _ACBP_TAG),
        note=(
            "hints only: the FIT references Boot Guard manifests; whether Boot Guard is "
            "enforced is fused in the PCH and must be read on the machine"
            if present
            else "hints only: the FIT references no Boot Guard manifests; a fused machine "
            "would still enforce Boot Guard on the BIOS it boots"
        ),
    )
