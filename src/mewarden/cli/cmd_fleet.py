"""``mewarden fleet status``: per node, policy against observed state, with reasons."""

from __future__ import annotations

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option


@click.group(name="fleet")
def command() -> None:
    """Fleet-wide views of org state."""


@command.command("status")
@org_options
@json_option
def status(org: OrgAccess, as_json: bool) -> None:
    """Compliance of every node (compliant, drift, unknown) with the reasons."""
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from mewarden.state.fleet import fleet_status

    rows = fleet_status(org.store())
    counts = Counter(row.status.value for row in rows)
    summary = {k: counts.get(k, 0) for k in ("compliant", "drift", "unknown")}

    def render(console: Console) -> None:
        table = Table("node", "policy", "from", "lifecycle", "status", "reasons")
        for row in rows:
            table.add_row(
                row.node,
                row.policy,
                row.policy_source,
                row.lifecycle,
                row.status.value,
                "; ".join(row.reasons),
            )
        console.print(table)
        console.print(", ".join(f"{n} {k}" for k, n in summary.items()))

    emit({"summary": summary, "nodes": rows}, as_json=as_json, render=render)
