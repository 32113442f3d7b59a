"""The heal controller: claim leases -> observe -> next_step -> guards -> act (fenced) -> record.

One :meth:`Controller.tick` is one pass over the ``use``-policy, enrolled nodes this controller
holds the lease of. The decision logic is the pure ladder (:mod:`mewarden.policy.ladder`) and
guard rails (:mod:`mewarden.policy.guards`); this shell only does I/O around them.

The new incident is written (fenced by the node's lease epoch, with its audit event) *before*
the action is sent: a controller killed right after acting leaves the node in the next phase
(``powering-off``, ``reprovisioning``), so the controller that takes the lease over waits for
the effect instead of repeating the action. A controller killed between the write and the
action leaves a phase whose deadline expires, which ends in quarantine: never a second action.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from mewarden.errors import LeaseLostError
from mewarden.heal.metrics import HealMetrics
from mewarden.heal.probe import NodeIo, NodeTarget
from mewarden.heal.records import NodeRecord, record_from_json, record_to_json
from mewarden.policy.guards import FleetView, GroupHealth, RateBudgets, check_guards
from mewarden.policy.ladder import (
    IN_FLIGHT_PHASES,
    ActionKind,
    Decision,
    Incident,
    NodeContext,
    Observation,
    Outcome,
    Phase,
    after_action,
    classify,
    next_step,
)
from mewarden.policy.settings import HealSettings
from mewarden.state import heal_store, leases
from mewarden.state.heal_store import EventSpec
from mewarden.state.models import Lifecycle, Node, Policy
from mewarden.state.store import Store

_UNHEALTHY_PHASES = frozenset(Phase) - {Phase.HEALTHY, Phase.RECOVERED}
_BAD = frozenset({"host-dead", "host-off", "amt-unreachable"})


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
    Trades detection latency for probe load on big fleets."""
    claims_per_tick: int | None = None
    """New leases taken per pass (None: all free nodes). A limit lets replicas share nodes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReport:
    """What one node's step did this tick."""

    node: str
    phase: Phase
    event: str | None = None
    action: ActionKind | None = None
    result: str = ""
    """done / would / held-back:<rule> / lease-lost / a failure outcome; empty: no action."""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TickReport:
    """One controller pass."""

    paused: bool
    leases: int
    steps: tuple[StepReport, ...] = ()


def target_of(node: Node) -> NodeTarget | None:
    """A node the controller may heal: policy use, enrolled, with an AMT address."""
    if node.effective_policy is not Policy.USE or node.lifecycle is not Lifecycle.ENROLLED:
        return None
    if not node.amt_host:
        return None
    return NodeTarget(
        name=node.name,
        group=node.group or "",
        amt_host=node.amt_host,
        amt_port=node.amt_port,
        amt_tls=node.amt_tls,
        amt_username=node.amt_username or "admin",
        tls_pin=node.tls_pin,
        agent_address=node.agent_address,
        enrolled_at=node.created_at.timestamp(),
    )


class Controller:
    """One controller replica over one org database."""

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
        self.budgets = RateBudgets.initial(settings, clock())
        self.latencies: list[float] = []
        """Seconds from the unhealthy threshold to the first action, per incident."""
        self._counts: dict[str, int] = {}
        self._seen: dict[str, tuple[float, tuple[Observation, int | None]]] = {}
        self._held_back: dict[str, str] = {}
        self._dry: dict[str, NodeRecord] = {}
        self.log = structlog.get_logger("mewarden.heal").bind(controller=options.owner)

    # --- the pass -----------------------------------------------------------------------------

    async def tick(self) -> TickReport:
        """One pass: leases, observations, decisions, guarded actions, events."""
        started = time.perf_counter()
        self.metrics.ticks.inc()
        if heal_store.paused(self.store) is not None:
            self.metrics.paused.set(1)
            return TickReport(paused=True, leases=len(self.leases))
        self.metrics.paused.set(0)
        nodes = self.store.nodes()
        targets = {t.name: t for n in nodes if (t := target_of(n)) is not None}
        held = self._hold_leases(targets, {n.name: n.lease_owner for n in nodes})
        records = self._records()
        now = self.clock()  # when the probes start: judge what they see at that moment
        observed = await self._observe(held, records)
        view = self._view(targets, records, {n: o for n, (o, _) in observed.items()})
        steps = []
        for target in held:
            record = records.get(target.name, NodeRecord())
            step, moved = await self._step(target, record, observed[target.name][0], view, now)
            steps.append(step)
            view = dataclasses.replace(view, in_flight=view.in_flight + moved)
        self._gauge(steps)
        self.metrics.tick_seconds.observe(time.perf_counter() - started)
        return TickReport(paused=False, leases=len(self.leases), steps=tuple(steps))

    async def run(self, *, interval_s: float, max_ticks: int | None = None) -> int:
        """Tick every ``interval_s`` until cancelled or ``max_ticks`` passes; returns the count."""
        done = 0
        while max_ticks is None or done < max_ticks:
            began = time.monotonic()
            await self.tick()
            done += 1
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - began)))
        return done

    async def close(self, *, release: bool = True) -> None:
        """Give the leases back (unless ``release`` is False) and close connections."""
        if release:
            for lease in list(self.leases.values()):
                with contextlib.suppress(LeaseLostError):
                    leases.release(self.store, lease)
        self.leases.clear()
        await self.io.aclose()

    # --- leases, state, observations -----------------------------------------------------------

    def _hold_leases(
        self, targets: Mapping[str, NodeTarget], owners: Mapping[str, str | None]
    ) -> list[NodeTarget]:
        if self.options.dry_run:
            return list(targets.values())
        ttl = timedelta(seconds=self.options.lease_ttl_s)
        renewed = heal_store.renew_all(self.store, self.options.owner, ttl) if self.leases else {}
        for name, lease in list(self.leases.items()):
            if renewed.get(name) != lease.epoch:
                self.log.warning("lease lost", node=name, epoch=lease.epoch)
                del self.leases[name]
            elif name not in targets:
                with contextlib.suppress(LeaseLostError):
                    leases.release(self.store, lease)
                del self.leases[name]
        room = self.options.claims_per_tick
        # free-looking nodes first; nodes owned elsewhere are claimable once their lease expired
        order = sorted(
            (n for n in targets if n not in self.leases), key=lambda n: owners.get(n) is not None
        )
        claiming_until = time.monotonic() + self.options.lease_ttl_s / 3
        for name in order:
            # bounded, so the first claims do not expire before this pass ends (10,000 nodes)
            if (room is not None and room <= 0) or time.monotonic() > claiming_until:
                break
            got = leases.claim(self.store, name, self.options.owner, ttl)
            if got is not None:
                self.leases[name] = got
                room = None if room is None else room - 1
        self.metrics.leases.set(len(self.leases))
        return [targets[n] for n in sorted(self.leases) if n in targets]

    def _records(self) -> dict[str, NodeRecord]:
        stored = heal_store.load_incidents(self.store)
        records = {name: record_from_json(body) for name, body in stored.items()}
        records.update(self._dry)
        return records

    async def _observe(
        self, held: list[NodeTarget], records: Mapping[str, NodeRecord]
    ) -> dict[str, tuple[Observation, int | None]]:
        now = time.monotonic()
        due = [t for t in held if self._due(t.name, records.get(t.name), now)]
        results = await asyncio.gather(*(self.io.observe(t) for t in due))
        for target, result in zip(due, results, strict=True):
            self._seen[target.name] = (now, result)
            if result[1] is not None:
                self._counts[target.name] = result[1]
        return {t.name: self._seen[t.name][1] for t in held}

    def _due(self, name: str, record: NodeRecord | None, now: float) -> bool:
        seen = self._seen.get(name)
        if seen is None or self.options.healthy_poll_s <= 0:
            return True
        calm = record is None or record.incident.phase is Phase.HEALTHY
        return not (calm and seen[1][0].host_alive) or now - seen[0] >= self.options.healthy_poll_s

    def _view(
        self,
        targets: Mapping[str, NodeTarget],
        records: Mapping[str, NodeRecord],
        observed: Mapping[str, Observation],
    ) -> FleetView:
        totals: Counter[str] = Counter()
        unhealthy: Counter[str] = Counter()
        for name, target in targets.items():
            totals[target.group] += 1
            obs = observed.get(name)
            if obs is not None:
                bad = classify(obs, NodeContext(enrolled_at=target.enrolled_at)).value in _BAD
            else:
                bad = name in records and records[name].incident.phase in _UNHEALTHY_PHASES
            unhealthy[target.group] += int(bad)
        groups = {g: GroupHealth(total=totals[g], unhealthy=unhealthy[g]) for g in totals}
        unreachable = sum(1 for o in observed.values() if not o.host_alive and not o.amt_reachable)
        in_flight = sum(
            1
            for name, r in records.items()
            if name in targets and r.incident.phase in IN_FLIGHT_PHASES
        )
        return FleetView(
            groups=groups, probed=len(observed), unreachable=unreachable, in_flight=in_flight
        )

    def _gauge(self, steps: list[StepReport]) -> None:
        counts = Counter(s.phase for s in steps)
        for phase in Phase:
            self.metrics.phases.labels(phase.value).set(counts.get(phase, 0))

    # --- one node -------------------------------------------------------------------------------

    async def _step(
        self, target: NodeTarget, record: NodeRecord, obs: Observation, view: FleetView, now: float
    ) -> tuple[StepReport, int]:
        inc = record.incident
        if self._reenrolled(target.name, record, obs):
            obs = dataclasses.replace(obs, reenrolled_at=now)
        decision = next_step(
            inc, obs, NodeContext(enrolled_at=target.enrolled_at), self.settings, now
        )
        log = self.log.bind(node=target.name, incident=decision.incident.number)
        if decision.action is None:
            if decision.incident != inc or decision.event:
                self._write(
                    target, dataclasses.replace(record, incident=decision.incident), decision
                )
                if decision.event:
                    log.info(decision.event, reason=decision.reason)
            return self._report(target, decision), 0
        if self.options.dry_run:
            log.info("would act", action=decision.action.value, reason=decision.reason)
            would = self._report(target, decision, result="would")
            return dataclasses.replace(would, phase=inc.phase), 0
        verdict, self.budgets = check_guards(
            decision.action,
            group=target.group,
            continuation=decision.continuation,
            view=view,
            budgets=self.budgets,
            settings=self.settings,
            now=now,
        )
        if not verdict.allowed:
            self._held(target, decision, verdict.rule.value, verdict.reason)
            held = self._report(target, decision, result=f"held-back:{verdict.rule.value}")
            return dataclasses.replace(held, phase=inc.phase), 0
        if not decision.continuation and (await self.io.agent(target)).alive:
            # the host answered a fresh probe: the dead reading came from a slow pass, not
            # the host; act on nothing (the next pass will see it healthy)
            log.info("recheck alive", action=decision.action.value)
            alive = self._report(target, decision, result="recheck-alive")
            return dataclasses.replace(alive, phase=inc.phase), 0
        return await self._act(target, record, decision, now)

    def _reenrolled(self, name: str, record: NodeRecord, obs: Observation) -> bool:
        """The agent's re-enrolment count rose since the PXE re-provision was decided."""
        count = self._counts.get(name)
        base = record.reenroll_base
        waiting = record.incident.phase is Phase.REPROVISIONING and base is not None
        return waiting and obs.host_alive and count is not None and count > (base or 0)

    async def _act(
        self, target: NodeTarget, record: NodeRecord, decision: Decision, now: float
    ) -> tuple[StepReport, int]:
        action = decision.action
        assert action is not None
        inc = record.incident
        self._held_back.pop(target.name, None)
        base = self._counts.get(target.name) if action is ActionKind.PXE_REPROVISION else None
        # the new phase starts when the action is sent, not when this pass began probing
        started = dataclasses.replace(decision.incident, since=self.clock())
        decision = dataclasses.replace(decision, incident=started)
        planned = NodeRecord(incident=started, reenroll_base=base)
        if not self._write(target, planned, decision):
            return self._report(target, decision, result="lease-lost"), 0
        if inc.phase is Phase.SUSPECT:
            latency = max(0.0, started.since - (inc.since + self.settings.unhealthy_after_s))
            self.latencies.append(latency)
            self.metrics.detection_to_action.observe(latency)
        outcome, error = await self.io.act(target, action)
        self.metrics.actions.labels(action.value, outcome.value).inc()
        log = self.log.bind(node=target.name, incident=decision.incident.number)
        log.info("action", action=action.value, outcome=outcome.value, reason=decision.reason)
        detail = {"action": action.value, "outcome": outcome.value}
        if error:
            detail["error"] = error
        if outcome is Outcome.DONE:
            heal_store.record_events(self.store, target.name, [("heal.action", detail)])
            moved = int(
                decision.incident.phase in IN_FLIGHT_PHASES and inc.phase not in IN_FLIGHT_PHASES
            )
            return self._report(target, decision, result="done"), moved
        after = after_action(
            inc, decision, outcome, self.settings, self.clock(), jitter=self.jitter()
        )
        self._write(
            target, NodeRecord(incident=after.incident), after, extra=[("heal.action", detail)]
        )
        return self._report(target, after, result=outcome.value), 0

    def _write(
        self,
        target: NodeTarget,
        record: NodeRecord,
        decision: Decision,
        *,
        extra: list[EventSpec] | None = None,
    ) -> bool:
        events: list[EventSpec] = list(extra or [])
        if decision.event:
            self.metrics.events.labels(decision.event).inc()
            events.append((f"heal.{decision.event}", self._detail(decision)))
        if self.options.dry_run:
            self._dry[target.name] = record
            return True
        lease = self.leases.get(target.name)
        if lease is None:
            return False
        try:
            heal_store.write_incident(
                self.store,
                lease,
                phase=record.incident.phase.value,
                body=record_to_json(record),
                events=events,
            )
        except LeaseLostError:
            self.log.warning("lease lost", node=target.name, epoch=lease.epoch)
            self.leases.pop(target.name, None)
            return False
        return True

    def _held(self, target: NodeTarget, decision: Decision, rule: str, reason: str) -> None:
        self.metrics.held_back.labels(rule).inc()
        if self._held_back.get(target.name) == rule:
            return  # recorded once per rule, not every tick
        self._held_back[target.name] = rule
        assert decision.action is not None
        detail = {"action": decision.action.value, "rule": rule, "reason": reason}
        heal_store.record_events(self.store, target.name, [("heal.held-back", detail)])
        self.log.bind(node=target.name).info("held back", rule=rule, reason=reason)

    @staticmethod
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

    @staticmethod
    def _report(target: NodeTarget, decision: Decision, *, result: str = "") -> StepReport:
        return StepReport(
            node=target.name,
            phase=decision.incident.phase,
            event=decision.event,
            action=decision.action,
            result=result,
            reason=decision.reason,
        )
