"""``mewarden scan``: find exposed AMT services and compare them with each node's policy."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from mewarden.cli.cmd_netblock import InventorySource, source_options
from mewarden.cli.output import emit, json_option


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--fleet", is_flag=True, help="Scan every address of every node (org state).")
@source_options
@click.option("--timeout", type=click.FloatRange(0.05, 60), default=1.0, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 4096), default=256, show_default=True)
@click.option(
    "--vantage",
    type=click.Choice(["controller", "outside"]),
    default="controller",
    show_default=True,
    help="Where this scan runs: from outside, an answering use node is a finding too.",
)
@json_option
def command(
    *,
    targets: tuple[str, ...],
    fleet: bool,
    source: InventorySource,
    timeout: float,
    concurrency: int,
    vantage: str,
    as_json: bool,
) -> None:
    """Probe TARGETS (addresses or CIDRs) for AMT: ports, banner, RMCP, CVE-2017-5689.

    Each address is matched to its node and policy from --inventory, or from org state when
    --fleet or --db is given; other addresses count as policy ignore.
    """
    import asyncio

    from mewarden.errors import BadInputError
    from mewarden.netblock.inventory import NetblockInventory
    from mewarden.netblock.probe import Vantage
    from mewarden.netblock.scan import ScanOptions, expand_targets, fleet_targets, scan

    use_source = not source.from_state or fleet or source.db is not None
    inventory = source.load() if use_source else NetblockInventory(nodes=())
    addresses = expand_targets(targets)
    if fleet:
        merged = {*addresses, *fleet_targets(inventory)}
        addresses = tuple(sorted(merged, key=lambda a: (a.version, a)))
    if not addresses:
        raise BadInputError("nothing to scan: give TARGETS or --fleet")
    options = ScanOptions(timeout=timeout, concurrency=concurrency, vantage=Vantage(vantage))
    reports = asyncio.run(scan(addresses, inventory, options))
    result = {
        "targets": len(reports),
        "findings": sum(len(r.findings) for r in reports),
        "results": list(reports),
    }
    emit(result, as_json=as_json, render=lambda c: _render(c, reports))


def _render(console: Console, reports: tuple[object, ...]) -> None:
    from mewarden.netblock.scan import TargetReport

    table = Table(title="AMT exposure")
    for column in ("address", "node", "policy", "open AMT ports", "agent", "RMCP", "CVE-2017-5689"):
        table.add_column(column)
    for report in reports:
        assert isinstance(report, TargetReport)
        ports = ",".join(str(p) for p in report.open_amt_ports) or "-"
        agent = report.agent.value if report.agent else "-"
        table.add_row(
            report.address,
            report.node,
            report.policy.value,
            ports,
            agent,
            "yes" if report.rmcp else "no",
            report.cve_2017_5689.value,
        )
    console.print(table)
    for report in reports:
        assert isinstance(report, TargetReport)
        for finding in report.findings:
            console.print(f"FINDING {report.address} ({report.node}): {finding}")
