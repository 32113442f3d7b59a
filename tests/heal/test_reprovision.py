"""Re-provision method per group or node: pure resolution, ladder, budget, org state, CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mewarden.errors import BadInputError, NodeNotFoundError, StateError
from mewarden.policy.guards import GuardRule, RateBudgets, bucket_of, take_budget
from mewarden.policy.ladder import ActionKind, Incident, NodeContext, Observation, Phase, next_step
from mewarden.policy.reprovision import (
    PXE_DEFAULT,
    Reprovision,
    ReprovisionMethod,
    Scope,
    resolve,
)
from mewarden.policy.settings import HealSettings
from mewarden.secret import Secret
from mewarden.state import reprovision
from mewarden.state.models import NodeSpec
from mewarden.state.store import Store
from tests.heal.harness import sqlite_store
from tests.ider.images import xorriso_iso
from tests.state.clihelp import Cli

IDER = Reprovision(method=ReprovisionMethod.IDER, image="/srv/installer.iso", source="group")
DEAD = Observation(host_alive=False, amt_reachable=True, power_on=True)


def test_node_wins_over_group_wins_over_pxe() -> None:
    node_pxe = dataclasses.replace(PXE_DEFAULT, source="node")
    table = {(Scope.GROUP, "rack"): IDER, (Scope.NODE, "n2"): node_pxe}
    assert resolve("n1", "rack", table) is IDER
    assert resolve("n2", "rack", table) is node_pxe
    assert resolve("n3", "other", table) is PXE_DEFAULT
    assert resolve("n4", None, table) is PXE_DEFAULT


def test_ider_needs_an_image_and_pxe_takes_none() -> None:
    with pytest.raises(BadInputError, match="needs an image"):
        Reprovision(method=ReprovisionMethod.IDER)
    with pytest.raises(BadInputError, match="takes no image"):
        Reprovision(method=ReprovisionMethod.PXE, image="/x.iso")


@pytest.mark.parametrize("method", list(ReprovisionMethod))
def test_the_reprovision_rung_follows_the_method_and_spends_the_pxe_budget(
    method: ReprovisionMethod,
) -> None:
    settings = HealSettings(cycle_retries=1, pxe_retries=1)
    after_cycle = Incident(phase=Phase.BOOTING, since=0.0, number=1, cycles=1, attempts=2)
    ctx = NodeContext(enrolled_at=-1e6, reprovision=method)
    decision = next_step(after_cycle, DEAD, ctx, settings, settings.boot_time_s + 1)
    assert decision.incident.phase is Phase.REPROVISIONING
    assert decision.action is ActionKind(f"{method.value}-reprovision")
    assert decision.event == f"{method.value}-reprovision"
    assert decision.action is not None
    assert bucket_of(decision.action) == "pxe"
    budgets = RateBudgets.initial(dataclasses.replace(settings, pxe_burst=1), 0.0)
    ok, budgets = take_budget(decision.action, budgets, 0.0)
    refused, _ = take_budget(decision.action, budgets, 0.0)
    assert ok.allowed
    assert not refused.allowed
    assert refused.rule is GuardRule.PXE_RATE_LIMIT
    # then quarantine, naming the method that did not help
    spent = dataclasses.replace(decision.incident, since=0.0)
    last = next_step(spent, DEAD, ctx, settings, settings.reprovision_timeout_s + 1)
    assert last.incident.phase is Phase.QUARANTINED
    assert f"re-provisioning ({method.value})" in last.reason


def test_org_state_set_clear_and_audit(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    store.add_group("rack")
    store.add_node(NodeSpec(name="n1", group="rack"))
    reprovision.set_method(store, Scope.GROUP, "rack", IDER)
    reprovision.set_method(store, Scope.NODE, "n1", PXE_DEFAULT)
    loaded = reprovision.load_methods(store)
    assert loaded[(Scope.GROUP, "rack")].image == "/srv/installer.iso"
    assert loaded[(Scope.NODE, "n1")].method is ReprovisionMethod.PXE
    assert reprovision.clear_method(store, Scope.NODE, "n1")
    assert not reprovision.clear_method(store, Scope.NODE, "n1")
    assert resolve("n1", "rack", reprovision.load_methods(store)).method is ReprovisionMethod.IDER
    events = [e for e in store.events() if e.kind == reprovision.EVENT]
    assert [e.detail["method"] for e in events] == ["ider", "pxe", None]
    with pytest.raises(NodeNotFoundError):
        reprovision.set_method(store, Scope.NODE, "nope", PXE_DEFAULT)
    with pytest.raises(StateError, match="no group"):
        reprovision.set_method(store, Scope.GROUP, "nope", PXE_DEFAULT)


def test_cli_checks_the_image_before_recording_it(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    cli("org", "init")
    cli("group", "add", "rack")
    built = xorriso_iso(tmp_path, "RACK_INSTALLER")
    done = cli.json(
        "heal", "reprovision", "--group", "rack", "--method", "ider", "--image", str(built.path)
    )
    assert done["checked"]["volume_id"] == "RACK_INSTALLER"
    assert done["checked"]["boot_image_sha256"] == built.boot_sha256
    shown = cli.json("heal", "reprovision")
    assert shown["settings"][0]["method"] == "ider"
    assert shown["settings"][0]["image"] == str(built.path.resolve())
    plain = tmp_path / "plain.bin"
    plain.write_bytes(bytes(100_000))
    data_only = xorriso_iso(tmp_path, "DATA_ONLY", bootable=False).path
    bad = [
        (("--image", str(tmp_path / "missing.iso")), "does not exist"),
        (("--image", str(plain)), "not an ISO 9660 image"),
        (("--image", str(data_only)), "no El Torito boot record"),
        ((), "needs an image"),
    ]
    for extra, message in bad:
        failed = cli("heal", "reprovision", "--group", "rack", "--method", "ider", *extra, code=2)
        assert message in failed.stderr
    cli("heal", "reprovision", "--node", "ghost", "--method", "pxe", code=10)
    assert cli.json("heal", "reprovision", "--group", "rack", "--clear")["cleared"] is True


def test_broken_os_is_reprovisioned_by_ider_under_the_controller(tmp_path: Path) -> None:
    """The whole rung end to end: cycle, then IDER boot of the group's image, re-enrolment."""
    import asyncio

    from mewarden.heal.controller import Controller, ControllerOptions
    from mewarden.heal.ider import IderReprovisioner
    from mewarden.heal.probe import NodeIo
    from mewarden.policy.ladder import Phase
    from tests.heal.harness import FAST, has_event, heal_events, record, register, run_until
    from tests.ider.fleet import PASSWORD, ider_fleet

    built = xorriso_iso(tmp_path, "HEAL_INSTALLER")

    async def scenario() -> None:
        async with ider_fleet(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            image = Reprovision(
                method=ReprovisionMethod.IDER, image=str(built.path), image_sha256="x" * 64
            )
            reprovision.set_method(store, Scope.GROUP, "rack1", image)
            ider = IderReprovisioner(timeout_s=FAST.reprovision_timeout_s)
            io = NodeIo(
                lambda _name: Secret(PASSWORD),
                timeout_s=0.5,
                ider=ider,
            )
            ctl = Controller(
                Store(store.engine, actor="ctl"), io, FAST, ControllerOptions(owner="ctl")
            )
            await ctl.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "broken-os")
            await run_until(ctl, has_event(store, names[0], "heal.reenrolled"), limit_s=30)
            served = ider.finished.get(names[0])
            await ctl.close()
            log = [(r.kind, r.detail) for r in fleet.action_log if r.address == sick]
            assert [d for k, d in log if k == "boot-start"] == ["default", "ider"]
            assert ("re-enrolled", "ider") in log
            boot = fleet.devices[0].state.ider_boot
            assert boot is not None
            assert (boot.volume_id, boot.boot_image_sha256) == ("HEAL_INSTALLER", built.boot_sha256)
            kinds = [e.kind for e in heal_events(store, names[0])]
            assert "heal.ider-reprovision" in kinds
            assert "heal.pxe-reprovision" not in kinds
            reenrolled = [e for e in heal_events(store, names[0]) if e.kind == "heal.reenrolled"]
            assert reenrolled[0].detail["reason"] == "re-provisioned by IDER"
            assert record(store, names[0]).incident.phase is Phase.RECOVERED
            state = fleet.devices[0].state
            assert served is None or served.blocks_read == state.ider_sectors

    asyncio.run(scenario())
