"""The rate budget and max_in_flight are fleet-wide: stored in org state, shared by replicas.

A restarted controller (``heal once`` in a loop, a crash loop) does not get a fresh budget, and
two replicas on one PostgreSQL database together send no more than one budget allows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeTarget
from mewarden.policy.ladder import ActionKind, Observation, Outcome
from mewarden.policy.settings import HealSettings
from mewarden.state import heal_store
from mewarden.state.db import migrate, open_engine
from mewarden.state.models import Lifecycle, NodeSpec, Policy
from mewarden.state.store import Store
from tests.heal.harness import FAST, sqlite_store
from tests.state.conftest import PG_BIN, PgCluster
from tests.support import missing

DEAD = frozenset({"n00", "n03", "n06", "n09"})
TIGHT = dataclasses.replace(FAST, actions_burst=2, actions_per_s=0.0001, max_in_flight=10)


class _HungIo:
    """Nodes in DEAD are on but silent (AMT answers); every action "succeeds" and changes
    nothing, so a powered-off node stays in powering-off; every action is logged."""

    def __init__(self, log: list[tuple[str, ActionKind]]) -> None:
        self.log = log

    async def observe(
        self, node: NodeTarget, *, urgent: bool = False, check_amt: bool = False
    ) -> tuple[Observation, int | None]:
        alive = node.name not in DEAD
        return Observation(host_alive=alive, amt_reachable=True, power_on=True), None

    async def act(self, node: NodeTarget, action: ActionKind) -> tuple[Outcome, str]:
        self.log.append((node.name, action))
        return Outcome.DONE, ""

    async def aclose(self) -> None:
        return None


def _nodes(store: Store, count: int = 12) -> None:
    for i in range(count):
        name = f"n{i:02d}"
        store.add_node(NodeSpec(name=name, policy=Policy.USE, amt_host="127.0.0.9"))
        store.set_lifecycle(name, Lifecycle.ENROLLED)


def _controller(
    store: Store,
    owner: str,
    log: list[tuple[str, ActionKind]],
    now: list[float],
    settings: HealSettings = TIGHT,
    **options: object,
) -> Controller:
    opts = ControllerOptions(owner=owner, **options)  # type: ignore[arg-type]
    own = Store(store.engine, actor=owner)
    return Controller(own, _HungIo(log), settings, opts, clock=lambda: now[0])  # type: ignore[arg-type]


async def _passes(controllers: list[Controller], now: list[float], count: int) -> None:
    for _ in range(count):
        now[0] += 1.0  # past FAST.unhealthy_after_s from one pass to the next
        for ctl in controllers:
            await ctl.tick()


def test_a_restarted_controller_does_not_get_a_fresh_budget(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    _nodes(store)
    log: list[tuple[str, ActionKind]] = []
    now = [time.time() + 1.0]

    async def scenario() -> None:
        for owner in ("once-1", "once-2", "once-3"):  # `heal once` three times in a row
            ctl = _controller(store, owner, log, now)
            await _passes([ctl], now, 3)
            await ctl.close()

    asyncio.run(scenario())
    assert len(log) == TIGHT.actions_burst
    tokens, _at = heal_store.load_budgets(store)["actions"]
    assert tokens is not None
    assert tokens < 1.0
    held = [e for e in store.events() if e.kind == "heal.held-back"]
    assert {e.detail["rule"] for e in held} == {"rate-limit"}


def test_max_in_flight_counts_every_replicas_flights(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    _nodes(store)
    log: list[tuple[str, ActionKind]] = []
    now = [time.time() + 1.0]
    roomy = dataclasses.replace(FAST, actions_burst=50, max_in_flight=1)

    async def scenario() -> None:
        replicas = [_controller(store, o, log, now, roomy, claims_per_tick=6) for o in ("a", "b")]
        for _ in range(4):  # concurrent passes: each replica's view of the other is stale
            now[0] += 1.0
            await asyncio.gather(*(ctl.tick() for ctl in replicas))
        for ctl in replicas:
            assert ctl.leases  # both replicas hold nodes
            await ctl.close()

    asyncio.run(scenario())
    assert len(log) == 1


def test_two_replicas_on_postgresql_share_one_budget(pg_cluster: PgCluster | None) -> None:
    if pg_cluster is None:
        missing(f"PostgreSQL server binaries not found in {PG_BIN} (package postgresql)")
    assert pg_cluster is not None
    engine = open_engine(pg_cluster.new_database())
    migrate(engine)
    store = Store(engine, actor="test")
    _nodes(store)
    log: list[tuple[str, ActionKind]] = []
    now = [time.time() + 1.0]

    async def scenario() -> None:
        replicas = [_controller(store, o, log, now, claims_per_tick=6) for o in ("a", "b")]
        for _ in range(4):
            now[0] += 1.0
            await asyncio.gather(*(ctl.tick() for ctl in replicas))
        holders = {n.lease_owner for n in store.nodes() if n.name in DEAD}
        assert holders == {"a", "b"}  # the dead nodes are split between the replicas
        for ctl in replicas:
            await ctl.close()

    asyncio.run(scenario())
    engine.dispose()
    assert len(log) == TIGHT.actions_burst  # one budget, not one per replica
