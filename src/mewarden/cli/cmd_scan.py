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
@click.option(
    "--record",
    is_flag=True,
    help="Record one network-scan evidence document per node reached (org state).",
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
    record: bool,
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

    use_source = not source.from_state or fleet or record or source.db is not None
    inventory = source.load() if use_source else NetblockInventory(nodes=())
    addresses = expand_targets(targets)
    if fleet:
        merged = {*addresses, *fleet_targets(inventory)}
        addresses = tuple(sorted(merged, key=lambda a: (a.version, a)))
    if not addresses:
        raise BadInputError("nothing to scan: give TARGETS or --fleet")
    if record and not source.from_state:
        raise BadInputError("--record writes to org state: not with --inventory")
    options = ScanOptions(timeout=timeout, concurrency=concurrency, vantage=Vantage(vantage))
    reports = asyncio.run(scan(addresses, inventory, options))
    recorded = _record(source, reports, vantage) if record else 0
    result = {
        "recorded": recorded,
        "targets": len(reports),
        "findings": sum(len(r.findings) for r in reports),
        "results": list(reports),
    }
    emit(result, as_json=as_json, render=lambda c: _render(c, reports))


def _record(source: InventorySource, reports: tuple[object, ...], vantage: str) -> int:
    """Attach one network-scan document per org node the scan reached; how many."""
    from mewarden.cli.cmd_org import OrgAccess
    from mewarden.jsonutil import dumps
    from mewarden.netblock.evidence import scan_documents
    from mewarden.netblock.scan import TargetReport
    from mewarden.state.evidence import EvidenceRecord, record_evidence
    from mewarden.state.models import DocumentKind

    store = OrgAccess(db=source.db, key_file=None, key_command=None).store()
    names = {node.name for node in store.nodes()}
    typed = [r for r in reports if isinstance(r, TargetReport)]
    bodies = scan_documents(typed, names, now=store.clock(), vantage=vantage)
    records = [
        EvidenceRecord(node=name, kind=DocumentKind.NETWORK_SCAN, source="scan", body=dumps(body))
        for name, body in sorted(bodies.items())
    ]
    return record_evidence(store, records)


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
