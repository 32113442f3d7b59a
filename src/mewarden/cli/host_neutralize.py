"""``mewarden host neutralize`` and ``mewarden host restore``: change the node's own flash safely.

``host neutralize`` is a dry run unless ``--yes``: it prints the plan (which regions change, the
Boot Guard ruling, the lock check). With ``--yes`` it backs the whole chip up (0600), writes only
the changed regions and verifies; the report (``--report``, a journal while writing) is what
``node enroll --policy neutralize --neutralize-report`` takes. A refusal exits 3 before anything
is written; a failed write exits 12 after putting the chip back, or saying what it holds.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.host.neutralize_report import HostNeutralizeReport
    from mewarden.host.neutralize_run import Context

_PROGRAMMER = click.option(
    "--programmer",
    "-p",
    default="internal",
    show_default=True,
    help="flashrom programmer (internal, ch341a_spi, dummy:emulate=...,image=FILE in tests).",
)
_REPORT = click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to save the report, also the journal while writing "
    "(default with --yes: BACKUP.report.json).",
)


def _context(report_path: Path | None) -> Context:
    from mewarden.fsutil import atomic_write_text
    from mewarden.host.neutralize_run import Context
    from mewarden.jsonutil import dumps

    err = Console(file=sys.stderr, highlight=False)

    def journal(report: HostNeutralizeReport) -> None:
        if report_path is not None:
            atomic_write_text(report_path, dumps(report) + "\n")

    return Context(
        now=lambda: datetime.now(UTC),
        progress=lambda line: err.print(f"[dim]{line}[/dim]"),
        journal=journal,
    )


def _default_backup() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"mewarden-chip-backup-{stamp}.bin")


def _render(report: HostNeutralizeReport) -> None:
    out = Console(highlight=False)
    chip = report.chip
    out.print(f"[bold]{report.kind}[/bold] ({report.mode}) on {chip.programmer}: {report.outcome}")
    if report.probe is not None:
        probe = report.probe
        out.print(f"live ME: {probe.verdict}; Boot Guard (registers): {probe.boot_guard}")
    if report.boot_guard is not None:
        ruled = "ruled out" if report.boot_guard.ruled_out else "NOT ruled out"
        out.print(f"Boot Guard {ruled}: " + "; ".join(report.boot_guard.evidence))
    out.print(f"host access: {report.lock_check}")
    out.print(f"chip {chip.size:#x} bytes, sha256 {chip.sha256_before} -> {chip.sha256_planned}")
    for region in report.regions:
        out.print(
            f"  {region.region:4} {region.start:#09x}-{region.end:#09x} {region.state}"
            f" ({region.old_sha256[:12]} -> {region.new_sha256[:12]})"
        )
    if report.backup is not None:
        out.print(f"backup: {report.backup.path} (sha256 {report.backup.sha256})")
    if report.outcome == "planned":
        out.print("dry run: nothing written; run again with --yes to write")
    if report.message:
        out.print(f"[red]{report.message}[/red]")


def _finish(report: HostNeutralizeReport, report_path: Path | None, as_json: bool) -> None:
    from mewarden.errors import ExternalToolError
    from mewarden.fsutil import atomic_write_text
    from mewarden.jsonutil import dumps

    if report_path is not None:
        atomic_write_text(report_path, dumps(report) + "\n")
    emit(report, as_json=as_json, render=lambda _c: _render(report))
    if report.outcome in ("rolled-back", "failed"):
        raise ExternalToolError(report.message or f"host {report.mode}: {report.outcome}")


@click.command(name="neutralize")
@_PROGRAMMER
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Probe a recorded tree (from 'mewarden host record') instead of the live system.",
)
@click.option(
    "--mode",
    type=click.Choice(["strip-and-disable", "disable-only", "strip-only"]),
    default=None,
    help="Default strip-and-disable (code removal needs Boot Guard ruled out).",
)
@click.option("--yes", is_flag=True, help="Write the chip (without it: print the plan only).")
@click.option(
    "--backup",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to save the whole chip first (a new file; default: time-stamped, here).",
)
@_REPORT
@json_option
def neutralize_command(
    *,
    programmer: str,
    root: Path | None,
    mode: str | None,
    yes: bool,
    backup: Path | None,
    report: Path | None,
    as_json: bool,
) -> None:
    """Neutralize this node's ME on its flash chip: probe, read, plan, back up, write, verify."""
    from mewarden.firmware.neutralize import Mode
    from mewarden.host.neutralize_run import FlashromFlasher, NeutralizeRequest, neutralize_host
    from mewarden.host.probe import probe
    from mewarden.host.sysfs import open_tree

    backup_path = backup if backup is not None else _default_backup()
    report_path = report
    if report_path is None and yes:
        report_path = backup_path.with_name(backup_path.name + ".report.json")
    ctx = _context(report_path)
    ctx.progress("probing the ME (HFSTS, Boot Guard)")
    live = probe(open_tree(root if root is not None else "/"))
    request = NeutralizeRequest(mode=Mode(mode) if mode else None, write=yes, backup=backup_path)
    result = neutralize_host(FlashromFlasher(programmer), live, request, ctx)
    _finish(result, report_path, as_json)


@click.command(name="restore")
@_PROGRAMMER
@click.option(
    "--backup",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The whole-chip backup 'host neutralize --yes' saved.",
)
@_REPORT
@json_option
def restore_command(programmer: str, backup: Path, report: Path | None, as_json: bool) -> None:
    """Put a 'host neutralize' backup back on the chip (changed regions only), verified."""
    from mewarden.host.neutralize_run import FlashromFlasher
    from mewarden.host.restore_run import restore_host

    ctx = _context(report)
    result = restore_host(FlashromFlasher(programmer), backup, ctx)
    _finish(result, report, as_json)
