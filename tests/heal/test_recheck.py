"""A dead reading from an overloaded pass is re-checked before any host action is sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import AgentReport, NodeTarget
from mewarden.policy.ladder import ActionKind, Observation, Outcome
from mewarden.state.models import Lifecycle, NodeSpec, Policy
from tests.heal.harness import FAST, sqlite_store


class _SlowPassIo:
    """Every pass says host "a" is dead; a fresh probe just before acting may find it alive."""

    def __init__(self, *, alive_on_recheck: bool) -> None:
        self.alive_on_recheck = alive_on_recheck
        self.actions: list[ActionKind] = []

    async def observe(self, node: NodeTarget) -> tuple[Observation, int | None]:
        dead = node.name == "a"
        return Observation(host_alive=not dead, amt_reachable=True, power_on=True), None

    async def agent(self, node: NodeTarget) -> AgentReport:
        return AgentReport(alive=self.alive_on_recheck)

    async def act(self, node: NodeTarget, action: ActionKind) -> tuple[Outcome, str]:
        self.actions.append(action)
        return Outcome.DONE, ""

    async def aclose(self) -> None:
        return None


def _run(tmp_path: Path, *, alive_on_recheck: bool) -> list[ActionKind]:
    store = sqlite_store(tmp_path)
    for name in ("a", "b", "c"):
        store.add_node(NodeSpec(name=name, policy=Policy.USE, amt_host="127.0.0.9"))
        store.set_lifecycle(name, Lifecycle.ENROLLED)
    io = _SlowPassIo(alive_on_recheck=alive_on_recheck)
    ctl = Controller(store, io, FAST, ControllerOptions(owner="t"))  # type: ignore[arg-type]

    async def passes() -> None:
        for _ in range(12):
            await ctl.tick()
            await asyncio.sleep(0.1)
        await ctl.close()

    asyncio.run(passes())
    return io.actions


def test_alive_on_recheck_means_no_action(tmp_path: Path) -> None:
    assert _run(tmp_path, alive_on_recheck=False) == [ActionKind.POWER_OFF]
    assert _run(tmp_path / "again", alive_on_recheck=True) == []
