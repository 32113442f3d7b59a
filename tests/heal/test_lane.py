"""Timing of detection: each pass reading is used when it arrives, stamped when it completed,
and a confirmation batch that waits on hung hosts does not hold up the next one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeTarget
from mewarden.policy.ladder import ActionKind, Observation, Outcome, Phase
from mewarden.state.models import Lifecycle, NodeSpec, Policy
from mewarden.state.store import Store
from tests.heal.harness import FAST, sqlite_store

DEAD = Observation(host_alive=False, amt_reachable=True, power_on=True)
ALIVE = Observation(host_alive=True, amt_reachable=True, power_on=True)


class _GatedIo:
    """Hosts a and b read dead, the others alive; a probe waits first on its node's gate."""

    def __init__(self) -> None:
        self.pass_gates: dict[str, asyncio.Event] = {}
        self.confirm_gates: dict[str, asyncio.Event] = {}
        self.confirm_started: dict[str, float] = {}
        self.on_pass_read: dict[str, float] = {}
        """Seconds the injected clock moves while that node's pass probe runs."""
        self.clock = [time.time() + 1.0]
        self.actions: list[tuple[str, ActionKind]] = []

    async def observe(
        self, node: NodeTarget, *, urgent: bool = False, check_amt: bool = False
    ) -> tuple[Observation, int | None]:
        if urgent:
            self.confirm_started.setdefault(node.name, time.monotonic())
            gate = self.confirm_gates.get(node.name)
        else:
            self.clock[0] += self.on_pass_read.get(node.name, 0.0)
            gate = self.pass_gates.get(node.name)
        if gate is not None:
            await gate.wait()
        return (DEAD if node.name in ("a", "b") else ALIVE), None

    async def act(self, node: NodeTarget, action: ActionKind) -> tuple[Outcome, str]:
        self.actions.append((node.name, action))
        return Outcome.DONE, ""

    async def aclose(self) -> None:
        return None


def _org(tmp_path: Path, dead: tuple[str, ...]) -> Store:
    """The dead nodes and six live ones (two dead of eight stay within the storm guard)."""
    store = sqlite_store(tmp_path)
    for name in dead + tuple(f"live{i}" for i in range(6)):
        store.add_node(NodeSpec(name=name, policy=Policy.USE, amt_host="127.0.0.9"))
        store.set_lifecycle(name, Lifecycle.ENROLLED)
    return store


def _controller(store: Store, io: _GatedIo, *, real_clock: bool = False) -> Controller:
    clock = time.time if real_clock else (lambda: io.clock[0])
    options = ControllerOptions(owner="t")
    return Controller(store, io, FAST, options, clock=clock)  # type: ignore[arg-type]


def test_a_pass_reading_is_stamped_when_it_completed(tmp_path: Path) -> None:
    io = _GatedIo()
    io.on_pass_read = {"a": 5.0}  # the probe of a took 5 s (say, a loaded pass)
    ctl = _controller(_org(tmp_path, ("a",)), io)
    start = io.clock[0]

    async def one_pass() -> None:
        await ctl.tick()
        await ctl.close()

    asyncio.run(one_pass())
    incident = ctl.records["a"].incident
    assert incident.phase is Phase.SUSPECT
    assert incident.since == start + 5.0  # not the pass's start: seen dead from then on


def test_a_pass_decides_each_node_before_the_slowest_probe_ends(tmp_path: Path) -> None:
    io = _GatedIo()
    slow = io.pass_gates["b"] = asyncio.Event()
    ctl = _controller(_org(tmp_path, ("a", "b")), io)
    phases: list[Phase | None] = []

    async def scenario() -> None:
        running = asyncio.create_task(ctl.tick())
        for _ in range(500):  # bounded (5 s): a's reading needs a few loop turns, more if loaded
            await asyncio.sleep(0.01)
            if "a" in ctl.records:
                break
        record = ctl.records.get("a")
        phases.append(record.incident.phase if record else None)
        slow.set()
        await running
        await ctl.close()

    asyncio.run(scenario())
    assert phases == [Phase.SUSPECT]  # recorded while b's probe was still out
    assert ctl.records["b"].incident.phase is Phase.SUSPECT


def test_a_blocked_confirmation_batch_does_not_delay_the_next(tmp_path: Path) -> None:
    io = _GatedIo()
    hung = io.confirm_gates["a"] = asyncio.Event()
    late = io.pass_gates["b"] = asyncio.Event()
    ctl = _controller(_org(tmp_path, ("a", "b")), io, real_clock=True)
    seen: dict[str, bool] = {}

    async def scenario() -> None:
        running = asyncio.create_task(ctl.run(interval_s=60.0, max_ticks=1))
        await asyncio.sleep(0.3)  # b's first dead reading comes 0.3 s after a's
        late.set()
        deadline = time.monotonic() + 5.0
        while "b" not in io.confirm_started and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        seen["b confirmed while a's batch hangs"] = "b" in io.confirm_started
        seen["a's batch still hangs"] = not hung.is_set()
        hung.set()
        deadline = time.monotonic() + 5.0
        while len(io.actions) < 2 and time.monotonic() < deadline:  # a acts once released
            await asyncio.sleep(0.02)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await ctl.close()

    asyncio.run(scenario())
    assert seen == {"b confirmed while a's batch hangs": True, "a's batch still hangs": True}
    assert io.confirm_started["b"] - io.confirm_started["a"] >= 0.25  # two batches, not one
    assert sorted(io.actions) == [("a", ActionKind.POWER_OFF), ("b", ActionKind.POWER_OFF)]
