"""Boot Guard as the CPU reports it: MSR 0x13A ``BOOT_GUARD_SACM_INFO``.

Pure decoding of the 64-bit value read from ``/dev/cpu/0/msr`` at offset 0x13A (reference
``live-me-and-network.md`` A4, coreboot intelmetool ``msr.h``/``dump_bootguard_info``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MSR_BOOT_GUARD_SACM_INFO = 0x13A


class TpmType(enum.IntEnum):
    """Bits 2:1 of the SACM info MSR."""

    NONE = 0
    TPM_1_2 = 1
    TPM_2_0 = 2
    PTT = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class SacmInfo:
    """The decoded ``BOOT_GUARD_SACM_INFO`` MSR."""

    raw: int
    nem_enabled: bool  # bit 0: the ACM set up cache-as-RAM
    tpm_type: TpmType
    tpm_success: bool  # bit 3
    facb_in_fpf: bool  # bit 4: Boot Guard keys fused
    measured_boot: bool  # bit 5
    verified_boot: bool  # bit 6
    module_revoked: bool  # bit 7
    boot_guard_capable: bool  # bit 32


def decode_sacm_info(value: int) -> SacmInfo:
    """Decode MSR 0x13A."""
    return SacmInfo(
        raw=value,
        nem_enabled=bool(value & 1),
        tpm_type=TpmType((value >> 1) & 3),
        tpm_success=bool((value >> 3) & 1),
        facb_in_fpf=bool((value >> 4) & 1),
        measured_boot=bool((value >> 5) & 1),
        verified_boot=bool((value >> 6) & 1),
        module_revoked=bool((value >> 7) & 1),
        boot_guard_capable=bool((value >> 32) & 1),
    )
