"""Two and three controllers on one PostgreSQL database against 1,000 emulated nodes.

Random faults (hung hosts, hosts whose power control is broken, AMT outages); one controller is
killed half-way (its leases are not released). Every action is counted from the emulator's own
log: each incident got exactly the actions its ladder calls for, never one twice, and every
incident ended resolved or quarantined.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time

import pytest

from mewarden.emulate import EmulatedFleet
from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeIo
from mewarden.policy.ladder import Fault, Phase
from mewarden.state.db import migrate, open_engine
from mewarden.state.store import Store
from tests.heal.harness import FAST, PASSWORD, power_requests, record, register
from tests.state.conftest import PG_BIN, PgCluster
from tests.support import missing

NODES = int(os.environ.get("MEWARDEN_HEAL_REPLICA_NODES", "1000"))
SETTINGS = dataclasses.replace(
    FAST, actions_burst=200, actions_per_s=100.0, max_in_flight=200, power_off_confirm_s=2.0
)
EXPECTED = {"hung": ["8", "2"], "power-broken": ["8"], "amt-out": []}


def _faults(fleet: EmulatedFleet, names: list[str], seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    chosen = rng.sample(range(len(names)), k=max(6, len(names) // 30))
    faults: dict[str, str] = {}
    for i, index in enumerate(chosen):
        kind = ("hung", "hung", "power-broken", "amt-out")[i % 4]
        address = fleet.devices[index].address
        fleet.inject_fault(address, "hang-host")
        if kind == "power-broken":
            fleet.inject_fault(address, "ignore-power")
        if kind == "amt-out":
            fleet.inject_fault(address, "amt-unreachable")
        faults[names[index]] = kind
    return faults


def _settled(store: Store, faults: dict[str, str]) -> bool:
    for name, kind in faults.items():
        phase = record(store, name).incident.phase
        want = Phase.HEALTHY if kind == "hung" else Phase.QUARANTINED
        if phase is not want or (kind == "hung" and record(store, name).incident.number == 0):
            return False
    return True


async def _replicas(url: str, replicas: int) -> None:
    engine = open_engine(url)
    migrate(engine)
    store = Store(engine, actor="test")
    async with EmulatedFleet.start(
        nodes=NODES, base_ip=None, password=PASSWORD, boot_time_s=0.2
    ) as fleet:
        names = register(store, fleet)
        controllers = []
        for i in range(replicas):
            io = NodeIo(lambda _n: fleet.password, timeout_s=1.0)
            options = ControllerOptions(
                owner=f"ctl-{i}", lease_ttl_s=6.0, claims_per_tick=200, healthy_poll_s=2.0
            )
            own = Store(open_engine(url), actor=f"ctl-{i}")
            controllers.append(Controller(own, io, SETTINGS, options))
        for _ in range(10):  # each replica claims up to claims_per_tick new nodes per pass
            await asyncio.gather(*(c.tick() for c in controllers))
            held = [len(c.leases) for c in controllers]
            if sum(held) == NODES:
                break
        assert sum(held) == NODES
        assert min(held) > 0  # the replicas share the nodes
        faults = _faults(fleet, names, seed=replicas)
        deadline = time.monotonic() + 150
        killed = False
        while not _settled(store, faults):
            assert time.monotonic() < deadline, "incidents did not settle"
            await asyncio.gather(*(c.tick() for c in controllers))
            if not killed and any(power_requests(fleet, d.address) for d in fleet.devices):
                await controllers.pop(0).close(release=False)  # killed mid-ladder
                killed = True
        for c in controllers:
            await c.close()
        by_name = {n: fleet.devices[i].address for i, n in enumerate(names)}
        for name in names:
            got = power_requests(fleet, by_name[name])
            assert got == EXPECTED[faults[name]] if name in faults else got == [], name
        for name, kind in faults.items():
            fault = record(store, name).incident.fault
            want = {
                "hung": None,
                "power-broken": Fault.POWER_FAILURE,
                "amt-out": Fault.AMT_UNREACHABLE,
            }
            assert fault is want[kind], name
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [2, 3])
def test_replicas_on_postgresql_never_duplicate_an_action(
    replicas: int, pg_cluster: PgCluster | None
) -> None:
    if pg_cluster is None:
        missing(f"PostgreSQL server binaries not found in {PG_BIN} (package postgresql)")
    assert pg_cluster is not None
    asyncio.run(_replicas(pg_cluster.new_database(), replicas))
