"""Every ladder transition, table-driven, with injected time (instant)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from mewarden.policy.ladder import (
    ActionKind,
    Decision,
    Fault,
    Health,
    Incident,
    NodeContext,
    Observation,
    Outcome,
    Phase,
    after_action,
    backoff_delay_s,
    classify,
    next_step,
)
from mewarden.policy.settings import HealSettings

S = HealSettings(
    unhealthy_after_s=10,
    startup_grace_s=100,
    power_off_confirm_s=5,
    boot_time_s=20,
    cycle_retries=1,
    pxe_retries=1,
    reprovision_timeout_s=50,
    min_healthy_s=30,
    amt_unreachable_quarantine_s=40,
    max_attempts=4,
    backoff_base_s=8,
    backoff_cap_s=64,
)
CTX = NodeContext(enrolled_at=0.0)
T0 = 1000.0  # well past the startup grace

HEALTHY = Observation(host_alive=True, amt_reachable=True, power_on=True)
HUNG = Observation(host_alive=False, amt_reachable=True, power_on=True)
OFF = Observation(host_alive=False, amt_reachable=True, power_on=False)
DARK = Observation(host_alive=False, amt_reachable=False)
AMT_DOWN_ONLY = Observation(host_alive=True, amt_reachable=False)
UNASKED = Observation(host_alive=True, amt_reachable=None, power_on=True)
"""A live host whose AMT was not read this time (the usual reading between AMT checks)."""


def step(inc: Incident, obs: Observation, now: float, ctx: NodeContext = CTX) -> Decision:
    return next_step(inc, obs, ctx, S, now)


@pytest.mark.parametrize(
    ("obs", "ctx", "health"),
    [
        (HEALTHY, CTX, Health.HEALTHY),
        (HUNG, CTX, Health.HOST_DEAD),
        (OFF, CTX, Health.HOST_OFF),
        (OFF, NodeContext(enrolled_at=0, desired_power_on=False), Health.HEALTHY),
        (DARK, CTX, Health.AMT_UNREACHABLE),
        (AMT_DOWN_ONLY, CTX, Health.AMT_ONLY_DOWN),
        (UNASKED, CTX, Health.HEALTHY),
    ],
)
def test_observation_matrix(obs: Observation, ctx: NodeContext, health: Health) -> None:
    assert classify(obs, ctx) is health


# (phase before, observation, seconds since the phase began, phase after, action, event)
TRANSITIONS = [
    (Phase.HEALTHY, HEALTHY, 0, Phase.HEALTHY, None, None),
    (Phase.HEALTHY, HUNG, 0, Phase.SUSPECT, None, "suspect"),
    (Phase.HEALTHY, DARK, 0, Phase.SUSPECT, None, "suspect"),
    (Phase.HEALTHY, AMT_DOWN_ONLY, 0, Phase.HEALTHY, None, None),
    (Phase.SUSPECT, HEALTHY, 5, Phase.HEALTHY, None, "cleared"),
    (Phase.SUSPECT, HUNG, 9, Phase.SUSPECT, None, None),
    (Phase.SUSPECT, HUNG, 10, Phase.POWERING_OFF, ActionKind.POWER_OFF, "power-cycle"),
    (Phase.SUSPECT, OFF, 10, Phase.BOOTING, ActionKind.POWER_ON, "power-on"),
    (Phase.SUSPECT, DARK, 39, Phase.SUSPECT, None, None),
    (Phase.SUSPECT, DARK, 40, Phase.QUARANTINED, None, "quarantined"),
    (Phase.POWERING_OFF, HUNG, 4, Phase.POWERING_OFF, None, None),
    (Phase.POWERING_OFF, OFF, 1, Phase.BOOTING, ActionKind.POWER_ON, "power-on"),
    (Phase.POWERING_OFF, HUNG, 5, Phase.QUARANTINED, None, "quarantined"),
    (Phase.BOOTING, HUNG, 19, Phase.BOOTING, None, None),
    (Phase.BOOTING, HEALTHY, 3, Phase.RECOVERED, None, "recovered"),
    (Phase.REPROVISIONING, HUNG, 49, Phase.REPROVISIONING, None, None),
    (Phase.RECOVERED, HEALTHY, 29, Phase.RECOVERED, None, None),
    (Phase.RECOVERED, HEALTHY, 30, Phase.HEALTHY, None, "resolved"),
    (Phase.RECOVERED, HUNG, 1, Phase.SUSPECT, None, "relapse"),
    (Phase.QUARANTINED, HUNG, 999, Phase.QUARANTINED, None, None),
    # AMT down on a live host is no reason for anything on the ladder: the host is healthy
    (Phase.SUSPECT, AMT_DOWN_ONLY, 50, Phase.HEALTHY, None, "cleared"),
    (Phase.BOOTING, AMT_DOWN_ONLY, 50, Phase.RECOVERED, None, "recovered"),
    (Phase.RECOVERED, AMT_DOWN_ONLY, 1, Phase.RECOVERED, None, None),
    (Phase.RECOVERED, AMT_DOWN_ONLY, 30, Phase.HEALTHY, None, "resolved"),
    (Phase.SUSPECT, UNASKED, 50, Phase.HEALTHY, None, "cleared"),
    (Phase.REPROVISIONING, AMT_DOWN_ONLY, 50, Phase.REPROVISIONING, None, None),
    (Phase.REPROVISIONING, AMT_DOWN_ONLY, 89, Phase.REPROVISIONING, None, None),
    (Phase.REPROVISIONING, AMT_DOWN_ONLY, 90, Phase.QUARANTINED, None, "quarantined"),
]


@pytest.mark.parametrize(("before", "obs", "elapsed", "after", "action", "event"), TRANSITIONS)
def test_transition(
    before: Phase,
    obs: Observation,
    elapsed: float,
    after: Phase,
    action: ActionKind | None,
    event: str | None,
) -> None:
    inc = Incident(phase=before, since=T0, number=1)
    decision = step(inc, obs, T0 + elapsed)
    assert decision.incident.phase is after
    assert decision.action is action
    assert decision.event == event


def test_startup_grace_hides_a_dead_new_node() -> None:
    ctx = NodeContext(enrolled_at=T0)
    assert step(Incident(), HUNG, T0 + S.startup_grace_s - 1, ctx).incident.phase is Phase.HEALTHY
    assert step(Incident(), HUNG, T0 + S.startup_grace_s, ctx).incident.phase is Phase.SUSPECT


def test_node_meant_to_be_off_is_never_powered_on() -> None:
    ctx = NodeContext(enrolled_at=0, desired_power_on=False)
    inc = Incident()
    for t in range(0, 500, 5):
        decision = step(inc, OFF, T0 + t, ctx)
        assert decision.action is None
        inc = decision.incident
    assert inc.phase is Phase.HEALTHY


def test_amt_unreachable_never_triggers_a_host_action() -> None:
    inc = Incident()
    actions = []
    for t in range(0, 1000, 1):
        decision = step(inc, DARK, T0 + t)
        actions.append(decision.action)
        inc = decision.incident
    assert set(actions) == {None}
    assert inc.phase is Phase.QUARANTINED
    assert inc.fault is Fault.AMT_UNREACHABLE


def test_amt_unreachable_quarantine_clears_itself_when_amt_answers() -> None:
    inc = Incident(phase=Phase.QUARANTINED, since=T0, fault=Fault.AMT_UNREACHABLE, number=3)
    decision = step(inc, HUNG, T0 + 1)
    assert decision.incident.phase is Phase.HEALTHY
    assert decision.event == "unquarantined"
    assert decision.incident.number == 3


@pytest.mark.parametrize("obs", [AMT_DOWN_ONLY, UNASKED])
def test_amt_quarantine_stays_until_amt_itself_answers(obs: Observation) -> None:
    # a live host says nothing about AMT: only a reading in which AMT answered clears it
    inc = Incident(phase=Phase.QUARANTINED, since=T0, fault=Fault.AMT_UNREACHABLE, number=3)
    assert step(inc, obs, T0 + 10_000).incident.phase is Phase.QUARANTINED
    assert step(inc, HEALTHY, T0 + 10_001).event == "unquarantined"


@pytest.mark.parametrize("phase", list(Phase))
def test_amt_only_down_never_proposes_a_host_action(phase: Phase) -> None:
    inc = Incident(phase=phase, since=T0, number=1, cycles=1, pxes=0, attempts=1)
    for t in range(0, 4000, 7):
        decision = step(inc, AMT_DOWN_ONLY, T0 + t)
        assert decision.action is None
        inc = decision.incident


def test_other_quarantines_wait_for_a_person() -> None:
    inc = Incident(phase=Phase.QUARANTINED, since=T0, fault=Fault.REPROVISION_FAILED)
    assert step(inc, HEALTHY, T0 + 10_000).incident.phase is Phase.QUARANTINED


def run(
    inc: Incident, obs: Observation, start: float, seconds: float
) -> tuple[Incident, list[str]]:
    """Tick once a second; every proposed action is carried out successfully."""
    actions: list[str] = []
    for t in range(int(seconds)):
        decision = step(inc, obs, start + t)
        if decision.action is not None:
            actions.append(decision.action.value)
        inc = decision.incident
    return inc, actions


def test_full_ladder_for_a_host_that_stays_dead() -> None:
    inc, actions = run(Incident(), HUNG, T0, 200)
    # power-off is never confirmed by a HUNG observation (AMT still says on): power failure
    assert actions == ["power-off"]
    assert inc.fault is Fault.POWER_FAILURE


def test_cycle_then_pxe_then_quarantine() -> None:
    inc, acts = run(Incident(), HUNG, T0, S.unhealthy_after_s + 1)  # -> powering-off
    assert acts == ["power-off"]
    inc, acts2 = run(inc, OFF, T0 + 100, 1)  # AMT confirms off -> power-on
    assert acts2 == ["power-on"]
    inc, acts3 = run(inc, HUNG, T0 + 101, S.boot_time_s + 1)  # boot did not help -> PXE
    assert acts3 == ["pxe-reprovision"]
    assert inc.phase is Phase.REPROVISIONING
    inc, acts4 = run(inc, HUNG, T0 + 200, S.reprovision_timeout_s + 1)
    assert acts4 == []
    assert inc.phase is Phase.QUARANTINED
    assert inc.fault is Fault.REPROVISION_FAILED


def test_pxe_success_needs_a_reenrolment_after_the_pxe() -> None:
    inc = Incident(phase=Phase.REPROVISIONING, since=T0, pxes=1, cycles=1, attempts=2)
    stale = dataclasses.replace(HEALTHY, reenrolled_at=T0 - 1)
    assert step(inc, stale, T0 + 1).incident.phase is Phase.REPROVISIONING
    fresh = dataclasses.replace(HEALTHY, reenrolled_at=T0 + 1)
    decision = step(inc, fresh, T0 + 2)
    assert decision.incident.phase is Phase.RECOVERED
    assert decision.event == "reenrolled"


def test_relapse_continues_the_incident_at_the_next_rung() -> None:
    recovered = Incident(phase=Phase.RECOVERED, since=T0, number=7, cycles=1, attempts=2)
    relapse = step(recovered, HUNG, T0 + 1).incident
    assert relapse.phase is Phase.SUSPECT
    assert relapse.number == 7
    decision = step(relapse, HUNG, T0 + 1 + S.unhealthy_after_s)
    assert decision.action is ActionKind.PXE_REPROVISION  # not a second power cycle


def test_after_min_healthy_a_new_failure_is_a_new_incident() -> None:
    recovered = Incident(phase=Phase.RECOVERED, since=T0, number=7, cycles=1, attempts=2)
    closed = step(recovered, HEALTHY, T0 + S.min_healthy_s).incident
    assert (closed.phase, closed.cycles, closed.attempts) == (Phase.HEALTHY, 0, 0)
    reopened = step(closed, HUNG, T0 + S.min_healthy_s + 1).incident
    assert reopened.number == 8


def test_attempt_cap_quarantines() -> None:
    inc = Incident(phase=Phase.SUSPECT, since=T0, attempts=S.max_attempts)
    decision = step(inc, HUNG, T0 + S.unhealthy_after_s)
    assert decision.incident.fault is Fault.ATTEMPTS_EXHAUSTED
    assert decision.action is None


def test_retryable_failure_backs_off_and_counts_the_attempt() -> None:
    before = Incident(phase=Phase.SUSPECT, since=T0)
    planned = step(before, HUNG, T0 + S.unhealthy_after_s)
    now = T0 + S.unhealthy_after_s
    failed = after_action(before, planned, Outcome.RETRYABLE_FAILURE, S, now, jitter=0.0)
    assert failed.incident.phase is Phase.SUSPECT
    assert failed.incident.attempts == 1
    assert failed.incident.not_before == now + S.backoff_base_s
    assert step(failed.incident, HUNG, now + S.backoff_base_s - 1).action is None
    assert step(failed.incident, HUNG, now + S.backoff_base_s).action is ActionKind.POWER_OFF


@pytest.mark.parametrize(
    ("outcome", "fault"),
    [
        (Outcome.AUTH_FAILED, Fault.AUTH_FAILED),
        (Outcome.UNSUPPORTED, Fault.UNSUPPORTED),
        (Outcome.TLS_PIN_MISMATCH, Fault.TLS_PIN_MISMATCH),
    ],
)
def test_fatal_failures_are_never_retried(outcome: Outcome, fault: Fault) -> None:
    before = Incident(phase=Phase.SUSPECT, since=T0)
    planned = step(before, HUNG, T0 + S.unhealthy_after_s)
    decision = after_action(before, planned, outcome, S, T0 + 20, jitter=0.5)
    assert decision.incident.phase is Phase.QUARANTINED
    assert decision.incident.fault is fault


def test_successful_action_keeps_the_plan() -> None:
    before = Incident(phase=Phase.SUSPECT, since=T0)
    planned = step(before, HUNG, T0 + S.unhealthy_after_s)
    assert after_action(before, planned, Outcome.DONE, S, T0, jitter=0.1) is planned


@pytest.mark.parametrize("failures", [1, 2, 3, 4, 5, 30, 100])
@pytest.mark.parametrize("jitter", [0.0, 0.3, 0.999])
def test_backoff_is_capped_and_jitter_only_shortens(failures: int, jitter: float) -> None:
    delay = backoff_delay_s(failures, jitter=jitter, base_s=8, cap_s=64)
    full = min(64, 8 * 2 ** (failures - 1))
    assert full / 2 <= delay <= full


def test_backoff_grows() -> None:
    delays = [backoff_delay_s(n, jitter=0, base_s=1, cap_s=1e9) for n in range(1, 8)]
    assert delays == sorted(delays)
    assert len(set(delays)) == len(delays)


OFF_INTENT = NodeContext(enrolled_at=0.0, desired_power_on=False)
AT = Incident(phase=Phase.HEALTHY, since=T0, number=1)


def _at(phase: Phase, **changes: object) -> Incident:
    return dataclasses.replace(AT, phase=phase, **changes)  # type: ignore[arg-type]


# (incident, observation, seconds since it began, context, phase after, action, event, fault)
MORE_TRANSITIONS = [
    # a relapse (the ladder already acted) that heals by itself: watched again, not cleared
    (_at(Phase.SUSPECT, cycles=1), HEALTHY, 1, CTX, Phase.RECOVERED, None, "recovered", None),
    (_at(Phase.SUSPECT, pxes=1), HEALTHY, 1, CTX, Phase.RECOVERED, None, "recovered", None),
    # booting past the boot time: AMT dark is its own fault, a host off is powered on
    (_at(Phase.BOOTING), DARK, 20, CTX, Phase.BOOTING, None, None, None),
    (
        _at(Phase.BOOTING),
        DARK,
        40,
        CTX,
        Phase.QUARANTINED,
        None,
        "quarantined",
        Fault.AMT_UNREACHABLE,
    ),
    (_at(Phase.BOOTING), OFF, 20, CTX, Phase.BOOTING, ActionKind.POWER_ON, "power-on", None),
    (
        _at(Phase.BOOTING, cycles=1),
        HUNG,
        20,
        CTX,
        Phase.REPROVISIONING,
        ActionKind.PXE_REPROVISION,
        "pxe-reprovision",
        None,
    ),
    # re-provision timed out: AMT dark -> amt-unreachable; still hung -> reprovision-failed
    (
        _at(Phase.REPROVISIONING, cycles=1, pxes=1),
        DARK,
        50,
        CTX,
        Phase.QUARANTINED,
        None,
        "quarantined",
        Fault.AMT_UNREACHABLE,
    ),
    (
        _at(Phase.REPROVISIONING, cycles=1, pxes=1),
        HUNG,
        50,
        CTX,
        Phase.QUARANTINED,
        None,
        "quarantined",
        Fault.REPROVISION_FAILED,
    ),
    # the power-on after a confirmed power-off: backoff and attempt cap apply to it too
    (_at(Phase.POWERING_OFF, not_before=T0 + 9), OFF, 8, CTX, Phase.POWERING_OFF, None, None, None),
    (
        _at(Phase.POWERING_OFF, not_before=T0 + 9),
        OFF,
        9,
        CTX,
        Phase.BOOTING,
        ActionKind.POWER_ON,
        "power-on",
        None,
    ),
    (
        _at(Phase.POWERING_OFF, attempts=4),
        OFF,
        1,
        CTX,
        Phase.QUARANTINED,
        None,
        "quarantined",
        Fault.ATTEMPTS_EXHAUSTED,
    ),
    # power intent off: a hung host that is on gets a power-off only, then the incident ends
    (
        _at(Phase.SUSPECT),
        HUNG,
        10,
        OFF_INTENT,
        Phase.POWERING_OFF,
        ActionKind.POWER_OFF,
        "power-off",
        None,
    ),
    (_at(Phase.POWERING_OFF), OFF, 1, OFF_INTENT, Phase.HEALTHY, None, "resolved", None),
    (_at(Phase.POWERING_OFF, cycles=1), OFF, 1, OFF_INTENT, Phase.HEALTHY, None, "resolved", None),
    (
        _at(Phase.BOOTING, cycles=1),
        HUNG,
        20,
        OFF_INTENT,
        Phase.POWERING_OFF,
        ActionKind.POWER_OFF,
        "power-off",
        None,
    ),
    (
        _at(Phase.REPROVISIONING, cycles=1, pxes=1),
        HUNG,
        50,
        OFF_INTENT,
        Phase.POWERING_OFF,
        ActionKind.POWER_OFF,
        "power-off",
        None,
    ),
    (_at(Phase.HEALTHY), OFF, 0, OFF_INTENT, Phase.HEALTHY, None, None, None),
]


@pytest.mark.parametrize(
    ("inc", "obs", "elapsed", "ctx", "after", "action", "event", "fault"), MORE_TRANSITIONS
)
def test_more_transitions(
    inc: Incident,
    obs: Observation,
    elapsed: float,
    ctx: NodeContext,
    after: Phase,
    action: ActionKind | None,
    event: str | None,
    fault: Fault | None,
) -> None:
    decision = step(inc, obs, T0 + elapsed, ctx)
    assert decision.incident.phase is after
    assert decision.action is action
    assert decision.event == event
    assert decision.incident.fault is fault
    if action is ActionKind.POWER_ON and inc.phase is Phase.POWERING_OFF:
        assert decision.continuation


def test_a_power_on_that_keeps_failing_backs_off_and_ends_in_quarantine() -> None:
    """Confirmed off, then every power-on fails retryably: sent at most max_attempts times,
    never before its backoff, marked a retry (so the rate budget applies), then quarantine."""
    inc = Incident(phase=Phase.POWERING_OFF, since=T0, number=1, cycles=1, attempts=1)
    sent: list[float] = []
    now = T0
    for _ in range(2000):
        now += 1
        decision = step(inc, OFF, now)
        if decision.action is not None:
            assert decision.action is ActionKind.POWER_ON
            assert decision.continuation
            assert decision.retry is bool(sent)
            assert now >= inc.not_before
            sent.append(now)
            decision = after_action(inc, decision, Outcome.RETRYABLE_FAILURE, S, now, jitter=0.0)
        inc = decision.incident
        if inc.phase is Phase.QUARANTINED:
            break
    assert inc.fault is Fault.ATTEMPTS_EXHAUSTED
    assert len(sent) == S.max_attempts - 1  # the power-off was the first attempt
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert gaps == sorted(gaps)
    assert gaps[0] >= S.backoff_base_s


def test_node_meant_to_be_off_and_hung_is_powered_off_and_never_on() -> None:
    inc = Incident(phase=Phase.HEALTHY, since=T0)
    actions = []
    for t, obs in [(0, HUNG), (10, HUNG), (11, OFF), (12, OFF), (500, OFF)]:
        decision = step(inc, obs, T0 + t, OFF_INTENT)
        actions.append(decision.action)
        inc = decision.incident
    assert actions == [None, ActionKind.POWER_OFF, None, None, None]
    assert inc.phase is Phase.HEALTHY
