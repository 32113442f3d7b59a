"""Compliance from evidence (pure): a node's policy and its evidence in, a verdict and reasons out.

Every piece of evidence is a typed, timestamped document (kind, time, SHA-256, JSON body). The
table (``docs/compliance.md``):

* **neutralize**: ``compliant`` only when all four pieces are present, fresh and agree: the
  neutralize report (written and verified; a record of a one-time change, so it does not age),
  a host probe taken after it showing HAP/AltMeDisable in effect, a network scan of the node's
  addresses with every AMT port and RMCP closed, and the netblock state (the ruleset covers the
  node, ``netblock diff`` empty). ``drift`` names whatever contradicts (even when old: nothing
  newer disproves it); otherwise ``unknown`` names what is missing or older than the org's
  maximum evidence age.
* **use**: ``compliant`` when enrolled, the admin password vaulted, the TLS certificate pinned
  (over TLS), AMT answered within the maximum age, and the last read-back of redirection and
  user consent matches the profile. A lost credential or pin, or settings that differ, are
  ``drift``; no enrollment or no recent answer is ``unknown``.
* **ignore**: ``observed`` with what was seen (never a judgement), or ``unknown`` before
  anything was.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DEFAULT_MAX_AGE = timedelta(days=7)

NEUTRALIZE_REPORT = "firmware-neutralize"
HOST_PROBE = "host-probe"
NETWORK_SCAN = "network-scan"
NETBLOCK_STATE = "netblock-state"
AMT_IDENTITY = "amt-identity"
AMT_STATE = "amt-state"

_ME_ON = frozenset({"running", "override"})
_REDIRECTION = ("sol", "ider", "kvm")


class Verdict(enum.StrEnum):
    """A node against its policy."""

    COMPLIANT = "compliant"
    UNKNOWN = "unknown"
    DRIFT = "drift"
    OBSERVED = "observed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One piece: its kind (a document kind), when it was observed, its hash and body."""

    kind: str
    at: datetime
    sha256: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFacts:
    """What org state knows of the node itself."""

    policy: str
    enrolled: bool
    admin_credential: bool
    tls: bool
    tls_pinned: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """Org settings the verdict depends on."""

    max_age: timedelta = DEFAULT_MAX_AGE


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessment:
    """The verdict and its reasons (what agrees, is missing or stale, or contradicts)."""

    verdict: Verdict
    reasons: tuple[str, ...]


class _Grade(enum.IntEnum):
    OK = 0
    MISSING = 1
    STALE = 2
    CONTRADICTS = 3


@dataclass(frozen=True, slots=True)
class _Finding:
    grade: _Grade
    reason: str


def _when(evidence: Evidence) -> str:
    return evidence.at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fresh(evidence: Evidence, what: str, now: datetime, rules: Rules) -> _Finding:
    if now - evidence.at > rules.max_age:
        age = now - evidence.at
        return _Finding(
            _Grade.STALE,
            f"{what} is stale ({_when(evidence)}, {_days(age)} old; max {_days(rules.max_age)})",
        )
    return _Finding(_Grade.OK, f"{what} ({_when(evidence)}, sha256 {evidence.sha256[:12]})")


def _days(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def _failed_checks(body: Mapping[str, Any]) -> list[str]:
    checks = body.get("verification")
    if not isinstance(checks, Mapping):
        return []
    return sorted(str(k) for k, v in checks.items() if v is False)


def _report(found: Mapping[str, Evidence], now: datetime, rules: Rules) -> _Finding:
    report = found.get(NEUTRALIZE_REPORT)
    if report is None:
        return _Finding(_Grade.MISSING, "no neutralize report")
    outcome = report.body.get("outcome")
    if report.body.get("kind") == "host-neutralize" and outcome == "failed":
        why = report.body.get("message") or "the chip could not be put back"
        return _Finding(_Grade.CONTRADICTS, f"neutralize report: write failed ({why})")
    if report.body.get("kind") == "host-neutralize" and outcome != "written":
        return _Finding(_Grade.MISSING, f"neutralize report is {outcome}, nothing was written")
    failed = _failed_checks(report.body)
    if failed:
        return _Finding(_Grade.CONTRADICTS, f"neutralize verification failed: {', '.join(failed)}")
    return _Finding(
        _Grade.OK, f"neutralize report verified ({_when(report)}, sha256 {report.sha256[:12]})"
    )


def _probe(found: Mapping[str, Evidence], now: datetime, rules: Rules) -> _Finding:
    probe, report = found.get(HOST_PROBE), found.get(NEUTRALIZE_REPORT)
    if probe is None:
        return _Finding(_Grade.MISSING, "no host probe")
    if report is not None and probe.at <= report.at:
        return _Finding(_Grade.MISSING, "no host probe since the neutralize report (reboot, probe)")
    verdict = str(probe.body.get("verdict", "unknown"))
    if verdict in _ME_ON:
        return _Finding(_Grade.CONTRADICTS, f"host probe ({_when(probe)}): ME {verdict}")
    if verdict != "hap-disabled":
        return _Finding(
            _Grade.MISSING,
            f"host probe ({_when(probe)}) says ME {verdict}, not HAP/AltMeDisable in effect",
        )
    return _fresh(probe, "host probe: ME hap-disabled", now, rules)


def open_services(body: Mapping[str, Any]) -> list[str]:
    """The AMT ports and RMCP a network-scan document found answering."""
    ports = body.get("open_amt_ports", [])
    found = [str(p) for p in ports] if isinstance(ports, list) else []
    if body.get("rmcp") is True:
        found.append("RMCP 623/udp")
    return found


def _scan(found: Mapping[str, Evidence], now: datetime, rules: Rules) -> _Finding:
    scan = found.get(NETWORK_SCAN)
    if scan is None:
        return _Finding(_Grade.MISSING, "no network scan of the node")
    answering = open_services(scan.body)
    if answering:
        return _Finding(
            _Grade.CONTRADICTS, f"scan ({_when(scan)}) found {', '.join(answering)} open"
        )
    return _fresh(scan, "scan: AMT ports and RMCP closed", now, rules)


def _netblock(found: Mapping[str, Evidence], now: datetime, rules: Rules) -> _Finding:
    state = found.get(NETBLOCK_STATE)
    if state is None:
        return _Finding(_Grade.MISSING, "no netblock state (netblock apply/diff from org state)")
    if state.body.get("covered") is not True:
        return _Finding(_Grade.CONTRADICTS, f"netblock ({_when(state)}): the ruleset lost the node")
    if state.body.get("diff_empty") is not True:
        return _Finding(
            _Grade.CONTRADICTS, f"netblock ({_when(state)}): live ruleset differs (diff not empty)"
        )
    return _fresh(state, "netblock: ruleset covers the node, diff empty", now, rules)


_Check = Callable[[Mapping[str, Evidence], datetime, Rules], _Finding]
_NEUTRALIZE_CHECKS: tuple[_Check, ...] = (_report, _probe, _scan, _netblock)


def _combine(findings: list[_Finding]) -> Assessment:
    worst = max((f.grade for f in findings), default=_Grade.OK)
    if worst is _Grade.CONTRADICTS:
        verdict = Verdict.DRIFT
    elif worst is _Grade.OK:
        verdict = Verdict.COMPLIANT
    else:
        verdict = Verdict.UNKNOWN
    keep = {_Grade.CONTRADICTS} if verdict is Verdict.DRIFT else {_Grade.MISSING, _Grade.STALE}
    if verdict is Verdict.COMPLIANT:
        keep = {_Grade.OK}
    return Assessment(verdict=verdict, reasons=tuple(f.reason for f in findings if f.grade in keep))


def _amt_contact(found: Mapping[str, Evidence], now: datetime, rules: Rules) -> _Finding:
    seen = [e for e in (found.get(AMT_IDENTITY), found.get(AMT_STATE)) if e is not None]
    if not seen:
        return _Finding(_Grade.MISSING, "AMT never answered (no identity read)")
    latest = max(seen, key=lambda e: e.at)
    return _fresh(latest, "AMT answered", now, rules)


def _onoff(value: object) -> str:
    return "on" if value else "off"


def _settings(found: Mapping[str, Evidence]) -> _Finding:
    identity, state = found.get(AMT_IDENTITY), found.get(AMT_STATE)
    profile = identity.body.get("profile") if identity is not None else None
    if state is None or not isinstance(profile, Mapping):
        return _Finding(_Grade.OK, "redirection and consent as applied at enrollment")
    wrong = [
        f"{key} {_onoff(state.body.get(key))} (profile: {_onoff(profile.get(key))})"
        for key in _REDIRECTION
        if key in state.body and bool(state.body[key]) != bool(profile.get(key))
    ]
    wanted = profile.get("user_consent")
    if wanted is not None and state.body.get("user_consent") not in (None, wanted):
        wrong.append(f"user consent {state.body.get('user_consent')} (profile: {wanted})")
    if wrong:
        return _Finding(_Grade.CONTRADICTS, f"AMT settings ({_when(state)}): {', '.join(wrong)}")
    return _Finding(_Grade.OK, f"redirection and consent match the profile ({_when(state)})")


def _use(
    facts: NodeFacts, found: Mapping[str, Evidence], now: datetime, rules: Rules
) -> Assessment:
    if not facts.enrolled:
        return Assessment(verdict=Verdict.UNKNOWN, reasons=("not enrolled",))
    findings = [
        _Finding(_Grade.OK, "admin password vaulted")
        if facts.admin_credential
        else _Finding(_Grade.CONTRADICTS, "no AMT admin password in the vault"),
        _amt_contact(found, now, rules),
        _settings(found),
    ]
    if facts.tls:
        findings.append(
            _Finding(_Grade.OK, "TLS certificate pinned")
            if facts.tls_pinned
            else _Finding(_Grade.CONTRADICTS, "TLS certificate not pinned")
        )
    return _combine(findings)


def _describe(evidence: Evidence) -> str:
    body = evidence.body
    if evidence.kind == HOST_PROBE:
        detail = f"ME {body.get('verdict', '?')}, Boot Guard {body.get('boot_guard', '?')}"
    elif evidence.kind == NETWORK_SCAN:
        detail = ", ".join(open_services(body)) + " open" if open_services(body) else "AMT closed"
    elif evidence.kind == NETBLOCK_STATE:
        detail = f"covered {body.get('covered')}, diff empty {body.get('diff_empty')}"
    else:
        detail = f"sha256 {evidence.sha256[:12]}"
    return f"{evidence.kind} ({_when(evidence)}): {detail}"


def assess(
    facts: NodeFacts, found: Mapping[str, Evidence], *, now: datetime, rules: Rules
) -> Assessment:
    """The verdict for one node (see the module docstring for the table)."""
    if facts.policy == "neutralize":
        return _combine([check(found, now, rules) for check in _NEUTRALIZE_CHECKS])
    if facts.policy == "use":
        return _use(facts, found, now, rules)
    if not found:
        return Assessment(verdict=Verdict.UNKNOWN, reasons=("policy ignore: nothing observed yet",))
    seen = sorted(found.values(), key=lambda e: (e.at, e.kind))
    return Assessment(verdict=Verdict.OBSERVED, reasons=tuple(_describe(e) for e in seen))
