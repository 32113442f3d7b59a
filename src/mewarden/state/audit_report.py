"""The evidence report an auditor reads (``fleet report``): per node the policy, the verdict,
every piece of evidence with its time and hash, and the firmware state before and after.

Built from org state only (no device is asked); the HTML rendering is in
:mod:`mewarden.cli.fleet_report_html`, the JSON form is this module's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mewarden.policy.compliance import Rules
from mewarden.state.fleet import fleet_snapshot
from mewarden.state.models import Document, DocumentKind
from mewarden.state.status import document_evidence
from mewarden.state.store import Store

REPORT_VERSION = 1
_FIRMWARE_FIELDS = (
    "layout", "me_version", "sha256", "partitions", "me_disable", "fpt_checksum_valid",
    "ftpr_signature_valid", "boot_guard_manifests",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceItem:
    """One piece of evidence as recorded."""

    kind: str
    observed_at: str
    recorded_at: str
    sha256: str
    source: str
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeAudit:
    """One node's section of the report."""

    node: str
    policy: str
    policy_source: str
    verdict: str
    reasons: tuple[str, ...]
    evidence: tuple[EvidenceItem, ...]
    firmware_before: dict[str, Any] | None
    firmware_after: dict[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditReport:
    """The whole report."""

    report_version: int
    generated_at: str
    max_evidence_age_s: int
    summary: dict[str, int]
    nodes: tuple[NodeAudit, ...]


def _summary(kind: str, body: Mapping[str, Any]) -> str:
    if kind == DocumentKind.HOST_PROBE:
        return f"ME {body.get('verdict', '?')}; Boot Guard {body.get('boot_guard', '?')}"
    if kind == DocumentKind.NETWORK_SCAN:
        ports = body.get("open_amt_ports") or []
        rmcp = " RMCP" if body.get("rmcp") else ""
        return f"open: {', '.join(str(p) for p in ports) or 'none'}{rmcp}"
    if kind == DocumentKind.NETBLOCK_STATE:
        event, covered, empty = body.get("event", "?"), body.get("covered"), body.get("diff_empty")
        return f"{event}: covered {covered}, diff empty {empty}"
    if kind == DocumentKind.FIRMWARE_NEUTRALIZE:
        parts = (body.get("kind", "firmware-neutralize"), body.get("outcome"), body.get("mode"))
        return " ".join(str(p) for p in parts if p)
    return kind


def _firmware(body: Mapping[str, Any], side: str) -> dict[str, Any] | None:
    nested = body.get("neutralize")
    state = (nested if isinstance(nested, Mapping) else body).get(side)
    if not isinstance(state, Mapping):
        return None
    return {k: state.get(k) for k in _FIRMWARE_FIELDS}


def _items(docs: Mapping[DocumentKind, Document]) -> tuple[EvidenceItem, ...]:
    items = []
    for kind, doc in sorted(docs.items()):
        evidence = document_evidence(doc)
        items.append(
            EvidenceItem(
                kind=kind.value,
                observed_at=evidence.at.isoformat(),
                recorded_at=doc.created_at.isoformat(),
                sha256=doc.sha256,
                source=doc.source,
                summary=_summary(kind.value, evidence.body),
            )
        )
    return tuple(items)


def audit_report(store: Store, *, rules: Rules, now: datetime) -> AuditReport:
    """The report over every node, newest evidence of each kind."""
    snapshot = fleet_snapshot(store, rules=rules)
    nodes = []
    for row in snapshot.rows:
        docs = snapshot.latest.get(row.node, {})
        report = docs.get(DocumentKind.FIRMWARE_NEUTRALIZE)
        body = document_evidence(report).body if report is not None else {}
        nodes.append(
            NodeAudit(
                node=row.node,
                policy=row.policy,
                policy_source=row.policy_source,
                verdict=row.status.value,
                reasons=row.reasons,
                evidence=_items(docs),
                firmware_before=_firmware(body, "before"),
                firmware_after=_firmware(body, "after"),
            )
        )
    summary = {state: sum(1 for n in nodes if n.verdict == state) for state in
               ("compliant", "unknown", "drift", "observed")}  # fmt: skip
    return AuditReport(
        report_version=REPORT_VERSION,
        generated_at=now.isoformat(),
        max_evidence_age_s=int(rules.max_age.total_seconds()),
        summary=summary,
        nodes=tuple(nodes),
    )
