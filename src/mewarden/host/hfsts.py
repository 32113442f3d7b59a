"""Decoding the ME host firmware status registers (HFSTS1..6), per ME family.

Pure: register values in, typed values out. Bit layouts are those of the reference
(``live-me-and-network.md`` A2): HFSTS1 has a common core for every family; bit 4 means
manufacturing mode up to CSME 15 and "SPI/descriptor unprotected" from CSME 16 on; Boot Guard
policy sits in HFSTS6 on CSME 11-17 and moved to HFSTS5 on CSME 18+.

Register sources: ``/sys/class/mei/meiN/fw_status`` (one ``%08X`` line per register, 0, 1, 2 or 6
lines by generation) or PCI config space offsets 0x40, 0x48, 0x60, 0x64, 0x68, 0x6C.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TypeVar

from mewarden.errors import HostDataError

#: PCI config space offsets of HFSTS1..HFSTS6 (linux ``PCI_CFG_HFS_1..6``).
HFSTS_OFFSETS: tuple[int, ...] = (0x40, 0x48, 0x60, 0x64, 0x68, 0x6C)

_E = TypeVar("_E", bound=enum.IntEnum)

_FW_STATUS_LINE = re.compile(r"[0-9A-Fa-f]{8}")


class MeFamily(enum.StrEnum):
    """Firmware families whose HFSTS layouts differ (chosen from the firmware major version)."""

    TXE = "txe"  # major 1-5
    ME = "me"  # ME 6-10
    CSME11 = "csme11"  # CSME 11-15
    CSME16 = "csme16"  # CSME 16-17
    CSME18 = "csme18"  # CSME 18+
    UNKNOWN = "unknown"


class WorkingState(enum.IntEnum):
    """HFSTS1[3:0], Current Working State."""

    RESET = 0
    INITIALIZING = 1
    RECOVERY = 2
    TEST = 3
    DISABLED = 4
    NORMAL = 5
    PLATFORM_DISABLE_WAIT = 6
    OPERATION_STATE_TRANSITION = 7
    INVALID_CPU = 8
    HALT = 0xE


class OperationState(enum.IntEnum):
    """HFSTS1[8:6], Current Operation State."""

    PREBOOT = 0
    M0_WITH_UMA = 1
    M0_POWER_GATED = 2
    M3_WITHOUT_UMA = 4
    M0_WITHOUT_UMA = 5
    BRING_UP = 6
    M0_WITHOUT_UMA_ERROR = 7


class OperationMode(enum.IntEnum):
    """HFSTS1[19:16], Current Operation Mode (2 is "Alt Disable Mode" in Intel's MEInfo)."""

    NORMAL = 0
    DEBUG = 2
    SOFT_TEMPORARY_DISABLE = 3
    SECURITY_OVERRIDE_JUMPER = 4
    SECURITY_OVERRIDE_MEI = 5
    ENHANCED_DEBUG = 7
    SPS = 0xF


class ErrorCode(enum.IntEnum):
    """HFSTS1[15:12], Error Code."""

    NO_ERROR = 0
    UNCATEGORIZED = 1
    DISABLED = 2
    IMAGE_FAILURE = 3
    DEBUG_FAILURE = 4


class FirmwareSku(enum.IntEnum):
    """HFSTS3[6:4] on CSME 11+ (coreboot ``enum me_fw_sku``; linux: 0 IGN, 6 SPS)."""

    IGN = 0
    CONSUMER = 2
    CORPORATE = 3
    LITE = 5
    SPS = 6


def _field(value: int, low: int, width: int) -> int:
    return (value >> low) & ((1 << width) - 1)


def _bit(value: int, bit: int) -> bool:
    return bool((value >> bit) & 1)


def _enum_or_raw(cls: type[_E], value: int) -> _E | int:
    try:
        return cls(value)
    except ValueError:
        return value


def family_for_major(major: int) -> MeFamily:
    """The HFSTS layout family of firmware major version ``major`` (fwupd's mapping)."""
    if 1 <= major <= 5:
        return MeFamily.TXE
    if 6 <= major <= 10:
        return MeFamily.ME
    if 11 <= major <= 15:
        return MeFamily.CSME11
    if major in (16, 17):
        return MeFamily.CSME16
    if major >= 18:
        return MeFamily.CSME18
    return MeFamily.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class Hfsts1:
    """HFSTS1 (PCI config 0x40), the fields common to every family."""

    raw: int
    working_state: WorkingState | int
    bit4_set: bool  # manufacturing mode (<= CSME 15) or SPI unprotected (CSME 16+)
    fpt_bad: bool
    operation_state: OperationState | int
    init_complete: bool
    bup_load_failure: bool
    update_in_progress: bool
    error_code: ErrorCode | int
    operation_mode: OperationMode | int


def decode_hfsts1(value: int) -> Hfsts1:
    """Decode HFSTS1 (reference A2.1)."""
    return Hfsts1(
        raw=value,
        working_state=_enum_or_raw(WorkingState, _field(value, 0, 4)),
        bit4_set=_bit(value, 4),
        fpt_bad=_bit(value, 5),
        operation_state=_enum_or_raw(OperationState, _field(value, 6, 3)),
        init_complete=_bit(value, 9),
        bup_load_failure=_bit(value, 10),
        update_in_progress=_bit(value, 11),
        error_code=_enum_or_raw(ErrorCode, _field(value, 12, 4)),
        operation_mode=_enum_or_raw(OperationMode, _field(value, 16, 4)),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BootGuardRegisters:
    """Boot Guard facts the ME reports: HFSTS6 on CSME 11-17, HFSTS5 on CSME 18+.

    Fields a family does not report are ``None``.
    """

    register: str  # "hfsts6" or "hfsts5"
    raw: int
    disabled: bool | None = None  # HFSTS6[28] (CSME 11-17)
    force_acm: bool | None = None  # HFSTS6[0]
    verified_boot: bool | None = None  # HFSTS6[9]
    measured_boot: bool | None = None  # HFSTS6[8]
    enforcement_policy: int | None = None  # HFSTS6[7:6]
    fpf_soc_lock: bool | None = None  # HFSTS6[30]
    acm_active: bool | None = None  # HFSTS5[0] (CSME 18+)
    valid: bool | None = None  # HFSTS5[1]
    acm_done: bool | None = None  # HFSTS5[8]
    error_status: int | None = None  # HFSTS5[7:3]


def decode_boot_guard(family: MeFamily, registers: tuple[int, ...]) -> BootGuardRegisters | None:
    """Boot Guard fields for ``family`` from HFSTS1..n, or ``None`` when not reported."""
    if family in (MeFamily.CSME11, MeFamily.CSME16) and len(registers) >= 6:
        h6 = registers[5]
        return BootGuardRegisters(
            register="hfsts6",
            raw=h6,
            disabled=_bit(h6, 28),
            force_acm=_bit(h6, 0),
            verified_boot=_bit(h6, 9),
            measured_boot=_bit(h6, 8),
            enforcement_policy=_field(h6, 6, 2),
            fpf_soc_lock=_bit(h6, 30),
        )
    if family is MeFamily.CSME18 and len(registers) >= 5:
        h5 = registers[4]
        fpf = _bit(registers[5], 30) if len(registers) >= 6 else None
        return BootGuardRegisters(
            register="hfsts5",
            raw=h5,
            acm_active=_bit(h5, 0),
            valid=_bit(h5, 1),
            acm_done=_bit(h5, 8),
            error_status=_field(h5, 3, 5),
            fpf_soc_lock=fpf,
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HfstsDecode:
    """Every register a node exposed, decoded for its family."""

    family: MeFamily
    registers: tuple[int, ...]
    hfsts1: Hfsts1
    manufacturing_mode: bool | None  # HFSTS1[4] up to CSME 15
    spi_unprotected: bool | None  # HFSTS1[4] from CSME 16 on
    sku: FirmwareSku | int | None  # HFSTS3[6:4], CSME 11+
    progress_phase: int | None  # HFSTS2[31:28]
    boot_guard: BootGuardRegisters | None


def decode(registers: tuple[int, ...], family: MeFamily) -> HfstsDecode:
    """Decode HFSTS1..n (``registers[0]`` is HFSTS1) for ``family``."""
    if not registers:
        raise HostDataError("no HFSTS registers to decode")
    h1 = decode_hfsts1(registers[0])
    new_meaning = family in (MeFamily.CSME16, MeFamily.CSME18)
    known = family is not MeFamily.UNKNOWN
    csme = family in (MeFamily.CSME11, MeFamily.CSME16, MeFamily.CSME18)
    sku: FirmwareSku | int | None = None
    if csme and len(registers) >= 3:
        sku = _enum_or_raw(FirmwareSku, _field(registers[2], 4, 3))
    return HfstsDecode(
        family=family,
        registers=registers,
        hfsts1=h1,
        manufacturing_mode=h1.bit4_set if known and not new_meaning else None,
        spi_unprotected=h1.bit4_set if new_meaning else None,
        sku=sku,
        progress_phase=_field(registers[1], 28, 4) if len(registers) >= 2 else None,
        boot_guard=decode_boot_guard(family, registers),
    )


def parse_fw_status(text: str) -> tuple[int, ...]:
    """Parse sysfs ``fw_status``: 1 to 6 lines of exactly 8 hex digits (kernel ``%08X``)."""
    lines = text.splitlines()
    if not lines:
        raise HostDataError("fw_status is empty")
    if len(lines) > len(HFSTS_OFFSETS):
        raise HostDataError(f"fw_status has {len(lines)} lines; at most 6 registers exist")
    values: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not _FW_STATUS_LINE.fullmatch(line):
            shown = line[:16].encode("unicode_escape").decode("ascii")
            raise HostDataError(f"fw_status line {number} is not 8 hex digits: {shown!r}")
        values.append(int(line, 16))
    return tuple(values)


def format_fw_status(registers: tuple[int, ...]) -> str:
    """The kernel's ``fw_status`` text for ``registers``."""
    return "".join(f"{value:08X}\n" for value in registers)
