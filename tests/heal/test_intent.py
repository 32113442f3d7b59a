"""Operator intent and the confirmation lane, against the AMT emulator.

Maintenance means hands off; a node meant to be off is never powered on; ``heal reset`` ends a
quarantine even while a controller holds the node; a running controller acts on a suspect when
its threshold passes, not at its next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from mewarden.amt import power
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.emulate import EmulatedFleet
from mewarden.policy.ladder import Fault, Phase
from tests.heal.harness import (
    FAST,
    controller,
    fleet_of,
    has_event,
    heal_events,
    in_phase,
    power_requests,
    record,
    register,
    run_until,
    sqlite_store,
    tick_for,
)

OFF, ON = "8", "2"


async def _operator_power_off(fleet: EmulatedFleet, address: str) -> None:
    endpoint = Endpoint(host=address, username="admin", password=fleet.password)
    async with AmtClient(endpoint) as client:
        await power.change_power(client, power.PowerAction.OFF)


def test_node_in_maintenance_is_left_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet)
            await ctl.tick()
            assert names[0] in ctl.leases
            store.update_node(names[0], lambda _n: {"maintenance": True}, "node.maintenance")
            fleet.inject_fault(fleet.devices[0].address, "hang-host")
            await tick_for(ctl, 12)
            assert names[0] not in ctl.leases  # given back: maintenance is not ours
            assert power_requests(fleet, fleet.devices[0].address) == []
            assert heal_events(store, names[0]) == []
            # out of maintenance, the same hung host is healed
            store.update_node(names[0], lambda _n: {"maintenance": False}, "node.maintenance")
            await run_until(ctl, has_event(store, names[0], "heal.resolved"))
            await ctl.close()
            assert power_requests(fleet, fleet.devices[0].address) == [OFF, ON]

    asyncio.run(scenario())


def _powered_off_by_operator(tmp_path: Path, *, intent: str) -> list[str]:
    async def scenario() -> list[str]:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            store.update_node(names[0], lambda _n: {"power_intent": intent}, "node.power-intent")
            ctl = controller(store, fleet)
            await ctl.tick()
            address = fleet.devices[0].address
            await _operator_power_off(fleet, address)
            if intent == "on":
                await run_until(ctl, has_event(store, names[0], "heal.power-on"))
            else:
                await tick_for(ctl, 15)
                assert record(store, names[0]).incident.phase is Phase.HEALTHY
            await ctl.close()
            return power_requests(fleet, address)[1:]  # after the operator's own power-off

    return asyncio.run(scenario())


def test_node_meant_to_be_off_is_never_powered_on(tmp_path: Path) -> None:
    assert _powered_off_by_operator(tmp_path, intent="off") == []


def test_node_meant_to_be_on_is_powered_on(tmp_path: Path) -> None:
    assert _powered_off_by_operator(tmp_path, intent="on") == [ON]


def test_reset_ends_a_quarantine_while_a_controller_holds_the_node(tmp_path: Path) -> None:
    settings = dataclasses.replace(FAST, amt_unreachable_quarantine_s=0.8)

    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet, settings)
            await ctl.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            fleet.inject_fault(sick, "amt-unreachable")
            await run_until(ctl, in_phase(store, names[0], Phase.QUARANTINED))
            assert record(store, names[0]).incident.fault is Fault.AMT_UNREACHABLE
            fleet.clear_faults(sick)
            fleet.inject_fault(sick, "hang-host")  # repaired AMT; the host is still hung
            url = f"sqlite:///{tmp_path / 'org.db'}"
            argv = [sys.executable, "-m", "mewarden", "heal", "reset", names[0], "--db", url]
            done = subprocess.run(
                [*argv, "--json"], check=False, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout) == {
                "node": names[0],
                "was": "quarantined",
                "phase": "healthy",
            }
            assert record(store, names[0]).incident.phase is Phase.HEALTHY
            # the controller loses the lease, reloads the reset state and heals the host
            await run_until(ctl, has_event(store, names[0], "heal.resolved"))
            await ctl.close()
            assert power_requests(fleet, sick) == [OFF, ON]
            assert record(store, names[0]).incident.number == 2
            assert any(e.kind == "heal.reset" for e in heal_events(store, names[0]))

    asyncio.run(scenario())


def test_running_controller_acts_at_the_threshold_not_at_the_next_pass(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet)
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            began = time.monotonic()
            running = asyncio.create_task(ctl.run(interval_s=30.0))  # one pass in the window
            try:
                deadline = began + 10.0
                while not power_requests(fleet, sick) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                acted_after = time.monotonic() - began
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            await ctl.close()
            assert power_requests(fleet, sick)[:1] == [OFF]
            # acted within the first pass's interval: only the lane can have done it
            assert acted_after < 30.0
            assert ctl.metrics.registry.get_sample_value("mewarden_heal_ticks_total") == 1
            assert len(ctl.latencies) == 1
            assert heal_events(store, names[0])[0].kind == "heal.suspect"

    asyncio.run(scenario())


def test_node_meant_to_be_off_but_on_and_hung_is_powered_off_not_cycled(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            store.update_node(names[0], lambda _n: {"power_intent": "off"}, "node.power-intent")
            ctl = controller(store, fleet)
            await ctl.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            await run_until(ctl, has_event(store, names[0], "heal.resolved"))
            await tick_for(ctl, 10)  # off stays off: nothing more happens
            await ctl.close()
            assert power_requests(fleet, sick) == [OFF]
            assert not fleet.devices[0].state.powered
            kinds = [e.kind for e in heal_events(store, names[0])]
            assert "heal.power-on" not in kinds
            assert "heal.power-cycle" not in kinds
            assert record(store, names[0]).incident.phase is Phase.HEALTHY

    asyncio.run(scenario())
