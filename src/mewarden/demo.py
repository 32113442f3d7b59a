"""The end-to-end demo behind ``mewarden demo``: org, emulator, policies, firmware, rules, healing.

Everything runs in one process with no configuration: a temporary SQLite org, a dozen emulated
AMT devices on loopback, mixed policies, a generated firmware image inspected and neutralized
(its reports recorded as the node's metadata), the ME/AMT block rules rendered from org state,
then four injected faults and the controller at work, one per rung of the ladder: a hung host
healed by a power cycle, a broken OS re-provisioned by PXE (the node re-enrolls), an AMT outage
quarantined, and a second broken OS held back by the PXE budget (a guard rail). Timings are
scaled down to seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mewarden.crypto.vault import OrgKey
from mewarden.emulate import EmulatedFleet
from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeIo
from mewarden.heal.records import NodeRecord, record_from_json
from mewarden.jsonutil import dumps
from mewarden.policy.ladder import Phase
from mewarden.policy.settings import HealSettings
from mewarden.secret import Secret
from mewarden.state import heal_store
from mewarden.state.db import migrate, open_engine
from mewarden.state.enroll import enroll_with_reports
from mewarden.state.models import DocumentKind, Event, NodeSpec, Policy, Purpose
from mewarden.state.store import Store

DEMO_SETTINGS = HealSettings(
    unhealthy_after_s=1.0,
    startup_grace_s=0.0,
    power_off_confirm_s=2.0,
    boot_time_s=1.0,
    reprovision_timeout_s=4.0,
    min_healthy_s=1.5,
    amt_unreachable_quarantine_s=3.0,
    actions_burst=1,
    actions_per_s=0.5,
    pxe_burst=1,
    pxe_per_s=0.001,
)
"""Scaled-down timings; budgets of one burst so the guard rails visibly hold back (the PXE
budget refills once in ~17 minutes: the second broken OS waits for a person or the budget)."""
NODES = 12
USE_NODES = 8
NEUTRALIZE_NODES = 2
FAULTS = {
    "node00": ("hung host", ("hang-host",)),
    "node01": ("broken OS", ("broken-os",)),
    "node02": ("AMT outage", ("hang-host", "amt-unreachable")),
    "node03": ("broken OS, later", ("broken-os",)),
}
"""Injected faults. node03's comes once node01 is being re-provisioned, so that node01 takes the
one PXE token and node03 is the one the PXE budget holds back."""
LATE_FAULT = "node03"
RUNG_NAMES = {
    "heal.power-cycle": "power cycle",
    "heal.power-on": "power on",
    "heal.pxe-reprovision": "PXE re-provision",
    "heal.reenrolled": "re-enrolled",
    "heal.recovered": "recovered",
    "heal.resolved": "healthy",
    "heal.quarantined": "quarantined",
    "heal.held-back": "held back",
}
"""The ladder's events as the demo names its rungs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetRow:
    """One line of the final fleet table."""

    node: str
    policy: str
    lifecycle: str
    phase: str
    fault: str
    injected: str
    amt_power_requests: int
    boots: tuple[str, ...]
    """Boot sources of the emulated host, in order, from the emulator's own log."""
    reenroll_count: int
    """The host agent's re-enrolment count (rises after a PXE or IDER re-install)."""
    documents: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LadderRow:
    """One faulted node and the rungs of the ladder it went through, named."""

    node: str
    injected: str
    rungs: tuple[str, ...]
    outcome: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoResult:
    """What the demo did, for the CLI to print."""

    fleet: tuple[FleetRow, ...]
    ladder: tuple[LadderRow, ...]
    audit: tuple[Event, ...]
    ruleset_lines: int
    ruleset_head: tuple[str, ...]
    firmware: dict[str, object]
    images: dict[str, object]
    """``firmware inspect`` reports of the image before and after (the stage-1 demo's output)."""
    ticks: int
    seconds: float
    finished: bool


def _org(tmp: Path) -> tuple[Store, OrgKey]:
    engine = open_engine(f"sqlite:///{tmp / 'org.db'}", create_dir=True)
    migrate(engine)
    store = Store(engine, actor="demo")
    key = OrgKey.generate()
    store.initialize(key)
    return store, key


async def _enroll_use(store: Store, key: OrgKey, fleet: EmulatedFleet, index: int) -> None:
    """The real use enrollment: identity, profile, and a generated admin password (vaulted)."""
    from mewarden.state.amt_enroll import enroll_over_amt
    from mewarden.state.enroll import AmtProfile

    dev = fleet.devices[index]
    name = f"node{index:02d}"
    store.add_node(NodeSpec(name=name, group="rack-a", amt_host=dev.address))
    await enroll_over_amt(store, key, name, fleet.password, AmtProfile())


def _firmware_reports() -> tuple[dict[str, object], bytes, bytes, dict[str, object]]:
    from mewarden.firmware import neutralize as nz
    from mewarden.firmware.inspect import inspect_image
    from mewarden.firmware.neutralize_layout import read_me_image
    from mewarden.firmware.report import ReportInputs, build_report
    from mewarden.firmware.synth import SynthSpec, build_image
    from mewarden.jsonutil import to_jsonable

    image = build_image(SynthSpec())
    inspected = inspect_image(image)
    options = nz.NeutralizeOptions()
    plan = nz.plan_neutralize(read_me_image(image), options)
    output = nz.apply_neutralize(image, plan)
    verification = nz.verify_neutralized(output, plan)
    inputs = ReportInputs(
        input="demo.bin", output="demo-neutralized.bin", options=options, verification=verification
    )
    report = build_report(image, output, plan, inputs)
    done = to_jsonable(report)
    summary: dict[str, object] = {
        "me_version": done["before"]["me_version"],
        "mode": done["mode"],
        "partitions_before": done["before"]["partitions"],
        "partitions_after": done["after"]["partitions"],
        "removed_modules": done["removed_modules"],
        "kept_modules": done["kept_modules"],
        "strap": done["strap_written"]["name"] if done["strap_written"] else None,
        "verification": done["verification"],
        "inspected_state": to_jsonable(inspected)["me"]["state"],
    }
    images = {
        "stock.bin": to_jsonable(inspected),
        "neutralized.bin": to_jsonable(inspect_image(output)),
    }
    return summary, dumps(inspected).encode(), dumps(report).encode(), images


def _enroll_others(store: Store, fleet: EmulatedFleet, inspect: bytes, report: bytes) -> None:
    for index in range(USE_NODES, NODES):
        dev = fleet.devices[index]
        name = f"node{index:02d}"
        store.add_node(NodeSpec(name=name, group="lab", amt_host=dev.address))
        if index < USE_NODES + NEUTRALIZE_NODES:
            docs = {
                DocumentKind.FIRMWARE_INSPECT: ("firmware inspect demo.bin", inspect),
                DocumentKind.FIRMWARE_NEUTRALIZE: ("firmware neutralize demo.bin", report),
            }
            enroll_with_reports(store, name, Policy.NEUTRALIZE, docs)
        else:
            enroll_with_reports(store, name, Policy.IGNORE, {})


def _rules(store: Store) -> bytes:
    from mewarden.netblock.from_state import inventory_from_state
    from mewarden.netblock.render import RulesetFormat, render

    return render(inventory_from_state(store.nodes()), RulesetFormat.NFTABLES)


def _settled(store: Store) -> bool:
    """Each rung shown: cycled and healthy, re-enrolled, quarantined, held back by PXE budget."""
    records = {n: record_from_json(b) for n, b in heal_store.load_incidents(store).items()}
    hung = records.get("node00", NodeRecord()).incident
    healed = hung.number >= 1 and hung.phase is Phase.HEALTHY
    quarantined = records.get("node02", NodeRecord()).incident.phase is Phase.QUARANTINED
    reenrolled = any(e.kind == "heal.reenrolled" for e in store.events(node="node01"))
    held = any(
        e.kind == "heal.held-back" and e.detail.get("rule") == "pxe-rate-limit"
        for e in store.events(node=LATE_FAULT)
    )
    return healed and quarantined and reenrolled and held


def _reprovisioning(store: Store, node: str) -> bool:
    body = heal_store.load_incidents(store, [node]).get(node)
    return body is not None and record_from_json(body).incident.phase is Phase.REPROVISIONING


def _inject(fleet: EmulatedFleet, name: str, progress: Callable[[str], None]) -> None:
    what, kinds = FAULTS[name]
    for kind in kinds:
        fleet.inject_fault(fleet.devices[int(name[4:])].address, kind)
    progress(f"injected on {name}: {what}")


async def _heal(
    store: Store, key: OrgKey, fleet: EmulatedFleet, progress: Callable[[str], None]
) -> tuple[int, bool]:
    from mewarden.crypto.vault import unseal

    def password(node: str) -> Secret:
        _user, sealed = store.credential(node, Purpose.AMT_ADMIN.value)
        return unseal(key, sealed, node=node, purpose=Purpose.AMT_ADMIN.value)

    io = NodeIo(password, timeout_s=0.6)
    heal_store_ = Store(store.engine, actor="heal:demo")
    ctl = Controller(heal_store_, io, DEMO_SETTINGS, ControllerOptions(owner="demo"))
    ticks = 0
    deadline = time.monotonic() + 40.0
    try:
        await ctl.tick()
        for name in FAULTS:
            if name != LATE_FAULT:
                _inject(fleet, name, progress)
        late = False
        while not _settled(store) and time.monotonic() < deadline:
            await ctl.tick()
            ticks += 1
            if not late and _reprovisioning(store, "node01"):
                _inject(fleet, LATE_FAULT, progress)
                late = True
            await asyncio.sleep(0.1)
    finally:
        await ctl.close()
    return ticks, _settled(store)


def _table(store: Store, fleet: EmulatedFleet) -> tuple[FleetRow, ...]:
    records = {n: record_from_json(b) for n, b in heal_store.load_incidents(store).items()}
    requests: dict[str, int] = {}
    boots: dict[str, list[str]] = {}
    for entry in fleet.action_log:
        if entry.kind == "power-request":
            requests[entry.address] = requests.get(entry.address, 0) + 1
        if entry.kind == "boot-start":
            boots.setdefault(entry.address, []).append(entry.detail)
    rows = []
    for node in store.nodes():
        inc = records.get(node.name, NodeRecord()).incident
        use = node.effective_policy is Policy.USE
        rows.append(
            FleetRow(
                node=node.name,
                policy=node.effective_policy.value,
                lifecycle=node.lifecycle.value,
                phase=inc.phase.value if use else "-",
                fault=inc.fault.value if inc.fault else "",
                injected=FAULTS.get(node.name, ("", ()))[0],
                amt_power_requests=requests.get(node.amt_host or "", 0),
                boots=tuple(boots.get(node.amt_host or "", ())),
                reenroll_count=fleet.device(node.amt_host).state.reenroll_count
                if node.amt_host
                else 0,
                documents=tuple(sorted({d.kind.value for d in store.documents(node.name)})),
            )
        )
    return tuple(rows)


def _ladder(store: Store) -> tuple[LadderRow, ...]:
    """The rungs each faulted node went through, named, from the audit trail."""
    records = {n: record_from_json(b) for n, b in heal_store.load_incidents(store).items()}
    rows = []
    for name, (what, _kinds) in FAULTS.items():
        rungs: list[str] = []
        for event in store.events(node=name):
            rung = RUNG_NAMES.get(event.kind)
            if rung is None:
                continue
            if event.kind == "heal.quarantined":
                rung = f"quarantined ({event.detail.get('fault')})"
            elif event.kind == "heal.held-back":
                rung = f"held back ({event.detail.get('rule')}: {event.detail.get('action')})"
            if not rungs or rungs[-1] != rung:
                rungs.append(rung)
        inc = records.get(name, NodeRecord()).incident
        rows.append(
            LadderRow(node=name, injected=what, rungs=tuple(rungs), outcome=inc.phase.value)
        )
    return tuple(rows)


async def run_demo(tmp: Path, progress: Callable[[str], None]) -> DemoResult:
    """Run the whole demo inside ``tmp``; ``progress`` gets one line per stage."""
    began = time.monotonic()
    store, key = _org(tmp)
    progress(f"org created (SQLite, key id {key.key_id})")
    summary, inspect, report, images = _firmware_reports()
    progress("firmware image generated, inspected and neutralized")
    async with EmulatedFleet.start(nodes=NODES, base_ip=None, boot_time_s=0.3) as fleet:
        store.add_group("rack-a", Policy.USE)
        store.add_group("lab")
        for index in range(USE_NODES):
            await _enroll_use(store, key, fleet, index)
        _enroll_others(store, fleet, inspect, report)
        progress(
            f"{NODES} emulated nodes enrolled: {USE_NODES} use (identity read, admin password "
            "rotated into the vault), 2 neutralize, 2 ignore"
        )
        rules = _rules(store).decode()
        progress(f"network rules rendered ({len(rules.splitlines())} nftables lines)")
        ticks, finished = await _heal(store, key, fleet, progress)
        fleet_rows = _table(store, fleet)
    ladder = _ladder(store)
    audit = tuple(e for e in store.events() if e.kind.startswith(("heal.", "node.document")))
    return DemoResult(
        fleet=fleet_rows,
        ladder=ladder,
        audit=audit,
        ruleset_lines=len(rules.splitlines()),
        ruleset_head=tuple(rules.splitlines()[:8]),
        firmware=summary,
        images=images,
        ticks=ticks,
        seconds=time.monotonic() - began,
        finished=finished,
    )
