"""No new action rests on a pass's reading: a fresh, focused probe confirms it first.

A pass over thousands of nodes reads each one up to a pass before deciding, and an overloaded
pass can time out on a live host. The controller only starts an action on the reading of a
confirmation probe made for that node when its threshold passed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import AgentReport, NodeTarget
from mewarden.policy.ladder import ActionKind, Observation, Outcome
from mewarden.state.models import Lifecycle, NodeSpec, Policy
from tests.heal.harness import FAST, sqlite_store


class _ScriptedIo:
    """Host "a" reads dead for its first ``dead_reads`` probes, then alive; others alive."""

    def __init__(self, *, dead_reads: int) -> None:
        self.dead_reads = dead_reads
        self.reads: Counter[str] = Counter()
        self.actions: list[ActionKind] = []

    async def observe(
        self, node: NodeTarget, *, urgent: bool = False, check_amt: bool = False
    ) -> tuple[Observation, int | None]:
        self.reads[node.name] += 1
        dead = node.name == "a" and self.reads[node.name] <= self.dead_reads
        return Observation(host_alive=not dead, amt_reachable=True, power_on=True), None

    async def agent(self, node: NodeTarget) -> AgentReport:
        raise AssertionError("the controller confirms with observe(), not a bare agent probe")

    async def act(self, node: NodeTarget, action: ActionKind) -> tuple[Outcome, str]:
        self.actions.append(action)
        return Outcome.DONE, ""

    async def aclose(self) -> None:
        return None


def _run(tmp_path: Path, *, dead_reads: int) -> _ScriptedIo:
    store = sqlite_store(tmp_path)
    for name in ("a", "b", "c"):
        store.add_node(NodeSpec(name=name, policy=Policy.USE, amt_host="127.0.0.9"))
        store.set_lifecycle(name, Lifecycle.ENROLLED)
    io = _ScriptedIo(dead_reads=dead_reads)
    start = time.time() + 1.0  # after the nodes' enrolment (startup grace is 0)
    now = [start]
    options = ControllerOptions(owner="t")
    ctl = Controller(store, io, FAST, options, clock=lambda: now[0])  # type: ignore[arg-type]

    async def passes() -> None:
        # FAST.unhealthy_after_s is 0.6: the third pass is the first past the threshold
        for offset in (0.0, 0.3, 0.7):
            now[0] = start + offset
            await ctl.tick()
        await ctl.close()

    asyncio.run(passes())
    return io


def test_dead_on_confirmation_acts_once(tmp_path: Path) -> None:
    io = _run(tmp_path, dead_reads=99)
    assert io.actions == [ActionKind.POWER_OFF]


def test_alive_on_confirmation_means_no_action(tmp_path: Path) -> None:
    # dead in every pass, alive on the confirmation probe the third pass asked for
    io = _run(tmp_path, dead_reads=3)
    assert io.actions == []
    assert io.reads["a"] == 4


def test_pass_before_threshold_asks_for_no_confirmation(tmp_path: Path) -> None:
    io = _run(tmp_path, dead_reads=99)
    assert io.reads["a"] == 4  # three passes and exactly one confirmation
