"""Test harness: an org on SQLite (or PostgreSQL) whose use-policy nodes are emulated devices."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from mewarden.emulate import EmulatedFleet
from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeIo
from mewarden.heal.records import NodeRecord, record_from_json
from mewarden.policy.ladder import Phase
from mewarden.policy.settings import HealSettings
from mewarden.state import heal_store
from mewarden.state.db import migrate, open_engine
from mewarden.state.models import Event, Lifecycle, NodeSpec, Policy
from mewarden.state.store import Store

PASSWORD = "P@ssw0rd1"
BOOT_S = 0.2

FAST = HealSettings(
    unhealthy_after_s=0.6,
    startup_grace_s=0.0,
    power_off_confirm_s=3.0,
    boot_time_s=0.8,
    reprovision_timeout_s=3.0,
    min_healthy_s=1.0,
    amt_unreachable_quarantine_s=1.5,
    backoff_base_s=0.2,
    backoff_cap_s=1.0,
    isolation_min_nodes=3,
)


def sqlite_store(tmp: Path, actor: str = "test") -> Store:
    engine = open_engine(f"sqlite:///{tmp / 'org.db'}", create_dir=True)
    migrate(engine)
    return Store(engine, actor=actor)


def register(store: Store, fleet: EmulatedFleet, *, group: str = "rack1") -> list[str]:
    """Add every emulated device as an enrolled use-policy node; returns the node names."""
    store.add_group(group)
    names = []
    for i, dev in enumerate(fleet.devices):
        name = f"n{i:04d}"
        spec = NodeSpec(
            name=name,
            group=group,
            policy=Policy.USE,
            amt_host=dev.address,
            agent_address=f"{dev.address}:{dev.agent_port}",
        )
        store.add_node(spec)
        store.set_lifecycle(name, Lifecycle.ENROLLED)
        names.append(name)
    return names


def controller(
    store: Store,
    fleet: EmulatedFleet,
    settings: HealSettings = FAST,
    *,
    owner: str = "ctl-a",
    ttl_s: float = 30.0,
    dry_run: bool = False,
) -> Controller:
    io = NodeIo(lambda _name: fleet.password, timeout_s=0.5)
    options = ControllerOptions(owner=owner, lease_ttl_s=ttl_s, dry_run=dry_run)
    return Controller(Store(store.engine, actor=owner), io, settings, options)


@contextlib.asynccontextmanager
async def fleet_of(nodes: int) -> AsyncIterator[EmulatedFleet]:
    async with EmulatedFleet.start(
        nodes=nodes, base_ip=None, password=PASSWORD, boot_time_s=BOOT_S
    ) as fleet:
        yield fleet


def record(store: Store, node: str) -> NodeRecord:
    body = heal_store.load_incidents(store).get(node)
    return record_from_json(body) if body is not None else NodeRecord()


def heal_events(store: Store, node: str | None = None) -> list[Event]:
    return [e for e in store.events(node=node) if e.kind.startswith("heal.")]


def power_requests(fleet: EmulatedFleet, address: str) -> list[str]:
    """Requested CIM PowerStates sent to one device, from the emulator's own log."""
    return [
        r.detail for r in fleet.action_log if r.address == address and r.kind == "power-request"
    ]


def boots(fleet: EmulatedFleet, address: str) -> list[str]:
    return [r.detail for r in fleet.action_log if r.address == address and r.kind == "boot-start"]


async def run_until(
    ctl: Controller, done: Callable[[], bool], *, limit_s: float = 20.0, pause_s: float = 0.05
) -> None:
    """Tick until ``done()`` (AssertionError after ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "scenario did not finish in time"
        await ctl.tick()
        await asyncio.sleep(pause_s)


async def tick_for(ctl: Controller, passes: int, *, pause_s: float = 0.1) -> None:
    """Run ``passes`` passes ``pause_s`` apart (to show that nothing happens)."""
    for _ in range(passes):
        await ctl.tick()
        await asyncio.sleep(pause_s)


def has_event(store: Store, node: str, kind: str) -> Callable[[], bool]:
    return lambda: any(e.kind == kind for e in heal_events(store, node))


def in_phase(store: Store, node: str, phase: Phase) -> Callable[[], bool]:
    return lambda: record(store, node).incident.phase is phase
