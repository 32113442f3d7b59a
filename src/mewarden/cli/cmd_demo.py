"""``mewarden demo``: the whole use/neutralize/ignore story on emulated hardware, in under a minute.

What ``make demo`` runs (no configuration, no root, loopback only): a temporary SQLite org, a
dozen emulated AMT devices, mixed policies, a generated firmware image inspected and neutralized
and recorded as metadata, the ME/AMT block rules rendered from org state, then the whole
remediation ladder: a hung host healed by a power cycle, a broken OS re-provisioned by PXE (the
node re-enrolls), an AMT outage quarantined, and a second broken OS held back by the PXE budget.
It ends with the ladder rung by rung, the fleet table and the audit trail. See docs/heal.md.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.demo import DemoResult


def _render(result: DemoResult) -> Any:
    def render(out: Any) -> None:
        from rich.table import Table

        out.width = max(out.width, 124)  # the fleet table and audit lines need the room
        fw = result.firmware
        out.rule("firmware (generated image)")
        out.print(
            f"ME {fw['me_version']} ({fw['inspected_state']}): {fw['mode']}, partitions "
            f"{fw['partitions_before']} -> {fw['partitions_after']}, removed modules "
            f"{fw['removed_modules']}, strap {fw['strap']}"
        )
        out.rule(f"network rules (nftables, {result.ruleset_lines} lines; first lines)")
        for line in result.ruleset_head:
            out.print(line, markup=False)
        out.rule("remediation ladder (each faulted node, rung by rung)")
        for rung in result.ladder:
            steps = " -> ".join(rung.rungs) or "-"
            out.print(f"{rung.node} [{rung.injected}]: {steps}  => {rung.outcome}", markup=False)
        out.rule("fleet (AMT power = requests the devices logged; boots = the emulator's log)")
        table = Table(
            "node", "policy", "phase", "fault", "injected", "AMT power", "boots", "re-enr", "docs"
        )
        for row in result.fleet:
            docs = ", ".join(d.replace("firmware-", "fw-") for d in row.documents)
            table.add_row(
                row.node,
                row.policy,
                row.phase,
                row.fault,
                row.injected,
                str(row.amt_power_requests),
                ",".join(row.boots),
                str(row.reenroll_count),
                docs,
            )
        out.print(table)
        out.rule("audit trail (heal decisions and actions, metadata)")
        start = result.audit[0].at if result.audit else None
        for event in result.audit:
            offset = (event.at - start).total_seconds() if start else 0.0
            detail = " ".join(f"{k}={v}" for k, v in sorted(event.detail.items()) if k != "sha256")
            out.print(
                f"+{offset:6.2f}s {event.node or '-':7} {event.kind:22} {detail}", markup=False
            )
        state = "settled" if result.finished else "NOT settled (time limit reached)"
        out.print(f"{result.ticks} controller passes, {result.seconds:.1f} s, {state}")

    return render


@click.command(name="demo")
@json_option
def command(as_json: bool) -> None:
    """Run the end-to-end demo on emulated hardware (loopback only, under a minute)."""
    from mewarden.demo import run_demo
    from mewarden.errors import MewardenError

    def progress(line: str) -> None:
        if not as_json:
            click.echo(f"demo: {line}", err=True)

    with tempfile.TemporaryDirectory(prefix="mewarden-demo-") as tmp:
        result = asyncio.run(run_demo(Path(tmp), progress))
    from mewarden.jsonutil import plain

    document = plain(result)
    # the stage-1 demo printed {"stock.bin": ..., "neutralized.bin": ...}: keep those keys
    document.update(document.pop("images"))
    emit(document, as_json=as_json, render=_render(result))
    if not result.finished:
        click.echo("mewarden: error: the demo did not settle in time", err=True)
        sys.exit(MewardenError.exit_code)
