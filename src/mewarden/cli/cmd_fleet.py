"""``mewarden fleet status|report|evidence-max-age``: compliance from evidence, per node.

``fleet status`` writes a ``compliance.drift`` event when a node enters drift (and
``compliance.cleared`` when it leaves), can write the per-state Prometheus gauge to a textfile
(``--metrics-file``, for node_exporter's textfile collector) and with ``--check`` exits 1 when
any node drifts, for monitoring.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.state.status import NodeStatus

STATES = ("compliant", "drift", "unknown", "observed")


@click.group(name="fleet")
def command() -> None:
    """Fleet-wide views of org state."""


def _write_metrics(path: Path, summary: dict[str, int]) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from mewarden.fsutil import atomic_write_bytes
    from mewarden.heal.metrics import compliance_gauge

    registry = CollectorRegistry()
    gauge = compliance_gauge(registry)
    for state, count in summary.items():
        gauge.labels(state).set(count)
    atomic_write_bytes(path, generate_latest(registry))


def _render_rows(rows: list[NodeStatus], summary: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
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


@command.command("status")
@org_options
@click.option("--check", is_flag=True, help="Exit 1 when any node drifts (for monitoring).")
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the Prometheus gauge mewarden_fleet_compliance_nodes{state} here.",
)
@json_option
def status(org: OrgAccess, check: bool, metrics_file: Path | None, as_json: bool) -> None:
    """Compliance of every node (compliant, drift, unknown, observed) with the reasons."""
    from collections import Counter

    from mewarden.state.evidence import record_transitions
    from mewarden.state.fleet import fleet_status

    store = org.store()
    rows = fleet_status(store)
    record_transitions(store, rows)
    counts = Counter(row.status.value for row in rows)
    summary = {k: counts.get(k, 0) for k in STATES}
    if metrics_file is not None:
        _write_metrics(metrics_file, summary)
    emit(
        {"summary": summary, "nodes": rows},
        as_json=as_json,
        render=lambda _c: _render_rows(rows, summary),
    )
    if check and summary["drift"]:
        click.echo(f"mewarden: {summary['drift']} node(s) drift", err=True)
        sys.exit(1)


@command.command("report")
@org_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML report here (self-contained; with --json, the JSON).",
)
@json_option
def report(org: OrgAccess, output: Path | None, as_json: bool) -> None:
    """The evidence report for an auditor: per node policy, verdict, evidence, firmware."""
    from mewarden.cli.fleet_report_html import render_html
    from mewarden.errors import BadInputError
    from mewarden.fsutil import atomic_write_text
    from mewarden.jsonutil import dumps
    from mewarden.state.audit_report import audit_report
    from mewarden.state.evidence import load_rules

    if output is None and not as_json:
        raise BadInputError("give -o FILE for the HTML report, or --json")
    store = org.store()
    result = audit_report(store, rules=load_rules(store), now=store.clock())
    text = dumps(result) + "\n" if as_json else render_html(result)
    if output is None:
        click.echo(text, nl=False)
        return
    atomic_write_text(output, text)
    click.echo(f"wrote the evidence report of {len(result.nodes)} node(s) to {output}", err=True)


@command.command("evidence-max-age")
@click.argument("duration", required=False)
@org_options
@json_option
def evidence_max_age(org: OrgAccess, duration: str | None, as_json: bool) -> None:
    """Show, or set (e.g. 12h, 7d), how old evidence may be and still count."""
    from mewarden.state.evidence import load_rules, parse_age, set_max_age

    store = org.store()
    rules = set_max_age(store, parse_age(duration)) if duration else load_rules(store)
    seconds = int(rules.max_age.total_seconds())
    emit(
        {"max_evidence_age_s": seconds},
        as_json=as_json,
        render=lambda c: c.print(f"maximum evidence age: {rules.max_age} ({seconds} s)"),
    )
