"""Scenario tests: the controller against the AMT emulator (real AMT client, real host agent).

Every count of actions comes from the emulator's own ``action_log``, not from the controller.
Timings are scaled down (harness.FAST); each scenario takes a few seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeIo
from mewarden.policy.ladder import Fault, Phase
from mewarden.state import heal_store
from tests.heal.harness import (
    FAST,
    boots,
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

OFF, ON, RESET = "8", "2", "10"


def test_hung_host_gets_one_power_cycle_and_is_healthy(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet)
            await ctl.tick()  # everyone healthy, leases taken
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            await run_until(ctl, has_event(store, names[0], "heal.resolved"))
            await ctl.close()
            assert power_requests(fleet, sick) == [OFF, ON]
            assert boots(fleet, sick) == ["default"]
            assert fleet.devices[0].host_up
            for dev in fleet.devices[1:]:
                assert power_requests(fleet, dev.address) == []
            kinds = [e.kind for e in heal_events(store, names[0])]
            assert kinds[:3] == ["heal.suspect", "heal.power-cycle", "heal.action"]
            assert "heal.recovered" in kinds
            assert record(store, names[0]).incident.phase is Phase.HEALTHY
            sample = ctl.metrics.registry.get_sample_value
            labels = {"action": "power-off", "outcome": "done"}
            assert sample("mewarden_heal_actions_total", labels) == 1
            assert sample("mewarden_heal_detection_to_action_seconds_count") == 1
            assert len(ctl.latencies) == 1

    asyncio.run(scenario())


def test_host_that_stays_dead_is_reprovisioned_by_pxe(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet)
            await ctl.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "broken-os")  # survives power cycles
            await run_until(ctl, has_event(store, names[0], "heal.reenrolled"))
            await ctl.close()
            # one power cycle (off, on), then the PXE override with a reset of the running host
            assert power_requests(fleet, sick) == [OFF, ON, RESET]
            # the emulator's own log: the disk boot panicked, the PXE boot re-installed
            log = [(r.kind, r.detail) for r in fleet.action_log if r.address == sick]
            assert ("boot-start", "pxe") in log
            assert log[-2:] == [("boot-complete", ""), ("re-enrolled", "pxe")]
            assert boots(fleet, sick) == ["default", "pxe"]
            reenrolled = [r for r in fleet.action_log if r.kind == "re-enrolled"]
            assert [r.address for r in reenrolled] == [sick]
            assert fleet.devices[0].state.reenroll_count == 1
            assert fleet.devices[0].host_up
            assert "broken-os" not in fleet.devices[0].faults
            assert record(store, names[0]).incident.phase is Phase.RECOVERED

    asyncio.run(scenario())


def test_dead_twice_is_quarantined_without_more_actions(tmp_path: Path) -> None:
    """A relapse within min_healthy_s continues the incident: the next rung, here quarantine."""
    settings = dataclasses.replace(FAST, pxe_retries=0, min_healthy_s=30.0)

    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet, settings)
            await ctl.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            await run_until(ctl, has_event(store, names[0], "heal.recovered"))
            fleet.inject_fault(sick, "hang-host")  # dead again, well within min_healthy_s
            await run_until(ctl, in_phase(store, names[0], Phase.QUARANTINED))
            for _ in range(5):  # quarantine is sticky: no further action
                await ctl.tick()
            await ctl.close()
            assert power_requests(fleet, sick) == [OFF, ON]
            incident = record(store, names[0]).incident
            assert incident.fault is Fault.REPROVISION_FAILED
            assert incident.number == 1
            assert any(e.kind == "heal.relapse" for e in heal_events(store, names[0]))

    asyncio.run(scenario())


def _outage(tmp_path: Path, down: int, total: int) -> tuple[int, set[str]]:
    settings = dataclasses.replace(FAST, actions_burst=2, actions_per_s=0.001, max_in_flight=10)

    async def scenario() -> tuple[int, set[str]]:
        async with fleet_of(total) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet, settings)
            await ctl.tick()
            for dev in fleet.devices[:down]:
                fleet.inject_fault(dev.address, "hang-host")
            for _ in range(20):
                await ctl.tick()
                await asyncio.sleep(0.05)
            await ctl.close()
            offs = sum(power_requests(fleet, d.address).count(OFF) for d in fleet.devices)
            rules = {
                str(e.detail["rule"])
                for n in names
                for e in heal_events(store, n)
                if e.kind == "heal.held-back"
            }
            return offs, rules

    return asyncio.run(scenario())


def test_switch_outage_40_percent_no_action_beyond_budget(tmp_path: Path) -> None:
    offs, rules = _outage(tmp_path, down=4, total=10)
    assert offs == 2  # the burst of the action budget, not one per dead node
    assert "rate-limit" in rules


def test_majority_of_group_down_short_circuits(tmp_path: Path) -> None:
    offs, rules = _outage(tmp_path, down=5, total=10)
    assert offs == 0
    assert rules == {"short-circuit"}


def test_amt_unreachable_never_gets_a_power_action(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet)
            await ctl.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            fleet.inject_fault(sick, "amt-unreachable")
            await run_until(ctl, in_phase(store, names[0], Phase.QUARANTINED))
            assert record(store, names[0]).incident.fault is Fault.AMT_UNREACHABLE
            fleet.clear_faults(sick)  # AMT answers again: the fault clears by itself
            await run_until(ctl, has_event(store, names[0], "heal.unquarantined"))
            await ctl.close()
            assert [r for r in fleet.action_log if r.kind == "power-request"] == []

    asyncio.run(scenario())


def test_amt_outage_on_a_live_host_is_one_event_and_never_an_action(tmp_path: Path) -> None:
    settings = dataclasses.replace(FAST, amt_check_interval_s=0.3)

    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet, settings)
            await tick_for(ctl, 8)  # > 2 intervals: every live host's AMT read, and answering
            assert heal_events(store) == []
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "amt-unreachable")  # the host agent still answers
            await run_until(ctl, has_event(store, names[0], "heal.amt-down"))
            assert record(store, names[0]).amt_down
            await tick_for(ctl, 10)  # the outage goes on: checked again, recorded once
            fleet.clear_faults(sick)
            await run_until(ctl, has_event(store, names[0], "heal.amt-restored"))
            await ctl.close()
            assert [e.kind for e in heal_events(store)] == ["heal.amt-down", "heal.amt-restored"]
            assert [r for r in fleet.action_log if r.kind == "power-request"] == []
            assert not record(store, names[0]).amt_down
            assert record(store, names[0]).incident.phase is Phase.HEALTHY

    asyncio.run(scenario())


def test_killed_controller_is_resumed_without_repeating_the_action(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            # the TTL must outlast a pass with its confirmation (~1.6 s here): the fence
            # refuses a write on an expired lease
            first = controller(store, fleet, owner="ctl-a", ttl_s=3.0)
            await first.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            await run_until(first, lambda: power_requests(fleet, sick) == [OFF])
            await first.close(release=False)  # killed: leases are not given back
            assert record(store, names[0]).incident.phase is Phase.POWERING_OFF
            second = controller(store, fleet, owner="ctl-b", ttl_s=3.0)
            await run_until(second, has_event(store, names[0], "heal.resolved"))
            await second.close()
            assert power_requests(fleet, sick) == [OFF, ON]
            power_on = [e for e in heal_events(store, names[0]) if e.kind == "heal.power-on"]
            assert [e.actor for e in power_on] == ["ctl-b"]
            assert store.node(names[0]).lease_epoch >= 2

    asyncio.run(scenario())


def test_pause_stops_everything_and_resume_continues(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            ctl = controller(store, fleet)
            await ctl.tick()
            assert heal_store.set_paused(store, reason="maintenance window")
            assert not heal_store.set_paused(store, reason="again")
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            for _ in range(15):
                report = await ctl.tick()
                assert report.paused
                await asyncio.sleep(0.05)
            assert power_requests(fleet, sick) == []
            assert heal_store.clear_paused(store)
            await run_until(ctl, has_event(store, names[0], "heal.recovered"))
            await ctl.close()
            assert power_requests(fleet, sick) == [OFF, ON]

    asyncio.run(scenario())


def test_dry_run_decides_but_never_acts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            register(store, fleet)
            ctl = controller(store, fleet, dry_run=True)
            await ctl.tick()
            fleet.inject_fault(fleet.devices[0].address, "hang-host")
            results: set[str] = set()
            for _ in range(15):
                report = await ctl.tick()
                results |= {s.result for s in report.steps}
                await asyncio.sleep(0.05)
            await ctl.close()
            assert "would" in results
            assert [r for r in fleet.action_log if r.kind == "power-request"] == []
            assert heal_store.load_incidents(store) == {}
            assert store.node("n0000").lease_owner is None

    asyncio.run(scenario())


def test_one_pass_reads_every_live_hosts_amt_only_when_asked(tmp_path: Path) -> None:
    async def first_pass_events(check_every_amt: bool) -> list[str]:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path / str(check_every_amt))
            names = register(store, fleet)
            fleet.inject_fault(fleet.devices[1].address, "amt-unreachable")
            io = NodeIo(lambda _name: fleet.password, timeout_s=0.5)
            options = ControllerOptions(owner="once", check_every_amt=check_every_amt)
            ctl = Controller(store, io, FAST, options)
            await ctl.tick()  # the first pass of a process, as `heal once` runs it
            await ctl.close()
            assert [r for r in fleet.action_log if r.kind == "power-request"] == []
            return [f"{e.node}:{e.kind}" for e in heal_events(store) if e.node in names]

    assert asyncio.run(first_pass_events(False)) == []
    assert asyncio.run(first_pass_events(True)) == ["n0001:heal.amt-down"]
