"""``mewarden host``: the live ME state of this node (``probe``) and captured trees (``record``)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from mewarden.cli.output import emit, json_option


@click.group(name="host")
def command() -> None:
    """Read the ME state of this node from the node itself."""


@command.command(name="probe")
@click.option(
    "--root",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Probe a recorded tree (from 'mewarden host record') instead of the live system.",
)
@json_option
def probe_command(root: Path | None, as_json: bool) -> None:
    """Report the ME verdict, Boot Guard and AMT state, with the evidence for each.

    Reads /sys (HECI PCI function, /sys/class/mei), /dev/cpu/0/msr and the /dev/meiN bound to
    that function. Runs without root, but then cannot read PCI config space, the Boot Guard MSR
    or MEI: the verdict says so.
    """
    from mewarden.host.probe import probe
    from mewarden.host.sysfs import open_tree

    report = probe(open_tree(root if root is not None else "/"))

    def render(console: Console) -> None:
        table = Table(show_header=True, header_style="bold")
        table.add_column("question")
        table.add_column("answer")
        table.add_column("evidence")
        table.add_row("ME", report.verdict.value, "\n".join(report.verdict_evidence))
        table.add_row("Boot Guard", report.boot_guard.value, "\n".join(report.boot_guard_evidence))
        table.add_row("AMT", report.amt.value, "\n".join(report.amt_evidence))
        console.print(table)
        if report.heci is not None:
            heci = report.heci
            console.print(
                f"HECI {heci.address} [8086:{heci.device}] {heci.platform or 'unknown platform'}"
                f" ({heci.generation or 'generation unknown'}), firmware "
                f"{report.firmware_version or 'version unknown'}"
            )
        for problem in report.problems:
            console.print(f"[yellow]note:[/] {problem}")

    emit(report, as_json=as_json, render=render)


@command.command(name="record")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--root",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Record from a tree instead of the live system (to re-record or trim a tree).",
)
@json_option
def record_command(directory: Path, root: Path | None, as_json: bool) -> None:
    """Capture what 'host probe' reads into DIRECTORY (a new or empty directory)."""
    from mewarden.host.record import record
    from mewarden.host.sysfs import open_tree

    summary = record(open_tree(root if root is not None else "/"), directory)

    def render(console: Console) -> None:
        console.print(
            f"recorded {len(summary.files)} files and {summary.mei_sessions} MEI sessions "
            f"into {summary.directory}"
        )
        for path in summary.denied:
            console.print(f"[yellow]not readable:[/] /{path}")

    emit(summary, as_json=as_json, render=render)
