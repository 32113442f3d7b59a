"""The report of ``host neutralize`` and ``host restore`` (values only).

Its JSON form is the neutralize evidence ``node enroll --policy neutralize --neutralize-report``
attaches: before/after inspection (``neutralize.before``/``neutralize.after``), the backup's hash,
the chip, what each region holds, and ``verification`` (the image checks plus the chip's
read-back). The same document is the journal on disk while the chip is being written, so after a
crash or power loss it says which regions were written and verified.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mewarden.firmware.flashrom import FlashRegion
from mewarden.firmware.report import NeutralizeReport
from mewarden.host.neutralize_plan import BootGuardRuling

REPORT_VERSION = 1
KIND = "host-neutralize"


class Outcome(enum.StrEnum):
    """Where the run ended."""

    PLANNED = "planned"
    """Dry run: nothing written."""
    NOTHING_TO_DO = "nothing-to-do"
    IN_PROGRESS = "in-progress"
    """Only ever on disk: the run stopped (crash, power loss) while writing."""
    WRITTEN = "written"
    RESTORED = "restored"
    ROLLED_BACK = "rolled-back"
    """A write failed; every written region was put back and the chip equals the backup."""
    FAILED = "failed"
    """A write failed and the chip could not be put back: ``regions`` says what it holds."""


class RegionState(enum.StrEnum):
    """What one region of the chip holds."""

    PENDING = "pending"
    """Not touched yet: the original contents."""
    WRITING = "writing"
    """flashrom was writing it: contents unknown until read."""
    VERIFIED = "verified"
    """Read back equal to the new contents."""
    MISMATCH = "mismatch"
    """Read back different from what was written."""
    ROLLED_BACK = "rolled-back"
    """Read back equal to the original contents again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionStatus:
    """One region the run changes, and what the chip holds there."""

    region: FlashRegion
    start: int
    end: int
    old_sha256: str
    new_sha256: str
    state: RegionState
    readback_sha256: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSummary:
    """The live probe's answers the run relied on."""

    source: str
    verdict: str
    boot_guard: str
    firmware_version: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChipInfo:
    """The flash chip: size and hashes before, planned and as read back at the end."""

    programmer: str
    size: int
    sha256_before: str
    sha256_planned: str
    sha256_after: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupInfo:
    """The whole-chip backup written before anything else (mode 0600)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HostNeutralizeReport:
    """Everything ``host neutralize`` decided and did."""

    report_version: int
    kind: str
    tool: str
    observed_at: str
    outcome: Outcome
    mode: str
    probe: ProbeSummary | None
    boot_guard: BootGuardRuling | None
    lock_check: str
    chip: ChipInfo
    backup: BackupInfo | None
    regions: tuple[RegionStatus, ...]
    neutralize: NeutralizeReport | None
    verification: dict[str, bool | None]
    message: str | None = None
