"""Fleet status: a node's policy against its evidence documents.

The verdicts and their reasons come from the pure table in :mod:`mewarden.policy.compliance`
(``docs/compliance.md``); this module turns org state (the node row, whether its admin password
is vaulted, the newest document of each kind) into that table's input. A document's time is the
``observed_at`` its body carries (when the evidence was taken), else when it was recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mewarden.policy.compliance import Evidence, NodeFacts, Rules, assess
from mewarden.policy.compliance import Verdict as Compliance
from mewarden.state.models import Document, DocumentKind, Lifecycle, Node, as_utc

__all__ = ["Compliance", "NodeStatus", "Observed", "document_evidence", "node_status"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatus:
    """One row of ``fleet status``."""

    node: str
    policy: str
    policy_source: str
    lifecycle: str
    status: Compliance
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """What org state holds about a node beyond its row."""

    has_admin_credential: bool
    latest: Mapping[DocumentKind, Document]


def _body(doc: Document) -> dict[str, Any]:
    try:
        value = json.loads(doc.body)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _observed_at(body: Mapping[str, Any], recorded: datetime) -> datetime:
    text = body.get("observed_at")
    if not isinstance(text, str):
        return recorded
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return recorded


def document_evidence(doc: Document) -> Evidence:
    """A document as a piece of evidence: kind, observation time, hash, body."""
    body = _body(doc)
    return Evidence(
        kind=doc.kind.value, at=_observed_at(body, doc.created_at), sha256=doc.sha256, body=body
    )


def node_status(node: Node, seen: Observed, *, now: datetime, rules: Rules) -> NodeStatus:
    """The compliance verdict for one node."""
    facts = NodeFacts(
        policy=node.effective_policy.value,
        enrolled=node.lifecycle is Lifecycle.ENROLLED,
        admin_credential=seen.has_admin_credential,
        tls=node.amt_tls,
        tls_pinned=node.tls_pin is not None,
    )
    evidence = {kind.value: document_evidence(doc) for kind, doc in seen.latest.items()}
    result = assess(facts, evidence, now=now, rules=rules)
    return NodeStatus(
        node=node.name,
        policy=node.effective_policy.value,
        policy_source=node.policy_source,
        lifecycle=node.lifecycle.value,
        status=result.verdict,
        reasons=result.reasons,
    )
