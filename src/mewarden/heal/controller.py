"""The heal controller: claim leases -> observe -> decide -> guards -> act (fenced) -> record.

One :meth:`Controller.tick` is one pass over the ``use``-policy, enrolled nodes this replica
holds the lease of. The decision logic is the pure ladder (:mod:`mewarden.policy.ladder`) and
guard rails (:mod:`mewarden.policy.guards`); :mod:`mewarden.heal.stepping` applies them to one
node. This shell only does I/O around them.

Detection latency does not depend on the fleet's size: a pass over 10,000 nodes takes seconds,
so a pass only *notices* failures. When a suspect's ``unhealthy_after_s`` has passed, or a pass
wants to start an action, the node goes on a due-heap and the **confirmation lane** re-probes
just those nodes with a fresh, focused probe and acts on that reading. :meth:`Controller.run`
keeps the lane running between and during passes; :meth:`tick` drains what is due at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import heapq
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import timedelta

from mewarden.errors import LeaseLostError, MewardenError
from mewarden.heal.probe import NodeTarget
from mewarden.heal.records import NodeRecord, record_from_json
from mewarden.heal.stepping import ControllerOptions, Plan, Stepper, StepReport
from mewarden.policy.amt_watch import amt_check_due
from mewarden.policy.guards import FleetView, GroupHealth
from mewarden.policy.ladder import (
    IN_FLIGHT_PHASES,
    Fault,
    NodeContext,
    Observation,
    Phase,
    classify,
)
from mewarden.policy.reprovision import PXE_DEFAULT, Reprovision, Scope, resolve
from mewarden.state import heal_store, leases, reprovision
from mewarden.state.models import Lifecycle, Node, Policy

__all__ = ["Controller", "ControllerOptions", "StepReport", "TickReport", "target_of"]

_UNHEALTHY = frozenset(p.value for p in Phase) - {Phase.HEALTHY.value, Phase.RECOVERED.value}
_BAD = frozenset({"host-dead", "host-off", "amt-unreachable"})
_IN_FLIGHT = frozenset(p.value for p in IN_FLIGHT_PHASES)
_LANE_POLL_S = 0.05
"""Longest the lane sleeps before looking at the due-heap again (a new entry may be sooner)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TickReport:
    """One controller pass."""

    paused: bool
    leases: int
    steps: tuple[StepReport, ...] = ()


def target_of(
    node: Node, methods: Mapping[tuple[Scope, str], Reprovision] | None = None
) -> NodeTarget | None:
    """A node the controller may heal: policy use, enrolled, not in maintenance, with AMT.

    ``methods``: the stored re-provision settings (none given: PXE)."""
    if node.effective_policy is not Policy.USE or node.lifecycle is not Lifecycle.ENROLLED:
        return None
    if node.maintenance or not node.amt_host:
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
        enrolled_at=node.created_at.timestamp(),  # until the enrolment event is read
        power_on=node.desired_power_on,
        reprovision=resolve(node.name, node.group, methods) if methods else PXE_DEFAULT,
    )


class Controller(Stepper):
    """One controller replica over one org database."""

    # --- the pass -----------------------------------------------------------------------------

    async def tick(self) -> TickReport:
        """One pass: leases, observations, decisions, guarded actions, events."""
        started = time.perf_counter()
        self.metrics.ticks.inc()
        if heal_store.paused(self.store) is not None:
            self.metrics.paused.set(1)
            self._last_pass = self.clock()  # no burst of AMT checks due during the pause
            return TickReport(paused=True, leases=len(self.leases))
        self.metrics.paused.set(0)
        nodes = self.store.nodes()
        methods = reprovision.load_methods(self.store)
        targets = {t.name: t for n in nodes if (t := target_of(n, methods))}
        self.targets = self._with_enrolment(targets)
        held = self._hold_leases()
        self._load_state(held)
        now = self.clock()  # the AMT check window ends here (readings carry their own time)
        mono = time.monotonic()
        since, self._last_pass = self._last_pass, now
        every = self.options.check_every_amt
        amt = {t.name for t in held if every or self._amt_due(t.name, since, now)}
        urge = amt | self._stale_heartbeats(now)
        free = [
            t
            for t in held
            if t.name not in self._busy and (t.name in urge or self._poll_due(t.name, mono))
        ]
        steps = await self._pass(free, check_amt=amt)
        steps += await self.confirm_due()
        self._gauge(steps)
        self.metrics.tick_seconds.observe(time.perf_counter() - started)
        return TickReport(paused=False, leases=len(self.leases), steps=tuple(steps))

    async def run(self, *, interval_s: float, max_ticks: int | None = None) -> int:
        """Pass every ``interval_s``, the confirmation lane in between, until cancelled or
        ``max_ticks`` passes; returns the number of passes."""
        done = 0
        lane = asyncio.create_task(self._lane())
        try:
            while max_ticks is None or done < max_ticks:
                began = time.monotonic()
                await self.tick()
                done += 1
                if lane.done():
                    lane.result()  # a lane that died takes the controller down, loudly
                await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - began)))
        finally:
            lane.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lane
        return done

    async def close(self, *, release: bool = True) -> None:
        """Give the leases back (unless ``release`` is False) and close connections."""
        if release:
            for lease in list(self.leases.values()):
                with contextlib.suppress(LeaseLostError):
                    leases.release(self.store, lease)
        self.leases.clear()
        if self.evidence is not None:
            await self.evidence.aclose()
        await self.io.aclose()

    async def _pass(
        self, free: Sequence[NodeTarget], *, check_amt: AbstractSet[str]
    ) -> list[StepReport]:
        """Probe ``free`` and step each node as soon as its own reading is in.

        Waiting for the whole pass before deciding cost a 10,000-node fleet a pass's length
        (seconds) between a host's first dead reading and its suspect record, and stamped
        every reading with the pass's start, so a node read late in a pass seemed dead for
        longer than it had been seen to be. Each reading is now stamped when it completed
        (as the lane's are). A pass starts no new action (those go to the lane), so its
        decisions need no reading of the other nodes from this pass.
        """
        self._pass_view = None
        results = await asyncio.gather(
            *(self._pass_step(t, check_amt=t.name in check_amt) for t in free),
            return_exceptions=True,  # every step ends before a failure is raised
        )
        steps: list[StepReport] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            if result is not None:
                steps.append(result)
        return steps

    async def _pass_step(self, target: NodeTarget, *, check_amt: bool) -> StepReport | None:
        obs, count = await self.io.observe(target, check_amt=check_amt)
        now = self.clock()
        self._note(target.name, obs, count)
        if target.name in self._busy:
            return None  # the lane took the node while this probe ran: its step stands
        if self._pass_view is None:
            self._pass_view = self._fleet_view()
        step, plan = self.decide(target, obs, self._pass_view, now, fresh=False)
        if plan is None:
            return step
        self._pass_view = self._with_flight(self._pass_view, plan)
        return await self.send(plan)

    def _with_flight(self, view: FleetView, plan: Plan) -> FleetView:
        """``view`` counting ``plan``'s node as in flight if the plan puts it there."""
        return dataclasses.replace(view, in_flight=view.in_flight + self.starts_flight(plan))

    async def _advance_confirmed(
        self, items: Sequence[tuple[NodeTarget, Observation]], now: float
    ) -> list[StepReport]:
        """Decide every confirmed node in order (guards see the actions planned before it),
        then send the planned actions concurrently."""
        view = self._fleet_view()
        steps: list[StepReport] = []
        plans: list[tuple[int, Plan]] = []
        for target, obs in items:
            step, plan = self.decide(target, obs, view, now, fresh=True)
            if plan is not None:
                plans.append((len(steps), plan))
                view = self._with_flight(view, plan)
            steps.append(step)
        sent = await asyncio.gather(*(self.send(plan) for _, plan in plans))
        for (index, _), report in zip(plans, sent, strict=True):
            steps[index] = report
        return steps

    # --- the confirmation lane ---------------------------------------------------------------

    async def confirm_due(self) -> list[StepReport]:
        """Re-probe the nodes whose decision is due now and step them on that fresh reading.

        A reading is stamped when it completed: a probe that timed out says the host did not
        answer for the whole timeout, so the lane starts it one timeout before the threshold.
        """
        return await self._confirm(self._pop_due(self.clock()))

    async def _confirm(self, due: Sequence[NodeTarget]) -> list[StepReport]:
        if not due:
            return []
        self._busy.update(t.name for t in due)
        try:
            if heal_store.paused(self.store) is not None:
                return []
            observed = await self._observe_urgent(due)
        finally:
            self._busy.difference_update(t.name for t in due)
        now = self.clock()
        held = self._renew_before_acting(due)
        return await self._advance_confirmed([(t, observed[t.name]) for t in held], now)

    def _renew_before_acting(self, due: Sequence[NodeTarget]) -> list[NodeTarget]:
        """Extend the leases of the confirmed nodes: the fence refuses a write on an expired
        lease, and a confirmation probe may take a good part of a short TTL."""
        if self.options.dry_run:
            return list(due)
        ttl = timedelta(seconds=self.options.lease_ttl_s)
        kept = []
        for target in due:
            lease = self.leases.get(target.name)
            if lease is None:
                continue
            try:
                leases.renew(self.store, lease, ttl)
            except LeaseLostError:
                self.log.warning("lease lost", node=target.name, epoch=lease.epoch)
                self.forget(target.name)
                continue
            kept.append(target)
        return kept

    def _pop_due(self, now: float) -> list[NodeTarget]:
        names: dict[str, None] = {}
        while self._due and self._due[0][0] <= now:
            names[heapq.heappop(self._due)[1]] = None
        return [
            self.targets[n]
            for n in names
            if n in self.targets and n not in self._busy and self._holds(n)
        ]

    def _holds(self, name: str) -> bool:
        return self.options.dry_run or name in self.leases

    async def _lane(self) -> None:
        """Start each batch of due confirmations as soon as it is due, concurrently with the
        batches still probing: a batch takes a probe timeout (seconds) when its hosts hang,
        and waiting for it made every node due meanwhile that much later."""
        running: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []

        def finished(task: asyncio.Task[None], names: frozenset[str]) -> None:
            running.discard(task)
            if task.cancelled():  # perhaps before it began: its own cleanup never ran
                self._busy.difference_update(names)
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                failures.append(failure)

        try:
            while not failures:
                wait = _LANE_POLL_S
                if self._due:
                    wait = min(wait, max(0.0, self._due[0][0] - self.clock()))
                await asyncio.sleep(wait)
                due = self._pop_due(self.clock())  # before the next wake: batches are disjoint
                if due:
                    names = frozenset(t.name for t in due)
                    self._busy.update(names)  # from now: no pass step decides these nodes
                    task = asyncio.create_task(self._confirm_batch(due))
                    running.add(task)
                    task.add_done_callback(functools.partial(finished, names=names))
            raise failures[0]  # a batch that failed on a bug takes the controller down, loudly
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _confirm_batch(self, due: Sequence[NodeTarget]) -> None:
        try:
            await self._confirm(due)
        except MewardenError as exc:  # the org database hiccuped: the next round retries
            self.log.warning("confirmation lane", error=str(exc))

    # --- leases, state, observations -----------------------------------------------------------

    def _hold_leases(self) -> list[NodeTarget]:
        targets = self.targets
        if self.options.dry_run:
            return list(targets.values())
        ttl = timedelta(seconds=self.options.lease_ttl_s)
        renewed = heal_store.renew_all(self.store, self.options.owner, ttl) if self.leases else {}
        for name, lease in list(self.leases.items()):
            if renewed.get(name) != lease.epoch:
                self.log.warning("lease lost", node=name, epoch=lease.epoch)
                self.forget(name)
            elif name not in targets:
                with contextlib.suppress(LeaseLostError):
                    leases.release(self.store, lease)
                self.forget(name)
        self._claim(targets, ttl)
        self.metrics.leases.set(len(self.leases))
        return [targets[n] for n in sorted(self.leases) if n in targets]

    def _claim(self, targets: Mapping[str, NodeTarget], ttl: timedelta) -> None:
        """Claim the free leases among the targets not held yet: one conditional UPDATE."""
        wanted = [n for n in targets if n not in self.leases]
        room = self.options.claims_per_tick
        for lease in leases.claim_batch(self.store, wanted, self.options.owner, ttl, limit=room):
            self.leases[lease.node] = lease

    def _with_enrolment(self, targets: dict[str, NodeTarget]) -> dict[str, NodeTarget]:
        """Startup grace runs from enrolment (the ``node.lifecycle`` event), not from when the
        node was added; read once per node while it stays a target."""
        known = self._enrolled
        self._enrolled = {n: known[n] for n in targets if n in known}
        new = [n for n in targets if n not in self._enrolled]
        if new:
            found = heal_store.enrolled_times(self.store, new)
            for name in new:
                when = found.get(name)
                self._enrolled[name] = when.timestamp() if when else targets[name].enrolled_at
        return {
            n: dataclasses.replace(t, enrolled_at=self._enrolled[n]) for n, t in targets.items()
        }

    def _load_state(self, held: Sequence[NodeTarget]) -> None:
        """Read the heal state of newly held nodes (dry run: of all), and others' phases."""
        if self.options.dry_run:
            stored = heal_store.load_incidents(self.store)
            loaded = {n: record_from_json(b) for n, b in stored.items()}
            self.records = loaded | self.dry_records
        else:
            new = [t.name for t in held if t.name not in self.records]
            if new:
                stored = heal_store.load_incidents(self.store, new)
                for name in new:
                    body = stored.get(name)
                    self.records[name] = record_from_json(body) if body else NodeRecord()
        phases = heal_store.load_phases(self.store)
        self._others = {n: p for n, p in phases.items() if not self._holds(n)}

    def _poll_due(self, name: str, now: float) -> bool:
        """Probe this pass? Always, unless the node was calm and healthy very recently."""
        seen = self._seen.get(name)
        if seen is None or self.options.healthy_poll_s <= 0:
            return True
        record = self.records.get(name)
        calm = record is None or record.incident.phase is Phase.HEALTHY
        return not (calm and seen[1].host_alive) or now - seen[0] >= self.options.healthy_poll_s

    def _stale_heartbeats(self, now: float) -> set[str]:
        """Nodes whose pushed heartbeats stopped: probe them now, whatever ``healthy_poll_s``
        says. Only the probe can make a node suspect: a heartbeat (fresh, stale, forged or
        missing) neither causes nor prevents an action. Without ``healthy_poll_s`` every node
        is probed every pass anyway, so the query is skipped."""
        if self.options.healthy_poll_s <= 0:
            return set()
        return heal_store.stale_heartbeats(self.store, before=now - self.settings.heartbeat_stale_s)

    def _amt_due(self, name: str, since: float | None, now: float) -> bool:
        """Read a live host's AMT this pass? At its slot in each ``amt_check_interval_s``, and
        at every probe while the node is quarantined for AMT (that reading clears the fault)."""
        record = self.records.get(name)
        if record is not None and record.incident.fault is Fault.AMT_UNREACHABLE:
            return True
        return amt_check_due(name, since, now, self.settings.amt_check_interval_s)

    async def _observe_urgent(self, due: Sequence[NodeTarget]) -> dict[str, Observation]:
        """The lane's confirmation probes (outside the pass's concurrency limit)."""
        results = await asyncio.gather(*(self.io.observe(t, urgent=True) for t in due))
        observed: dict[str, Observation] = {}
        for target, (obs, count) in zip(due, results, strict=True):
            self._note(target.name, obs, count)
            observed[target.name] = obs
        return observed

    def _note(self, name: str, obs: Observation, count: int | None) -> None:
        self._seen[name] = (time.monotonic(), obs)
        if count is not None:
            self._counts[name] = count

    def _fleet_view(self) -> FleetView:
        """Group health and flight count from this replica's latest readings and records,
        and the phases other replicas stored for the nodes they hold."""
        totals: Counter[str] = Counter()
        unhealthy: Counter[str] = Counter()
        in_flight = unreachable = probed = 0
        for name, target in self.targets.items():
            totals[target.group] += 1
            held = self._holds(name)
            record = self.records.get(name) if held else None
            if held:
                phase = record.incident.phase.value if record else Phase.HEALTHY.value
            else:
                phase = self._others.get(name, Phase.HEALTHY.value)
            bad = phase in _UNHEALTHY
            seen = self._seen.get(name) if held else None
            if seen is not None:
                obs = seen[1]
                probed += 1
                unreachable += int(not obs.host_alive and not obs.amt_reachable)
                ctx = NodeContext(enrolled_at=target.enrolled_at, desired_power_on=target.power_on)
                bad = classify(obs, ctx).value in _BAD
            unhealthy[target.group] += int(bad)
            in_flight += int(phase in _IN_FLIGHT)
        groups = {g: GroupHealth(total=totals[g], unhealthy=unhealthy[g]) for g in totals}
        return FleetView(groups=groups, probed=probed, unreachable=unreachable, in_flight=in_flight)

    def _gauge(self, steps: list[StepReport]) -> None:
        counts = Counter(s.phase for s in steps)
        for phase in Phase:
            self.metrics.phases.labels(phase.value).set(counts.get(phase, 0))
