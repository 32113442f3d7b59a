"""``fleet report``'s HTML: one self-contained file (inline CSS, no scripts, no external assets).

Every value from org state is escaped (node names, reasons and sources are user data).
"""

from __future__ import annotations

from html import escape
from typing import Any

from mewarden.state.audit_report import AuditReport, NodeAudit

_CSS = """
body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}.compliant{color:#060}.drift{color:#b00;font-weight:bold}
.unknown{color:#a60}.observed{color:#036}code{font-size:90%}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _firmware(title: str, state: dict[str, Any] | None) -> str:
    if state is None:
        return ""
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in state.items()
    )
    return f"<h4>{_e(title)}</h4><table>{rows}</table>"


def _node(node: NodeAudit) -> str:
    reasons = "".join(f"<li>{_e(r)}</li>" for r in node.reasons)
    evidence = "".join(
        f"<tr><td>{_e(e.kind)}</td><td>{_e(e.observed_at)}</td><td>{_e(e.recorded_at)}</td>"
        f"<td><code>{_e(e.sha256)}</code></td><td>{_e(e.source)}</td><td>{_e(e.summary)}</td></tr>"
        for e in node.evidence
    )
    table = (
        "<table><tr><th>evidence</th><th>observed</th><th>recorded</th><th>sha256</th>"
        f"<th>source</th><th>says</th></tr>{evidence}</table>"
        if evidence
        else "<p>no evidence recorded</p>"
    )
    return (
        f'<section><h3 id="{_e(node.node)}">{_e(node.node)}</h3>'
        f"<p>policy <b>{_e(node.policy)}</b> (from {_e(node.policy_source)}); verdict "
        f'<span class="{_e(node.verdict)}">{_e(node.verdict)}</span></p><ul>{reasons}</ul>'
        f"{table}{_firmware('firmware before', node.firmware_before)}"
        f"{_firmware('firmware after', node.firmware_after)}</section>"
    )


def render_html(report: AuditReport) -> str:
    """The whole report as one HTML document."""
    summary = ", ".join(f"{_e(n)} {_e(k)}" for k, n in report.summary.items())
    overview = "".join(
        f'<tr><td><a href="#{_e(n.node)}">{_e(n.node)}</a></td><td>{_e(n.policy)}</td>'
        f'<td class="{_e(n.verdict)}">{_e(n.verdict)}</td><td>{_e("; ".join(n.reasons))}</td></tr>'
        for n in report.nodes
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>mewarden evidence report</title>"
        f"<style>{_CSS}</style></head><body><h1>ME policy evidence report</h1>"
        f"<p>generated {_e(report.generated_at)}; maximum evidence age "
        f"{_e(report.max_evidence_age_s)} s; {summary}</p>"
        "<table><tr><th>node</th><th>policy</th><th>verdict</th><th>reasons</th></tr>"
        f"{overview}</table>{''.join(_node(n) for n in report.nodes)}</body></html>\n"
    )
