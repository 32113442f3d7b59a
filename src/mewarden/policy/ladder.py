"""The remediation ladder: a pure, table-driven state machine with injected time.

One :class:`Incident` per node carries where the node stands. Each controller tick feeds the
node's latest :class:`Observation` to :func:`next_step`, which returns a :class:`Decision`: the
incident as it will be if the proposed action is carried out, the action (or none), and the
event to record. The controller checks the fleet guard rails (:mod:`mewarden.policy.guards`)
before carrying out a host action, holds the node's lease while it does, and reports the
outcome back through :func:`after_action`.

Ladder (``shared/reference/fleet-and-style.md`` §1.8)::

    healthy -> suspect --(condition held unhealthy_after_s)--> powering-off --(AMT says off)-->
    booting --(boot_time_s, still dead)--> [cycle again | reprovisioning (one-shot PXE or IDER
    boot + reset, per the node's re-provision method)]
    --(reprovision_timeout_s without re-enrolment)--> quarantined(fault)
    booting|reprovisioning --(healthy)--> recovered --(min_healthy_s)--> healthy (incident closed)
    recovered --(dead again)--> suspect, same incident, counters kept: the next rung, not a repeat

A node whose power intent is off is never powered on: off counts as healthy for it, and if it
is on but hung, the only action is a power-off, after which the incident ends (``resolved``).
A retryable failure of any action, the power-on that completes a cycle included, backs off and
counts against ``max_attempts``.

AMT unreachable never leads to a host action: it is its own fault (quarantine after
``amt_unreachable_quarantine_s``, cleared automatically once AMT answers again). AMT down on a
live host (``amt-only-down``) counts as healthy here; :mod:`mewarden.policy.amt_watch` records
it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mewarden.policy.reprovision import ReprovisionMethod
from mewarden.policy.settings import HealSettings


class Phase(StrEnum):
    """Where a node stands on the ladder."""

    HEALTHY = "healthy"
    SUSPECT = "suspect"
    POWERING_OFF = "powering-off"
    BOOTING = "booting"
    REPROVISIONING = "reprovisioning"
    RECOVERED = "recovered"
    QUARANTINED = "quarantined"


IN_FLIGHT_PHASES = frozenset({Phase.POWERING_OFF, Phase.BOOTING, Phase.REPROVISIONING})


class Fault(StrEnum):
    """Why a node was quarantined; a person reads this."""

    AMT_UNREACHABLE = "amt-unreachable"
    POWER_FAILURE = "power-failure"
    REPROVISION_FAILED = "reprovision-failed"
    ATTEMPTS_EXHAUSTED = "attempts-exhausted"
    AUTH_FAILED = "auth-failed"
    UNSUPPORTED = "unsupported"
    TLS_PIN_MISMATCH = "tls-pin-mismatch"


class ActionKind(StrEnum):
    """Host actions the controller carries out through AMT."""

    POWER_OFF = "power-off"
    POWER_ON = "power-on"
    PXE_REPROVISION = "pxe-reprovision"
    IDER_REPROVISION = "ider-reprovision"


REPROVISION_ACTIONS = frozenset({ActionKind.PXE_REPROVISION, ActionKind.IDER_REPROVISION})
"""Both re-provision rungs: one counter (``pxes``), one budget (``pxe``), one timeout."""


class Health(StrEnum):
    """What one observation says, before time is taken into account."""

    HEALTHY = "healthy"
    HOST_DEAD = "host-dead"
    HOST_OFF = "host-off"
    AMT_UNREACHABLE = "amt-unreachable"
    AMT_ONLY_DOWN = "amt-only-down"


class Outcome(StrEnum):
    """How a host action went."""

    DONE = "done"
    RETRYABLE_FAILURE = "retryable-failure"
    AUTH_FAILED = "auth-failed"
    UNSUPPORTED = "unsupported"
    TLS_PIN_MISMATCH = "tls-pin-mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One probe of a node: host agent, AMT reachability and power state."""

    host_alive: bool
    amt_reachable: bool | None
    """None: AMT was not asked (a live host's AMT is read only now and then)."""
    power_on: bool | None = None
    """AMT's power state (None when AMT did not answer)."""
    reenrolled_at: float | None = None
    """When the node last re-enrolled (after a PXE re-provision), if ever."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeContext:
    """What org state says about the node."""

    enrolled_at: float
    desired_power_on: bool = True
    """An operator's shutdown is not a failure: a node meant to be off is never powered on."""
    reprovision: ReprovisionMethod = ReprovisionMethod.PXE
    """How the re-provision rung boots the node (its group's or its own setting)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """A node's ladder state; persisted by the controller between ticks."""

    phase: Phase = Phase.HEALTHY
    since: float = 0.0
    """When the current phase began (for suspect: when the condition was first seen)."""
    number: int = 0
    """Increments with each new incident on this node (relapses keep the number)."""
    cycles: int = 0
    pxes: int = 0
    attempts: int = 0
    failures: int = 0
    """Consecutive failed actions, for backoff."""
    not_before: float = 0.0
    fault: Fault | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What to do now, and what the incident becomes if it is done."""

    incident: Incident
    action: ActionKind | None = None
    event: str | None = None
    """Event name to record (None: nothing changed worth recording)."""
    reason: str = ""
    continuation: bool = False
    """The action finishes one already under way (power-on after a confirmed power-off):
    guard rails must not strand a node powered off half-way through a cycle."""
    retry: bool = False
    """A continuation tried again after it failed: the rate budget applies to it again, so a
    failing power-on cannot be re-sent faster than the fleet's action rate."""


def classify(obs: Observation, ctx: NodeContext) -> Health:
    """Reduce an observation to one health value (the observation matrix of §1.8)."""
    if obs.host_alive:
        return Health.AMT_ONLY_DOWN if obs.amt_reachable is False else Health.HEALTHY
    if not obs.amt_reachable:
        return Health.AMT_UNREACHABLE
    if obs.power_on is False:
        return Health.HOST_OFF if ctx.desired_power_on else Health.HEALTHY
    return Health.HOST_DEAD


def _is_bad(health: Health) -> bool:
    return health in (Health.HOST_DEAD, Health.HOST_OFF, Health.AMT_UNREACHABLE)


def _stay(incident: Incident) -> Decision:
    return Decision(incident=incident)


def _move(incident: Incident, phase: Phase, now: float, **changes: object) -> Incident:
    return dataclasses.replace(incident, phase=phase, since=now, **changes)  # type: ignore[arg-type]


def _quarantine(incident: Incident, fault: Fault, now: float, reason: str) -> Decision:
    new = _move(incident, Phase.QUARANTINED, now, fault=fault)
    return Decision(incident=new, event="quarantined", reason=f"{fault.value}: {reason}")


@dataclass(frozen=True, slots=True)
class _Tick:
    """Everything one decision looks at besides the incident."""

    obs: Observation
    ctx: NodeContext
    health: Health
    s: HealSettings
    now: float


def next_step(
    incident: Incident, obs: Observation, ctx: NodeContext, settings: HealSettings, now: float
) -> Decision:
    """Decide the node's next step from its incident, a fresh observation and the time."""
    tick = _Tick(obs, ctx, classify(obs, ctx), settings, now)
    return _HANDLERS[incident.phase](incident, tick)


def _on_healthy(inc: Incident, t: _Tick) -> Decision:
    if t.now < t.ctx.enrolled_at + t.s.startup_grace_s or not _is_bad(t.health):
        return _stay(inc)
    fresh = Incident(phase=Phase.SUSPECT, since=t.now, number=inc.number + 1)
    return Decision(incident=fresh, event="suspect", reason=f"observed {t.health.value}")


def _on_suspect(inc: Incident, t: _Tick) -> Decision:
    if not _is_bad(t.health):
        if inc.cycles or inc.pxes:  # a relapse that healed by itself: back to watching
            return Decision(incident=_move(inc, Phase.RECOVERED, t.now), event="recovered")
        return Decision(incident=Incident(number=inc.number), event="cleared", reason="healthy")
    if t.health is Health.AMT_UNREACHABLE:
        return _hold_for_amt(inc, t.s, t.now)
    if t.now - inc.since < t.s.unhealthy_after_s:
        return _stay(inc)
    return _escalate(inc, t.health, t.ctx, t.s, t.now)


def _hold_for_amt(inc: Incident, s: HealSettings, now: float) -> Decision:
    if now - inc.since >= s.amt_unreachable_quarantine_s:
        return _quarantine(inc, Fault.AMT_UNREACHABLE, now, "AMT and host both silent")
    return _stay(inc)


def _escalate(
    inc: Incident, health: Health, ctx: NodeContext, s: HealSettings, now: float
) -> Decision:
    """Pick the next rung: power on, power cycle, PXE re-provision, or quarantine."""
    if inc.attempts >= s.max_attempts:
        return _quarantine(inc, Fault.ATTEMPTS_EXHAUSTED, now, f"{inc.attempts} attempts")
    if now < inc.not_before:
        return _stay(inc)
    if not ctx.desired_power_on:
        # meant to be off, yet on and silent: power it off (its intended state) and stop
        # there; never a power-on, never a PXE reset that would boot it
        new = _move(inc, Phase.POWERING_OFF, now, attempts=inc.attempts + 1)
        reason = "host on but not answering, and meant to be off"
        return Decision(incident=new, action=ActionKind.POWER_OFF, event="power-off", reason=reason)
    return _next_rung(inc, health, ctx, s, now)


def _next_rung(
    inc: Incident, health: Health, ctx: NodeContext, s: HealSettings, now: float
) -> Decision:
    step = {"attempts": inc.attempts + 1}
    if health is Health.HOST_OFF:
        new = _move(inc, Phase.BOOTING, now, cycles=inc.cycles + 1, **step)
        return Decision(
            incident=new,
            action=ActionKind.POWER_ON,
            event="power-on",
            reason="host off but meant to be on",
        )
    if inc.cycles < s.cycle_retries:
        new = _move(inc, Phase.POWERING_OFF, now, cycles=inc.cycles + 1, **step)
        return Decision(
            incident=new,
            action=ActionKind.POWER_OFF,
            event="power-cycle",
            reason=f"power cycle {inc.cycles + 1} of {s.cycle_retries}",
        )
    if inc.pxes < s.pxe_retries:
        new = _move(inc, Phase.REPROVISIONING, now, pxes=inc.pxes + 1, **step)
        ider = ctx.reprovision is ReprovisionMethod.IDER
        action = ActionKind.IDER_REPROVISION if ider else ActionKind.PXE_REPROVISION
        return Decision(
            incident=new,
            action=action,
            event=action.value,
            reason=f"re-provision {inc.pxes + 1} of {s.pxe_retries} ({ctx.reprovision.value})",
        )
    reason = f"power cycles and re-provisioning ({ctx.reprovision.value}) did not help"
    return _quarantine(inc, Fault.REPROVISION_FAILED, now, reason)


def _on_powering_off(inc: Incident, t: _Tick) -> Decision:
    if t.obs.amt_reachable and t.obs.power_on is False:
        return _after_confirmed_off(inc, t)
    if t.now - inc.since >= t.s.power_off_confirm_s:
        return _quarantine(inc, Fault.POWER_FAILURE, t.now, "power-off never confirmed by AMT")
    return _stay(inc)


def _after_confirmed_off(inc: Incident, t: _Tick) -> Decision:
    """The power-off took: power on again (the cycle's second half), unless the node is meant
    to be off, in which case off is where it belongs and the incident ends without a power-on.

    A power-on that failed before came back here with a backoff and the attempt counted: it
    waits for ``not_before`` and obeys the attempt cap like every other action.
    """
    if not t.ctx.desired_power_on:
        closed = Incident(number=inc.number)
        return Decision(incident=closed, event="resolved", reason="off, as the power intent says")
    if inc.attempts >= t.s.max_attempts:
        return _quarantine(inc, Fault.ATTEMPTS_EXHAUSTED, t.now, f"{inc.attempts} attempts")
    if t.now < inc.not_before:
        return _stay(inc)
    return Decision(
        incident=_move(inc, Phase.BOOTING, t.now),
        action=ActionKind.POWER_ON,
        event="power-on",
        reason="power-off confirmed",
        continuation=True,
        retry=inc.failures > 0,
    )


def _on_booting(inc: Incident, t: _Tick) -> Decision:
    if not _is_bad(t.health):
        return Decision(incident=_move(inc, Phase.RECOVERED, t.now), event="recovered")
    if t.now - inc.since < t.s.boot_time_s:
        return _stay(inc)
    if t.health is Health.AMT_UNREACHABLE:
        return _hold_for_amt(inc, t.s, t.now)
    return _escalate(inc, t.health, t.ctx, t.s, t.now)


def _on_reprovisioning(inc: Incident, t: _Tick) -> Decision:
    reenrolled = t.obs.reenrolled_at is not None and t.obs.reenrolled_at >= inc.since
    if reenrolled and not _is_bad(t.health):
        new = _move(inc, Phase.RECOVERED, t.now)
        how = "IDER" if t.ctx.reprovision is ReprovisionMethod.IDER else "PXE"
        return Decision(incident=new, event="reenrolled", reason=f"re-provisioned by {how}")
    if t.now - inc.since < t.s.reprovision_timeout_s:
        return _stay(inc)
    if t.health is Health.AMT_UNREACHABLE:
        return _hold_for_amt(inc, t.s, t.now)
    if t.health is Health.AMT_ONLY_DOWN:
        # alive but not re-enrolled, and AMT silent: the next rung would be sent into the void;
        # wait for AMT, and leave it to a person if it stays silent
        overdue = t.now - inc.since - t.s.reprovision_timeout_s
        if overdue >= t.s.amt_unreachable_quarantine_s:
            return _quarantine(inc, Fault.AMT_UNREACHABLE, t.now, "AMT silent, re-provision due")
        return _stay(inc)
    return _escalate(inc, t.health, t.ctx, t.s, t.now)


def _on_recovered(inc: Incident, t: _Tick) -> Decision:
    if _is_bad(t.health):
        new = _move(inc, Phase.SUSPECT, t.now)
        return Decision(incident=new, event="relapse", reason=f"{t.health.value} again")
    if t.now - inc.since >= t.s.min_healthy_s:
        return Decision(incident=Incident(number=inc.number), event="resolved")
    return _stay(inc)


def _on_quarantined(inc: Incident, t: _Tick) -> Decision:
    if inc.fault is Fault.AMT_UNREACHABLE and t.obs.amt_reachable:
        return Decision(
            incident=Incident(number=inc.number), event="unquarantined", reason="AMT answers again"
        )
    return _stay(inc)


_Handler = Callable[[Incident, _Tick], Decision]
_HANDLERS: dict[Phase, _Handler] = {
    Phase.HEALTHY: _on_healthy,
    Phase.SUSPECT: _on_suspect,
    Phase.POWERING_OFF: _on_powering_off,
    Phase.BOOTING: _on_booting,
    Phase.REPROVISIONING: _on_reprovisioning,
    Phase.RECOVERED: _on_recovered,
    Phase.QUARANTINED: _on_quarantined,
}


def after_action(
    before: Incident,
    planned: Decision,
    outcome: Outcome,
    s: HealSettings,
    now: float,
    *,
    jitter: float,
) -> Decision:
    """The incident after carrying out ``planned.action`` with ``outcome``.

    ``before`` is the incident the plan started from; ``jitter`` in [0, 1) comes from the caller
    (randomness is I/O). A retryable failure goes back to ``before`` with a backoff and the
    attempt counted; fatal failures quarantine at once (never retried, MAAS-style).
    """
    if outcome is Outcome.DONE:
        return planned
    if outcome is Outcome.AUTH_FAILED:
        return _quarantine(before, Fault.AUTH_FAILED, now, "AMT rejected the credentials")
    if outcome is Outcome.UNSUPPORTED:
        return _quarantine(before, Fault.UNSUPPORTED, now, "AMT does not support the action")
    if outcome is Outcome.TLS_PIN_MISMATCH:
        reason = "AMT's TLS certificate does not match the pin"
        return _quarantine(before, Fault.TLS_PIN_MISMATCH, now, reason)
    failures = before.failures + 1
    delay = backoff_delay_s(failures, jitter=jitter, base_s=s.backoff_base_s, cap_s=s.backoff_cap_s)
    retry = dataclasses.replace(
        before, attempts=before.attempts + 1, failures=failures, not_before=now + delay
    )
    return Decision(incident=retry, event="action-failed", reason=f"retry in {delay:.0f} s")


def backoff_delay_s(failures: int, *, jitter: float, base_s: float, cap_s: float) -> float:
    """Capped exponential backoff minus up to 50 % jitter (Metal3 BMO's scheme)."""
    if failures <= 0:
        return 0.0
    raw = min(cap_s, base_s * 2 ** min(failures - 1, 62))
    return float(raw * (1.0 - 0.5 * min(max(jitter, 0.0), 1.0)))
