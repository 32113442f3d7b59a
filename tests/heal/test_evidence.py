"""Heal keeps what a quarantined node's console showed (``console-capture`` documents)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from mewarden.amt.client import Endpoint
from mewarden.emulate import EmulatedFleet
from mewarden.emulate.values import ControlMode
from mewarden.heal import evidence
from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeIo
from mewarden.policy.ladder import Phase
from mewarden.secret import Secret
from mewarden.state.models import DocumentKind
from mewarden.state.store import Store
from tests.heal.harness import FAST, PASSWORD, in_phase, register, run_until, sqlite_store
from tests.redirect.support import base_ip

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _endpoint(fleet: EmulatedFleet) -> Endpoint:
    return Endpoint(host=fleet.devices[0].address, password=Secret(PASSWORD), timeout_s=3.0)


def _start(mode: ControlMode, nodes: int = 1) -> Any:
    return EmulatedFleet.start(
        nodes=nodes, base_ip=base_ip(), password=PASSWORD, boot_time_s=0.2, mode=mode
    )


def test_a_quarantined_node_gets_its_console_captured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "kvm_hook", lambda: None)  # the SOL part; KVM: below
    settings = dataclasses.replace(FAST, pxe_retries=0, min_healthy_s=30.0)

    async def scenario() -> list[dict[str, Any]]:
        async with _start(ControlMode.ADMIN, nodes=3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            io = NodeIo(lambda _name: fleet.password, timeout_s=0.5)
            options = ControllerOptions(owner="ctl", console_evidence_s=0.5)
            ctl = Controller(Store(store.engine, actor="ctl"), io, settings, options)
            await ctl.tick()
            sick = fleet.devices[0].address
            fleet.inject_fault(sick, "hang-host")
            await run_until(ctl, in_phase(store, names[0], Phase.RECOVERED))
            fleet.inject_fault(sick, "hang-host")  # dead again within min_healthy_s
            await run_until(ctl, in_phase(store, names[0], Phase.QUARANTINED))
            await ctl.close()  # lets the capture finish
            assert store.documents(names[1], DocumentKind.CONSOLE_CAPTURE) == []
            docs = store.documents(names[0], DocumentKind.CONSOLE_CAPTURE)
            assert all(d.source == "heal:ctl" for d in docs)
            return [json.loads(d.body) for d in docs]

    bodies = asyncio.run(scenario())
    assert [b["kind"] for b in bodies] == ["sol-tail"]
    assert "error" not in bodies[0]
    assert "node00000 login:" in bodies[0]["text"]


async def test_consent_required_is_recorded_not_attempted() -> None:
    async with _start(ControlMode.CLIENT) as fleet:
        captures = await evidence.gather_evidence(_endpoint(fleet), seconds=0.3)
        assert fleet.devices[0].state.opt_in_state == 0  # no StartOptIn on an unattended node
    assert [c.kind for c in captures] == ["sol-tail", "kvm-screenshot"]
    assert all("user consent" in (c.error or "") for c in captures)


async def test_a_kvm_screenshot_is_added_through_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    async def screenshot(endpoint: Endpoint, *, timeout_s: float) -> bytes:
        asked.append(endpoint.host)
        return PNG

    monkeypatch.setattr(evidence, "kvm_hook", lambda: screenshot)
    async with _start(ControlMode.ADMIN) as fleet:
        captures = await evidence.gather_evidence(_endpoint(fleet), seconds=0.3)
        fleet.devices[0].state.kvm_enabled = False
        without_kvm = await evidence.gather_evidence(_endpoint(fleet), seconds=0.3)
    assert [c.kind for c in captures] == ["sol-tail", "kvm-screenshot"]
    assert captures[1].png_base64 is not None
    assert asked == [fleet.devices[0].address]
    assert [c.kind for c in without_kvm] == ["sol-tail"]


async def test_tails_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "MAX_TAIL_BYTES", 40)
    async with _start(ControlMode.ADMIN) as fleet:
        capture = await evidence.capture_sol_tail(_endpoint(fleet), seconds=0.4)
    assert capture.truncated
    assert capture.text is not None
    assert capture.text.endswith("login: ")
    assert len(capture.text.encode()) <= 40


async def test_the_kvm_module_provides_the_screenshot() -> None:
    assert evidence.kvm_hook() is not None
    async with _start(ControlMode.ADMIN) as fleet:
        captures = await evidence.gather_evidence(_endpoint(fleet), seconds=0.3)
    shot = captures[-1]
    assert shot.kind == "kvm-screenshot"
    assert shot.error is None
    assert base64.b64decode(shot.png_base64 or "").startswith(b"\x89PNG\r\n\x1a\n")
