"""``host restore --backup FILE``: put a ``host neutralize`` backup back on the chip, verified.

Only the regions that differ from the backup are written (the descriptor last), each read back,
then the whole chip is compared with the backup. The layout comes from the backup's own
descriptor, since the chip's may be the half-written thing being repaired. A failure rolls the
touched regions back to what the chip held before the restore, or says what each region holds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mewarden import __version__
from mewarden.errors import BadInputError, FirmwareFormatError
from mewarden.firmware.descriptor import parse_descriptor
from mewarden.fsutil import read_input_file
from mewarden.host import neutralize_plan as nplan
from mewarden.host.neutralize_report import (
    REPORT_VERSION,
    BackupInfo,
    ChipInfo,
    HostNeutralizeReport,
    Outcome,
)
from mewarden.host.neutralize_run import (
    Context,
    Flasher,
    lock_check,
    pending_regions,
    write_regions,
)

KIND = "host-restore"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def restore_host(flasher: Flasher, backup: Path, ctx: Context) -> HostNeutralizeReport:
    """Write the regions of ``backup`` that differ from the chip, verify, report."""
    data = read_input_file(backup, what="backup")
    try:
        layout = parse_descriptor(data)
    except FirmwareFormatError as exc:
        raise BadInputError(f"backup {backup} has no flash descriptor: {exc}") from None
    ctx.progress("reading the whole chip (slow on real hardware)")
    current = flasher.read(None)
    if len(current) != len(data):
        raise BadInputError(
            f"backup {backup} is {len(data):#x} bytes, but the chip is {len(current):#x} bytes"
        )
    writes = nplan.changed_regions(layout, current, data)
    try:
        on_chip = parse_descriptor(current)
    except FirmwareFormatError:
        on_chip = layout
    checked = lock_check(flasher.programmer, on_chip, write=tuple(w.region.value for w in writes))
    report = HostNeutralizeReport(
        report_version=REPORT_VERSION,
        kind=KIND,
        tool=f"mewarden {__version__}",
        observed_at=ctx.now().isoformat(),
        outcome=Outcome.NOTHING_TO_DO,
        mode="restore",
        probe=None,
        boot_guard=None,
        lock_check=checked,
        chip=ChipInfo(
            programmer=flasher.programmer,
            size=len(current),
            sha256_before=_sha(current),
            sha256_planned=_sha(data),
            sha256_after=_sha(current) if not writes else None,
        ),
        backup=BackupInfo(path=str(backup), size=len(data), sha256=_sha(data)),
        regions=pending_regions(writes),
        neutralize=None,
        verification={"chip_readback": True if not writes else None},
    )
    if not writes:
        return report
    return write_regions(flasher, report, current, data, ctx, success=Outcome.RESTORED)
