"""The compliance table (docs/compliance.md): every combination of present, missing, stale and
contradicting evidence for each policy gives the documented verdict with its reasons."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mewarden.policy.compliance import Evidence, NodeFacts, Rules, Verdict, assess

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = Rules(max_age=timedelta(days=7))
FRESH, OLD = NOW - timedelta(hours=1), NOW - timedelta(days=30)
REPORT_AT = NOW - timedelta(days=60)  # a neutralize report is a one-time record: it never ages

PIECES = ("report", "probe", "scan", "netblock")
STATES = ("ok", "missing", "stale", "contradicts")
KEYWORDS = {"report": "neutralize", "probe": "probe", "scan": "scan", "netblock": "netblock"}


def _evidence(kind: str, at: datetime, body: dict[str, Any]) -> Evidence:
    return Evidence(kind=kind, at=at, sha256="ab" * 32, body=body)


def _report(state: str) -> Evidence | None:
    if state == "missing":
        return None
    failed = {"strap_set": False} if state == "contradicts" else {"strap_set": True}
    body = {"kind": "host-neutralize", "outcome": "written", "verification": failed}
    return _evidence("firmware-neutralize", REPORT_AT, body)


def _live(kind: str, state: str, ok: dict[str, Any], bad: dict[str, Any]) -> Evidence | None:
    if state == "missing":
        return None
    at = OLD if state == "stale" else FRESH
    return _evidence(kind, at, bad if state == "contradicts" else ok)


def _neutralize_evidence(states: dict[str, str]) -> dict[str, Evidence]:
    pieces = {
        "firmware-neutralize": _report(states["report"]),
        "host-probe": _live(
            "host-probe", states["probe"], {"verdict": "hap-disabled"}, {"verdict": "running"}
        ),
        "network-scan": _live(
            "network-scan",
            states["scan"],
            {"open_amt_ports": [], "rmcp": False},
            {"open_amt_ports": [16992], "rmcp": False},
        ),
        "netblock-state": _live(
            "netblock-state",
            states["netblock"],
            {"covered": True, "diff_empty": True},
            {"covered": False, "diff_empty": True},
        ),
    }
    return {k: v for k, v in pieces.items() if v is not None}


def _facts(policy: str, **overrides: bool) -> NodeFacts:
    values = {"enrolled": True, "admin_credential": True, "tls": False, "tls_pinned": False}
    values.update(overrides)
    return NodeFacts(policy=policy, **values)


def _expected(states: dict[str, str]) -> tuple[Verdict, set[str]]:
    """The documented rule: drift names contradictions; else unknown names the missing and the
    stale (a report does not age); else compliant."""
    contradicting = {p for p, s in states.items() if s == "contradicts"}
    if contradicting:
        return Verdict.DRIFT, contradicting
    lacking = {p for p, s in states.items() if s == "missing" or (s == "stale" and p != "report")}
    if lacking:
        return Verdict.UNKNOWN, lacking
    return Verdict.COMPLIANT, set(PIECES)


COMBINATIONS = [dict(zip(PIECES, c, strict=True)) for c in itertools.product(STATES, repeat=4)]


@pytest.mark.parametrize("states", COMBINATIONS, ids=lambda s: "-".join(s.values()))
def test_neutralize_table(states: dict[str, str]) -> None:
    result = assess(_facts("neutralize"), _neutralize_evidence(states), now=NOW, rules=RULES)
    verdict, named = _expected(states)
    assert result.verdict is verdict
    assert len(result.reasons) == len(named)
    for piece in named:
        assert any(KEYWORDS[piece] in reason for reason in result.reasons), (piece, result)
    if verdict is Verdict.UNKNOWN:
        stale = {p for p in named if states[p] == "stale"}
        assert sum("stale" in r for r in result.reasons) == len(stale)


def test_neutralize_reasons_say_what_contradicts() -> None:
    states = {"report": "ok", "probe": "contradicts", "scan": "contradicts", "netblock": "ok"}
    result = assess(_facts("neutralize"), _neutralize_evidence(states), now=NOW, rules=RULES)
    assert result.verdict is Verdict.DRIFT
    assert any("ME running" in r for r in result.reasons)
    assert any("16992 open" in r for r in result.reasons)


def test_a_probe_before_the_neutralize_report_is_not_evidence() -> None:
    found = _neutralize_evidence(dict.fromkeys(PIECES, "ok"))
    found["host-probe"] = _evidence(
        "host-probe", REPORT_AT - timedelta(hours=1), {"verdict": "running"}
    )
    result = assess(_facts("neutralize"), found, now=NOW, rules=RULES)
    assert result.verdict is Verdict.UNKNOWN
    assert result.reasons == ("no host probe since the neutralize report (reboot, probe)",)


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [("written", Verdict.COMPLIANT), ("planned", Verdict.UNKNOWN),
     ("rolled-back", Verdict.UNKNOWN), ("failed", Verdict.DRIFT)],
)  # fmt: skip
def test_host_neutralize_outcomes(outcome: str, verdict: Verdict) -> None:
    found = _neutralize_evidence(dict.fromkeys(PIECES, "ok"))
    body = {"kind": "host-neutralize", "outcome": outcome, "verification": {}}
    found["firmware-neutralize"] = _evidence("firmware-neutralize", REPORT_AT, body)
    assert assess(_facts("neutralize"), found, now=NOW, rules=RULES).verdict is verdict


@pytest.mark.parametrize("verdict", ["soft-disabled", "hidden", "unknown"])
def test_a_probe_that_does_not_show_hap_is_unknown(verdict: str) -> None:
    found = _neutralize_evidence(dict.fromkeys(PIECES, "ok"))
    found["host-probe"] = _evidence("host-probe", FRESH, {"verdict": verdict})
    result = assess(_facts("neutralize"), found, now=NOW, rules=RULES)
    assert result.verdict is Verdict.UNKNOWN
    assert f"ME {verdict}" in result.reasons[0]


def test_rmcp_answering_is_drift_and_max_age_is_the_orgs() -> None:
    found = _neutralize_evidence(dict.fromkeys(PIECES, "ok"))
    found["network-scan"] = _evidence("network-scan", FRESH, {"open_amt_ports": [], "rmcp": True})
    assert assess(_facts("neutralize"), found, now=NOW, rules=RULES).verdict is Verdict.DRIFT
    fine = _neutralize_evidence(dict.fromkeys(PIECES, "ok"))
    strict = Rules(max_age=timedelta(minutes=30))
    result = assess(_facts("neutralize"), fine, now=NOW, rules=strict)
    assert result.verdict is Verdict.UNKNOWN
    assert (
        len(result.reasons) == 3
    )  # probe, scan and netblock are an hour old; the report never ages


# --- use ------------------------------------------------------------------------------------------

USE_AXES = {
    "enrolled": (True, False),
    "credential": (True, False),
    "tls": ("none", "pinned", "unpinned"),
    "contact": ("fresh", "stale", "missing"),
    "settings": ("enrollment", "match", "mismatch"),
}
USE_COMBINATIONS = [
    dict(zip(USE_AXES, c, strict=True)) for c in itertools.product(*USE_AXES.values())
]
PROFILE = {"sol": True, "ider": False, "kvm": False, "user_consent": None}


def _use_evidence(case: dict[str, Any]) -> dict[str, Evidence]:
    found: dict[str, Evidence] = {}
    if case["contact"] != "missing":
        at = FRESH if case["contact"] == "fresh" else OLD
        found["amt-identity"] = _evidence(
            "amt-identity", at - timedelta(minutes=5), {"profile": PROFILE}
        )
        if case["settings"] != "enrollment":
            state = {"sol": case["settings"] == "match", "ider": False, "kvm": False}
            found["amt-state"] = _evidence("amt-state", at, state)
    return found


def _use_expected(case: dict[str, Any]) -> tuple[Verdict, list[str]]:
    if not case["enrolled"]:
        return Verdict.UNKNOWN, ["not enrolled"]
    wrong = []
    if not case["credential"]:
        wrong.append("no AMT admin password")
    if case["tls"] == "unpinned":
        wrong.append("not pinned")
    if case["settings"] == "mismatch" and case["contact"] != "missing":
        wrong.append("sol off (profile: on)")
    if wrong:
        return Verdict.DRIFT, wrong
    if case["contact"] == "missing":
        return Verdict.UNKNOWN, ["AMT never answered"]
    if case["contact"] == "stale":
        return Verdict.UNKNOWN, ["AMT answered is stale"]
    return Verdict.COMPLIANT, ["admin password vaulted", "AMT answered"]


@pytest.mark.parametrize(
    "case", USE_COMBINATIONS, ids=lambda c: "-".join(str(v) for v in c.values())
)
def test_use_table(case: dict[str, Any]) -> None:
    facts = _facts(
        "use",
        enrolled=case["enrolled"],
        admin_credential=case["credential"],
        tls=case["tls"] != "none",
        tls_pinned=case["tls"] == "pinned",
    )
    result = assess(facts, _use_evidence(case), now=NOW, rules=RULES)
    verdict, fragments = _use_expected(case)
    assert result.verdict is verdict, result
    for fragment in fragments:
        assert any(fragment in reason for reason in result.reasons), (fragment, result)
    if verdict is Verdict.DRIFT:
        assert len(result.reasons) == len(fragments)


# --- ignore ---------------------------------------------------------------------------------------

IGNORE_KINDS = ("host-probe", "network-scan", "firmware-neutralize", "netblock-state")


@pytest.mark.parametrize(
    "present", [c for n in range(5) for c in itertools.combinations(IGNORE_KINDS, n)]
)
def test_ignore_observes_and_never_judges(present: tuple[str, ...]) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "host-probe": {"verdict": "running", "boot_guard": "unknown"},
        "network-scan": {"open_amt_ports": [16992, 16993], "rmcp": True},
        "firmware-neutralize": {"verification": {"strap_set": False}},
        "netblock-state": {"covered": False, "diff_empty": False},
    }
    found = {k: _evidence(k, OLD, bodies[k]) for k in present}
    result = assess(_facts("ignore", enrolled=False), found, now=NOW, rules=RULES)
    if not present:
        assert (result.verdict, result.reasons) == (
            Verdict.UNKNOWN,
            ("policy ignore: nothing observed yet",),
        )
        return
    assert result.verdict is Verdict.OBSERVED
    assert [r.split(" ", 1)[0] for r in result.reasons] == sorted(present)
    assert not any(word in " ".join(result.reasons) for word in ("drift", "compliant", "stale"))
    if "network-scan" in present:
        assert any("16992, 16993, RMCP 623/udp open" in r for r in result.reasons)
