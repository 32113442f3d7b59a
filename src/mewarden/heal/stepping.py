"""One node's step: decide (pure ladder + guard rails), record the plan fenced, send the action.

:class:`Stepper` holds the per-node state a controller replica keeps between passes and the
logic that turns one observation into at most one action. :class:`~mewarden.heal.controller.
Controller` adds the passes, the leases and the confirmation lane around it.

Ordering that makes a kill safe: the incident's next phase is written (fenced by the node's
lease epoch, with its audit event) *before* the action is sent. A controller killed right after
acting leaves the node in ``powering-off`` or ``reprovisioning``, so the controller that takes
the lease over waits for the effect instead of repeating the action; one killed between the
write and the send leaves a phase whose deadline expires into quarantine, never a second action.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from mewarden.errors import LeaseLostError
from mewarden.heal.evidence import NO_AMT_FAULTS, EvidenceTaker
from mewarden.heal.metrics import HealMetrics
from mewarden.heal.probe import NodeIo, NodeTarget
from mewarden.heal.records import NodeRecord, record_to_json
from mewarden.policy.amt_watch import AmtChange, amt_change
from mewarden.policy.guards import (
    FleetView,
    GuardRule,
    TokenBucket,
    bucket_of,
    budget_rule,
    check_fleet,
    needs_budget,
)
from mewarden.policy.ladder import (
    IN_FLIGHT_PHASES,
    REPROVISION_ACTIONS,
    ActionKind,
    Decision,
    Incident,
    NodeContext,
    Observation,
    Outcome,
    Phase,
    after_action,
    next_step,
)
from mewarden.policy.settings import HealSettings
from mewarden.state import heal_store, leases
from mewarden.state.heal_store import Admission, BucketTake, EventSpec
from mewarden.state.store import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerOptions:
    """How this controller replica runs."""

    owner: str
    """Unique per replica: the lease owner and the actor of its events."""
    lease_ttl_s: float = 30.0
    dry_run: bool = False
    """Observe and decide, act on nothing and write nothing (no leases taken either)."""
    healthy_poll_s: float = 0.0
    """Re-probe a node that was healthy at its last probe only after this long (0: each pass).
    Trades detection of a *new* failure for probe load on big fleets; an incident's threshold
    is still checked on time by the confirmation lane."""
    claims_per_tick: int | None = None
    """New leases taken per pass (None: all free nodes). A limit lets replicas share nodes."""
    check_every_amt: bool = False
    """Read every live host's AMT at each pass (``heal once --check-amt``), not only at the
    node's slot in ``amt_check_interval_s``: for one-off passes, which have no slot window."""
    console_evidence_s: float = 0.0
    """Seconds of console (SOL) captured when a node whose AMT answers is quarantined, kept
    as ``console-capture`` documents (0: none; ``heal run`` captures by default)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReport:
    """What one node's step did this tick."""

    node: str
    phase: Phase
    event: str | None = None
    action: ActionKind | None = None
    result: str = ""
    """done / would / confirming / held-back:<rule> / lease-lost / a failure outcome."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """An action decided and recorded (fenced), about to be sent."""

    target: NodeTarget
    before: Incident
    decision: Decision
    report: StepReport


def report_of(target: NodeTarget, decision: Decision, *, result: str = "") -> StepReport:
    return StepReport(
        node=target.name,
        phase=decision.incident.phase,
        event=decision.event,
        action=decision.action,
        result=result,
        reason=decision.reason,
    )


class Stepper:
    """Per-node decisions and actions of one controller replica."""

    def __init__(
        self,
        store: Store,
        io: NodeIo,
        settings: HealSettings,
        options: ControllerOptions,
        *,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        metrics: HealMetrics | None = None,
    ) -> None:
        self.store, self.io, self.settings, self.options = store, io, settings, options
        self.clock, self.jitter = clock, jitter
        self.metrics = metrics or HealMetrics()
        self.leases: dict[str, leases.Lease] = {}
        self.latencies: list[float] = []
        """Seconds from the unhealthy threshold to the first action, per incident."""
        self.records: dict[str, NodeRecord] = {}
        """Heal state of the nodes this replica holds: authoritative while the lease holds,
        because only the lease holder writes it (an operator reset drops the lease)."""
        self.targets: dict[str, NodeTarget] = {}
        """The nodes this replica may heal, as of its latest pass."""
        self._seen: dict[str, tuple[float, Observation]] = {}
        """Latest reading of each held node (monotonic time of the reading)."""
        self._pass_view: FleetView | None = None
        """The fleet view a pass's decisions share (taken at its first reading)."""
        self._last_pass: float | None = None
        """When the previous pass began (wall clock): live hosts' AMT checks due since then."""
        self._others: dict[str, str] = {}
        """Phases other replicas stored for the nodes they hold, as of the latest pass."""
        self.dry_records: dict[str, NodeRecord] = {}
        """Dry run: what the decisions would have written (over the stored state)."""
        self._counts: dict[str, int] = {}
        self._enrolled: dict[str, float] = {}
        """When each target entered lifecycle enrolled (wall seconds), for the startup grace."""
        self._held_back: dict[str, str] = {}
        self.evidence = (
            EvidenceTaker(
                store,
                seconds=options.console_evidence_s,
                source=f"heal:{options.owner}",
                clock=clock,
            )
            if options.console_evidence_s > 0
            else None
        )
        self._busy: set[str] = set()
        """Nodes being probed for confirmation or acted on: no other step touches them."""
        self._due: list[tuple[float, str]] = []
        """Heap of (wall time, node): when a suspect's threshold passes, or now for an action
        a pass decided on a reading that must be confirmed by a fresh probe first."""
        self.log = structlog.get_logger("mewarden.heal").bind(controller=options.owner)

    def decide(
        self, target: NodeTarget, obs: Observation, view: FleetView, now: float, *, fresh: bool
    ) -> tuple[StepReport, Plan | None]:
        """The node's next step from ``obs`` taken at ``now``; a plan when an action is due.

        Only a ``fresh`` reading (a focused confirmation probe) may start a new action: a pass
        over thousands of nodes reads each one up to a pass earlier, and an overloaded pass can
        see a live host as dead. Continuations (power-on after a confirmed power-off) need not.
        """
        record = self._track_amt(target, self.records.get(target.name, NodeRecord()), obs)
        if obs.amt_reachable is None and record.amt_down:
            obs = dataclasses.replace(obs, amt_reachable=False)  # not asked: as last seen
        inc = record.incident
        if self._reenrolled(target.name, record, obs):
            obs = dataclasses.replace(obs, reenrolled_at=now)
        ctx = NodeContext(
            enrolled_at=target.enrolled_at,
            desired_power_on=target.power_on,
            reprovision=target.reprovision.method,
        )
        decision = next_step(inc, obs, ctx, self.settings, now)
        if decision.action is None:
            self._settle(target, record, decision, fresh=fresh, now=now)
            return report_of(target, decision), None
        unchanged = dataclasses.replace(report_of(target, decision), phase=inc.phase)
        if self.options.dry_run:
            self.log.info("would act", node=target.name, action=decision.action.value)
            return dataclasses.replace(unchanged, result="would"), None
        denied = check_fleet(
            decision.action,
            group=target.group,
            continuation=decision.continuation,
            view=view,
            settings=self.settings,
        )
        if denied is not None:
            self._held(target, decision, denied.rule.value, denied.reason)
            return dataclasses.replace(unchanged, result=f"held-back:{denied.rule.value}"), None
        if not fresh and not decision.continuation:
            heapq.heappush(self._due, (now, target.name))  # nothing spent yet: confirm first
            return dataclasses.replace(unchanged, result="confirming"), None
        return self._plan(target, record, decision)

    def _settle(
        self, target: NodeTarget, record: NodeRecord, decision: Decision, *, fresh: bool, now: float
    ) -> None:
        """Record a change that needs no action (suspect, cleared, quarantined, ...)."""
        inc = decision.incident
        threshold = inc.since + self.settings.unhealthy_after_s
        if fresh and inc.phase is Phase.SUSPECT and now < threshold:
            heapq.heappush(self._due, (threshold, target.name))  # answered early: ask again then
        if inc == record.incident and not decision.event:
            return
        self._write(target, dataclasses.replace(record, incident=inc), decision)
        if inc.phase is Phase.SUSPECT and record.incident.phase is not Phase.SUSPECT:
            # start the confirmation so that a timed-out probe ends at the threshold
            lead = float(getattr(self.io, "confirm_timeout_s", 0.0))
            heapq.heappush(self._due, (max(now, threshold - lead), target.name))
        if decision.event:
            log = self.log.bind(node=target.name, incident=inc.number)
            log.info(decision.event, reason=decision.reason)

    def _plan(
        self, target: NodeTarget, record: NodeRecord, decision: Decision
    ) -> tuple[StepReport, Plan | None]:
        action = decision.action
        assert action is not None
        base = self._counts.get(target.name) if action in REPROVISION_ACTIONS else None
        # the new phase starts when the action is sent, not when the probe began
        started = dataclasses.replace(decision.incident, since=self.clock())
        decision = dataclasses.replace(decision, incident=started)
        inc = record.incident
        admission = self._admission(inc, decision)
        failed = self._write(
            target,
            NodeRecord(incident=started, reenroll_base=base, amt_down=record.amt_down),
            decision,
            admission=admission,
        )
        if failed is not None:
            unchanged = dataclasses.replace(report_of(target, decision), phase=inc.phase)
            return dataclasses.replace(unchanged, result=failed), None
        self._held_back.pop(target.name, None)
        if inc.phase is Phase.SUSPECT:
            latency = max(0.0, started.since - (inc.since + self.settings.unhealthy_after_s))
            self.latencies.append(latency)
            self.metrics.detection_to_action.observe(latency)
        self._busy.add(target.name)
        report = report_of(target, decision)
        return report, Plan(target=target, before=inc, decision=decision, report=report)

    def _admission(self, before: Incident, decision: Decision) -> Admission | None:
        """The shared limits the action must fit in (None: a first-try continuation)."""
        action = decision.action
        assert action is not None
        if not needs_budget(continuation=decision.continuation, retry=decision.retry):
            return None
        s = self.settings
        pxe = action in REPROVISION_ACTIONS
        take = _bucket_take(
            rate_per_s=s.pxe_per_s if pxe else s.actions_per_s,
            capacity=s.pxe_burst if pxe else s.actions_burst,
            now=self.clock(),
        )
        starts = decision.incident.phase in IN_FLIGHT_PHASES
        starts = starts and before.phase not in IN_FLIGHT_PHASES and not decision.continuation
        return Admission(
            bucket=bucket_of(action),
            take=take,
            max_in_flight=s.max_in_flight if starts else None,
            in_flight_phases=frozenset(p.value for p in IN_FLIGHT_PHASES),
        )

    async def send(self, plan: Plan) -> StepReport:
        """Send a planned action; a failure moves the incident by :func:`after_action`."""
        target, decision = plan.target, plan.decision
        action = decision.action
        assert action is not None
        try:
            outcome, error = await self.io.act(target, action)
        finally:
            self._busy.discard(target.name)
        self.metrics.actions.labels(action.value, outcome.value).inc()
        log = self.log.bind(node=target.name, incident=decision.incident.number)
        log.info("action", action=action.value, outcome=outcome.value, reason=decision.reason)
        detail = {"action": action.value, "outcome": outcome.value}
        if error:
            detail["error"] = error
        if outcome is Outcome.DONE:
            heal_store.record_events(self.store, target.name, [("heal.action", detail)])
            return dataclasses.replace(plan.report, result="done")
        after = after_action(
            plan.before, decision, outcome, self.settings, self.clock(), jitter=self.jitter()
        )
        amt_down = self.records.get(target.name, NodeRecord()).amt_down
        record = NodeRecord(incident=after.incident, amt_down=amt_down)
        self._write(target, record, after, extra=[("heal.action", detail)])
        return report_of(target, after, result=outcome.value)

    @staticmethod
    def starts_flight(plan: Plan) -> int:
        """1 when the plan moves its node into a remediation in flight (for max_in_flight)."""
        into = plan.decision.incident.phase in IN_FLIGHT_PHASES
        return int(into and plan.before.phase not in IN_FLIGHT_PHASES)

    def _track_amt(self, target: NodeTarget, record: NodeRecord, obs: Observation) -> NodeRecord:
        """Record an AMT-only outage beginning or ending (one event each); never an action."""
        change = amt_change(record.amt_down, obs)
        if change is None:
            return record
        down = change is AmtChange.DOWN
        reason = "the host answers, AMT does not" if down else "AMT answers again"
        decision = Decision(incident=record.incident, event=change.value, reason=reason)
        updated = dataclasses.replace(record, amt_down=down)
        if self._write(target, updated, decision) is not None:
            return record  # lease lost: whoever holds the node records it
        self.log.bind(node=target.name).info(change.value, reason=reason)
        return updated

    def _reenrolled(self, name: str, record: NodeRecord, obs: Observation) -> bool:
        """The agent's re-enrolment count rose since the PXE re-provision was decided."""
        count = self._counts.get(name)
        base = record.reenroll_base
        waiting = record.incident.phase is Phase.REPROVISIONING and base is not None
        return waiting and obs.host_alive and count is not None and count > (base or 0)

    def _write(
        self,
        target: NodeTarget,
        record: NodeRecord,
        decision: Decision,
        *,
        extra: list[EventSpec] | None = None,
        admission: Admission | None = None,
    ) -> str | None:
        """Write the node's record and events, fenced; None when written, else the step's
        result: ``lease-lost`` or ``held-back:<rule>`` (the shared limits refused it)."""
        events: list[EventSpec] = list(extra or [])
        if decision.event:
            events.append((f"heal.{decision.event}", _detail(decision)))
        if self.options.dry_run:
            self.records[target.name] = self.dry_records[target.name] = record
            return None
        lease = self.leases.get(target.name)
        if lease is None:
            return "lease-lost"
        try:
            refused = heal_store.write_incident(
                self.store,
                lease,
                phase=record.incident.phase.value,
                body=record_to_json(record),
                events=events,
                admission=admission,
            )
        except LeaseLostError:
            self.log.warning("lease lost", node=target.name, epoch=lease.epoch)
            self.forget(target.name)
            return "lease-lost"
        if refused is not None:
            return self._refused(target, decision, refused)
        if decision.event:
            self.metrics.events.labels(decision.event).inc()
        self.records[target.name] = record
        if decision.event == "quarantined":
            self.on_quarantine(target, record)
        return None

    def on_quarantine(self, target: NodeTarget, record: NodeRecord) -> None:
        """Capture the console of a node quarantined while its AMT answers (evidence)."""
        fault = record.incident.fault
        if self.evidence is None or record.amt_down or fault in NO_AMT_FAULTS:
            return
        endpoint = getattr(self.io, "endpoint", None)
        if endpoint is not None:  # test doubles of the node I/O may have none
            self.evidence.take(target.name, endpoint(target))

    def _refused(self, target: NodeTarget, decision: Decision, refused: str) -> str:
        assert decision.action is not None
        if refused == "max-in-flight":
            rule, reason = GuardRule.MAX_IN_FLIGHT, "remediations in flight fleet-wide"
        else:
            rule, reason = (
                budget_rule(decision.action),
                f"{bucket_of(decision.action)} budget spent",
            )
        self._held(target, decision, rule.value, reason)
        return f"held-back:{rule.value}"

    def forget(self, name: str) -> None:
        """Drop what this replica knew of a node whose lease it no longer holds."""
        self.leases.pop(name, None)
        self.records.pop(name, None)
        self._held_back.pop(name, None)

    def _held(self, target: NodeTarget, decision: Decision, rule: str, reason: str) -> None:
        self.metrics.held_back.labels(rule).inc()
        if self._held_back.get(target.name) == rule:
            return  # recorded once per rule, not every pass
        self._held_back[target.name] = rule
        assert decision.action is not None
        detail = {"action": decision.action.value, "rule": rule, "reason": reason}
        heal_store.record_events(self.store, target.name, [("heal.held-back", detail)])
        self.log.bind(node=target.name).info("held back", rule=rule, reason=reason)


def _bucket_take(*, rate_per_s: float, capacity: float, now: float) -> BucketTake:
    """The token bucket's arithmetic (policy) over the stored values, at the injected time."""

    def take(tokens: float | None, updated_at: float | None) -> tuple[float, float] | None:
        bucket = TokenBucket(
            rate_per_s=rate_per_s,
            capacity=capacity,
            tokens=capacity if tokens is None else min(tokens, capacity),
            updated_at=now if updated_at is None else updated_at,
        )
        ok, after = bucket.try_take(now)
        return (after.tokens, after.updated_at) if ok else None

    return take


def _detail(decision: Decision) -> dict[str, Any]:
    inc: Incident = decision.incident
    detail: dict[str, Any] = {"incident": inc.number, "phase": inc.phase.value}
    if decision.action is not None:
        detail["action"] = decision.action.value
    if decision.reason:
        detail["reason"] = decision.reason
    if inc.fault is not None:
        detail["fault"] = inc.fault.value
    return detail
