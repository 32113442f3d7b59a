"""Fleet status (pure): a node's policy against what org state has observed.

* ``use``: compliant when enrolled, the admin password is in the vault, the AMT identity was
  recorded, and (over TLS) the certificate is pinned.
* ``neutralize``: compliant when a neutralize report whose verification found no failure is
  attached and no later host probe says the ME is still running.
* ``ignore``: nothing to enforce; compliant once anything was observed, unknown before.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mewarden.state.models import Document, DocumentKind, Lifecycle, Node, Policy

_ME_OFF_VERDICTS = frozenset({"hap-disabled", "soft-disabled", "hidden"})


class Compliance(enum.StrEnum):
    """Verdict of a node against its policy."""

    COMPLIANT = "compliant"
    DRIFT = "drift"
    UNKNOWN = "unknown"


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


def _body(doc: Document | None) -> dict[str, Any]:
    if doc is None:
        return {}
    try:
        value = json.loads(doc.body)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _use(node: Node, seen: Observed) -> tuple[Compliance, list[str]]:
    missing = []
    if node.lifecycle is not Lifecycle.ENROLLED:
        missing.append("not enrolled")
    if not seen.has_admin_credential:
        missing.append("no AMT admin password in the vault")
    if DocumentKind.AMT_IDENTITY not in seen.latest:
        missing.append("AMT identity never read")
    if node.amt_tls and node.tls_pin is None:
        missing.append("TLS certificate not pinned")
    if not missing:
        return Compliance.COMPLIANT, ["enrolled with a vaulted admin password"]
    never_seen = node.lifecycle is not Lifecycle.ENROLLED and len(missing) >= 3
    return (Compliance.UNKNOWN if never_seen else Compliance.DRIFT), missing


def _neutralize(seen: Observed) -> tuple[Compliance, list[str]]:
    report = seen.latest.get(DocumentKind.FIRMWARE_NEUTRALIZE)
    probe = seen.latest.get(DocumentKind.HOST_PROBE)
    if report is None:
        if probe is not None and _body(probe).get("verdict") in _ME_OFF_VERDICTS:
            return Compliance.COMPLIANT, [f"host probe: ME {_body(probe)['verdict']}"]
        return Compliance.UNKNOWN, ["no neutralize report attached"]
    checks = _body(report).get("verification", {})
    failed = sorted(k for k, v in checks.items() if v is False) if isinstance(checks, dict) else []
    if failed:
        return Compliance.DRIFT, [f"neutralize verification failed: {', '.join(failed)}"]
    if probe is not None and probe.id > report.id:
        verdict = _body(probe).get("verdict")
        if verdict == "running":
            return Compliance.DRIFT, ["host probe after neutralize: ME is running"]
    return Compliance.COMPLIANT, ["neutralize report attached and verified"]


def node_status(node: Node, seen: Observed) -> NodeStatus:
    """The compliance verdict for one node."""
    policy = node.effective_policy
    if policy is Policy.USE:
        status, reasons = _use(node, seen)
    elif policy is Policy.NEUTRALIZE:
        status, reasons = _neutralize(seen)
    elif seen.latest:
        status, reasons = Compliance.COMPLIANT, ["policy ignore: observed, nothing enforced"]
    else:
        status, reasons = Compliance.UNKNOWN, ["policy ignore: nothing observed yet"]
    return NodeStatus(
        node=node.name,
        policy=policy.value,
        policy_source=node.policy_source,
        lifecycle=node.lifecycle.value,
        status=status,
        reasons=tuple(reasons),
    )
