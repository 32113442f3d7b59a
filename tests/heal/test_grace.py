"""Startup grace runs from enrolment, not from when the node was added to org state."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeTarget
from mewarden.policy.ladder import ActionKind, Observation, Outcome, Phase
from mewarden.state.models import Lifecycle, NodeSpec, Policy
from tests.heal.harness import FAST, record, sqlite_store

GRACE = dataclasses.replace(FAST, startup_grace_s=600.0)


class _DeadIo:
    async def observe(
        self, node: NodeTarget, *, urgent: bool = False, check_amt: bool = False
    ) -> tuple[Observation, int | None]:
        return Observation(host_alive=False, amt_reachable=True, power_on=True), None

    async def act(self, node: NodeTarget, action: ActionKind) -> tuple[Outcome, str]:
        return Outcome.DONE, ""

    async def aclose(self) -> None:
        return None


def test_node_added_long_ago_but_just_enrolled_is_in_its_grace(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    real = datetime.now(UTC)
    store.clock = lambda: real - timedelta(days=2)  # registered two days ago ...
    for name in ("fresh", "old"):
        store.add_node(NodeSpec(name=name, policy=Policy.USE, amt_host="127.0.0.9"))
    store.set_lifecycle("old", Lifecycle.ENROLLED)  # ... "old" enrolled back then too,
    store.clock = lambda: real
    store.set_lifecycle("fresh", Lifecycle.ENROLLED)  # "fresh" only now
    now = [time.time() + 1.0]
    ctl = Controller(
        store,
        _DeadIo(),  # type: ignore[arg-type]
        GRACE,
        ControllerOptions(owner="t"),
        clock=lambda: now[0],
    )

    async def passes() -> None:
        for _ in range(2):
            await ctl.tick()
            now[0] += 1.0
        await ctl.close()

    asyncio.run(passes())
    assert ctl.targets["fresh"].enrolled_at >= real.timestamp() - 1
    assert record(store, "fresh").incident.phase is Phase.HEALTHY  # within its grace
    assert record(store, "old").incident.phase is not Phase.HEALTHY  # judged
