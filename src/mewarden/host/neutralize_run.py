"""``host neutralize`` / ``host restore``: the shell around flashrom that changes the chip.

One run: read the descriptor -> refuse what the host may not read or write -> read the whole
chip -> plan (pure, :mod:`mewarden.firmware.neutralize`) -> refuse code removal unless Boot Guard
is ruled out -> (dry run: stop) -> back up the whole chip (0600, hashed) -> write only the
changed regions, descriptor last, each read back -> read the whole chip and compare. Before and
after every region the report is saved as a journal. A failed write or read-back rolls every
touched region back from the backup and reads the chip again, so the report either says the chip
is as it was or names what each region holds.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from mewarden import __version__, record
from mewarden.errors import BadInputError, MewardenError, NeutralizeRefusedError
from mewarden.firmware import flashrom
from mewarden.firmware.descriptor import Descriptor, parse_descriptor
from mewarden.firmware.flashrom import FlashRegion
from mewarden.firmware.neutralize import (
    Mode,
    NeutralizeOptions,
    apply_neutralize,
    plan_neutralize,
    verify_neutralized,
)
from mewarden.firmware.neutralize_layout import MeImage, read_me_image
from mewarden.firmware.report import ReportInputs, build_report
from mewarden.fsutil import atomic_write_bytes
from mewarden.host import neutralize_plan as nplan
from mewarden.host.neutralize_report import (
    KIND,
    REPORT_VERSION,
    BackupInfo,
    ChipInfo,
    HostNeutralizeReport,
    Outcome,
    ProbeSummary,
    RegionState,
    RegionStatus,
)
from mewarden.host.probe import ProbeReport


class Flasher(Protocol):
    """Reads and writes the flash chip (flashrom; tests wrap it to inject failures)."""

    @property
    def programmer(self) -> str:
        """The flashrom ``-p`` spec."""
        ...

    def read(self, region: FlashRegion | None) -> bytes:
        """One region, or with None the whole chip."""
        ...

    def write(self, region: FlashRegion, data: bytes, chip_image: bytes) -> None:
        """Write ``data`` into ``region`` only."""
        ...


@dataclass(frozen=True, slots=True)
class FlashromFlasher:
    """The real flashrom with ``programmer`` (``internal``, ``dummy:...``, ``ch341a_spi``)."""

    programmer: str
    timeout: float = flashrom.DEFAULT_TIMEOUT

    def read(self, region: FlashRegion | None) -> bytes:
        """One region, or with None the whole chip."""
        return flashrom.read_flash(self.programmer, region=region, timeout=self.timeout)

    def write(self, region: FlashRegion, data: bytes, chip_image: bytes) -> None:
        """Write ``data`` into ``region`` only."""
        flashrom.write_region_only(
            self.programmer, region, data, chip_image=chip_image, timeout=self.timeout
        )


Progress = Callable[[str], None]
Journal = Callable[[HostNeutralizeReport], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a run needs besides the chip: the clock, progress lines and the journal."""

    now: Callable[[], datetime]
    progress: Progress
    journal: Journal


@dataclass(frozen=True, slots=True, kw_only=True)
class NeutralizeRequest:
    """The person's request: the mode, whether to write, and where the backup goes."""

    mode: Mode | None
    write: bool
    backup: Path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _summary(probe: ProbeReport) -> ProbeSummary:
    return ProbeSummary(
        source=probe.source,
        verdict=probe.verdict.value,
        boot_guard=probe.boot_guard.value,
        firmware_version=probe.firmware_version,
    )


def _modes_regions(mode: Mode | None) -> tuple[str, ...]:
    """The regions a mode may change (before the plan says exactly which)."""
    chosen = mode or Mode.STRIP_AND_DISABLE
    return (("me",) if chosen.strips else ()) + (("fd",) if chosen.disables else ())


def lock_check(
    programmer: str,
    descriptor: Descriptor,
    *,
    write: tuple[str, ...],
    unlocked: tuple[str, ...] = (),
) -> str:
    """Refuse (exit 3) when FLMSTR1 keeps the host from backing up, writing or verifying;
    ``unlocked`` are regions a live security override opens whatever FLMSTR1 says."""
    if not flashrom.host_bound(programmer):
        return "skipped: external programmer, FLMSTR1 does not apply"
    read = nplan.readable_regions(descriptor)
    reason = nplan.host_access_refusal(descriptor, read=read, write=write, unlocked=unlocked)
    if reason is not None:
        raise NeutralizeRefusedError(reason)
    granted = f"host read of every region and write of {', '.join(write) or '-'}"
    if unlocked:
        return f"granted {granted} (security override opens {', '.join(unlocked)})"
    return f"FLMSTR1 grants {granted}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Planned:
    image: bytes
    after: bytes
    report: HostNeutralizeReport


def _ruling(probe: ProbeReport, me_image: MeImage) -> nplan.BootGuardRuling:
    hints = me_image.boot_guard
    return nplan.rule_out_boot_guard(
        live=probe.boot_guard.value,
        live_evidence=probe.boot_guard_evidence,
        me_major=me_image.version[0] if me_image.version else None,
        manifests_present=hints.manifests_present if hints else None,
    )


def _plan(
    flasher: Flasher, probe: ProbeReport, request: NeutralizeRequest, ctx: Context
) -> _Planned:
    ctx.progress("reading the flash descriptor")
    descriptor = parse_descriptor(flasher.read(FlashRegion.FD))
    unlocked = nplan.override_unlocks(probe.verdict.value, probe.verdict_evidence)
    wanted = _modes_regions(request.mode)
    checked = lock_check(flasher.programmer, descriptor, write=wanted, unlocked=unlocked)
    ctx.progress("reading the whole chip (slow on real hardware)")
    image = flasher.read(None)
    me_image = read_me_image(image)
    ruling = _ruling(probe, me_image)
    options = NeutralizeOptions(mode=request.mode, boot_guard_not_enforced=ruling.ruled_out)
    plan = plan_neutralize(me_image, options)
    if plan.mode.strips and not ruling.ruled_out:
        raise nplan.boot_guard_refusal(ruling)
    after = apply_neutralize(image, plan)
    verification = verify_neutralized(after, plan)
    writes = nplan.changed_regions(descriptor, image, after)
    changed = tuple(w.region.value for w in writes)
    lock_check(flasher.programmer, descriptor, write=changed, unlocked=unlocked)
    inputs = ReportInputs(
        input=f"flash ({flasher.programmer})",
        output=f"flash ({flasher.programmer})",
        options=options,
        verification=verification,
    )
    report = HostNeutralizeReport(
        report_version=REPORT_VERSION,
        kind=KIND,
        tool=f"mewarden {__version__}",
        observed_at=ctx.now().isoformat(),
        outcome=Outcome.PLANNED if writes else Outcome.NOTHING_TO_DO,
        mode=plan.mode.value,
        probe=_summary(probe),
        boot_guard=ruling,
        lock_check=checked,
        chip=_chip(flasher.programmer, image, after),
        backup=None,
        regions=pending_regions(writes),
        neutralize=build_report(image, after, plan, inputs, parsed_before=me_image),
        verification={**record.asdict(verification), "chip_readback": None},
    )
    return _Planned(image=image, after=after, report=report)


def _chip(programmer: str, image: bytes, after: bytes) -> ChipInfo:
    return ChipInfo(
        programmer=programmer,
        size=len(image),
        sha256_before=_sha(image),
        sha256_planned=_sha(after),
        sha256_after=None,
    )


def pending_regions(writes: tuple[nplan.RegionWrite, ...]) -> tuple[RegionStatus, ...]:
    """The report's region list before anything is written."""
    return tuple(RegionStatus(**dataclasses.asdict(w), state=RegionState.PENDING) for w in writes)


def check_backup_path(path: Path) -> None:
    """The backup must be a new file in an existing directory (never overwrite one)."""
    if path.exists():
        raise BadInputError(f"backup file {path} already exists; refusing to overwrite it")
    if not path.parent.is_dir():
        raise BadInputError(f"backup directory {path.parent} does not exist")


def neutralize_host(
    flasher: Flasher, probe: ProbeReport, request: NeutralizeRequest, ctx: Context
) -> HostNeutralizeReport:
    """Plan, and with ``request.write`` back up, write, verify (see the module docstring)."""
    if request.write:
        check_backup_path(request.backup)
    planned = _plan(flasher, probe, request, ctx)
    report = planned.report
    if not request.write or not report.regions:
        return report
    ctx.progress(f"backing up the whole chip to {request.backup}")
    atomic_write_bytes(request.backup, planned.image, mode=0o600)
    backup = BackupInfo(
        path=str(request.backup), size=len(planned.image), sha256=_sha(planned.image)
    )
    report = dataclasses.replace(report, backup=backup)
    return write_regions(
        flasher, report, planned.image, planned.after, ctx, success=Outcome.WRITTEN
    )


# --- writing, verifying and rolling back ---------------------------------------------------------


def _set(report: HostNeutralizeReport, index: int, **changes: object) -> HostNeutralizeReport:
    regions = list(report.regions)
    regions[index] = dataclasses.replace(regions[index], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(report, regions=tuple(regions))


def _write_one(
    flasher: Flasher, report: HostNeutralizeReport, index: int, target: bytes, ctx: Context
) -> HostNeutralizeReport:
    status = report.regions[index]
    wanted = target[status.start : status.end]
    report = _set(report, index, state=RegionState.WRITING, readback_sha256=None)
    ctx.journal(report)
    ctx.progress(f"writing the {status.region} region ({status.start:#x}-{status.end:#x})")
    flasher.write(status.region, wanted, target)
    ctx.progress(f"reading the {status.region} region back")
    readback = flasher.read(status.region)
    state = RegionState.VERIFIED if readback == wanted else RegionState.MISMATCH
    report = _set(report, index, state=state, readback_sha256=_sha(readback))
    ctx.journal(report)
    return report


class _Stopped(Exception):
    """A write or read-back went wrong; carries the report as far as it got."""

    def __init__(self, report: HostNeutralizeReport, why: str) -> None:
        super().__init__(why)
        self.report = report
        self.why = why


def _write_all(
    flasher: Flasher, report: HostNeutralizeReport, target: bytes, ctx: Context
) -> HostNeutralizeReport:
    for index in range(len(report.regions)):
        try:
            report = _write_one(flasher, report, index, target, ctx)
        except MewardenError as exc:
            raise _Stopped(report, str(exc)) from None
        status = report.regions[index]
        if status.state is RegionState.MISMATCH:
            raise _Stopped(report, f"the {status.region} region read back differs from the write")
    ctx.progress("reading the whole chip to verify")
    chip = flasher.read(None)
    report = dataclasses.replace(
        report, chip=dataclasses.replace(report.chip, sha256_after=_sha(chip))
    )
    if chip != target:
        raise _Stopped(report, "the whole chip read back differs from the planned image")
    return report


def write_regions(
    flasher: Flasher,
    report: HostNeutralizeReport,
    original: bytes,
    target: bytes,
    ctx: Context,
    *,
    success: Outcome,
) -> HostNeutralizeReport:
    """Write every region of ``report`` from ``target``; on failure roll back to ``original``."""
    report = dataclasses.replace(report, outcome=Outcome.IN_PROGRESS)
    ctx.journal(report)
    try:
        report = _write_all(flasher, report, target, ctx)
    except _Stopped as stop:
        return _roll_back(flasher, stop.report, original, stop.why, ctx)
    verification = {**report.verification, "chip_readback": True}
    report = dataclasses.replace(report, outcome=success, verification=verification)
    ctx.journal(report)
    return report


def _roll_back(
    flasher: Flasher, report: HostNeutralizeReport, original: bytes, why: str, ctx: Context
) -> HostNeutralizeReport:
    ctx.progress(f"{why}; putting the original regions back")
    for index in reversed(range(len(report.regions))):
        if report.regions[index].state is RegionState.PENDING:
            continue
        try:
            report = _write_one(flasher, report, index, original, ctx)
        except MewardenError:
            continue  # the final read says what the chip holds
        if report.regions[index].state is RegionState.VERIFIED:
            report = _set(report, index, state=RegionState.ROLLED_BACK)
    return _after_roll_back(flasher, report, original, why, ctx)


def _after_roll_back(
    flasher: Flasher, report: HostNeutralizeReport, original: bytes, why: str, ctx: Context
) -> HostNeutralizeReport:
    try:
        chip: bytes | None = flasher.read(None)
    except MewardenError:
        chip = None
    after = _sha(chip) if chip is not None else None
    restored = chip == original
    verification = {**report.verification, "chip_readback": False}
    held = "; ".join(
        f"{r.region}: {r.state}" + (f" (sha256 {r.readback_sha256})" if r.readback_sha256 else "")
        for r in report.regions
    )
    message = (
        f"{why}; the chip was put back and equals the original (sha256 {after})"
        if restored
        else f"{why}; the chip could NOT be put back ({held}); the original is in "
        f"{report.backup.path if report.backup else '?'}: 'mewarden host restore --backup'"
    )
    report = dataclasses.replace(
        report,
        outcome=Outcome.ROLLED_BACK if restored else Outcome.FAILED,
        chip=dataclasses.replace(report.chip, sha256_after=after),
        verification=verification,
        message=message,
    )
    ctx.journal(report)
    return report
