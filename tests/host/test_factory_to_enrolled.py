"""The whole path on the emulator: factory (pre-provisioning) -> `host amt-info` -> `host
activate` on the node -> `node enroll` from the controller (password rotated into the vault)
-> `heal` acts on the node through AMT with the vaulted password."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.session import get
from mewarden.errors import AmtAuthError, RefusedError
from mewarden.secret import Secret
from tests.host.mei_emulator import (
    NEW_PASSWORD,
    PASSWORD,
    MeiEmulator,
    json_of,
    refused_port,
    run_cli,
)
from tests.state.clihelp import Cli

NODES = 3


def _realm(address: str, password: str) -> str:
    async def read() -> str:
        endpoint = Endpoint(host=address, password=Secret(password), retries=0, timeout_s=5)
        async with AmtClient(endpoint) as client:
            return (await get(client, "AMT_GeneralSettings")).text("DigestRealm")

    return asyncio.run(read())


def _activate_all(emu: MeiEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    with refused_port() as no_lms:
        for index in range(NODES):
            path = emu.mei_path_of(index)
            info = json_of(run_cli(capsys, "host", "amt-info", "--mei", path, "--json"))
            assert info["provisioning_state"] == "pre"
            args = ("host", "activate", "--mode", "ccm", "--mei", path, "--lms", no_lms, "--json")
            assert json_of(run_cli(capsys, *args))["after"] == "ccm"


def test_factory_device_to_enrolled_and_healed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    with MeiEmulator(tmp_path / "mei", nodes=NODES) as emu:
        controller = Cli(tmp_path / "controller")
        controller("org", "init")
        addresses = [d.address for d in emu.fleet.devices]
        early = ("node", "enroll", "n0", "--policy", "use", "--amt-host", addresses[0])
        refused = controller(*early, code=RefusedError.exit_code, MEWARDEN_AMT_PASSWORD=PASSWORD)
        assert "not activated (pre-provisioning)" in refused.stderr
        assert "mewarden host activate" in refused.stderr
        _activate_all(emu, capsys)
        for index, address in enumerate(addresses):
            enrolled = controller.json(
                "node", "enroll", f"n{index}", "--policy", "use", "--amt-host", address,
                MEWARDEN_AMT_PASSWORD=NEW_PASSWORD,
            )  # fmt: skip
            assert enrolled["identity"]["uuid"] == emu.fleet.devices[index].uuid
        # the activation password was rotated away: it no longer opens the device
        with pytest.raises(AmtAuthError):
            _realm(addresses[0], NEW_PASSWORD)
        settings = tmp_path / "settings.json"
        settings.write_text(json.dumps({"startup_grace_s": 0.01, "unhealthy_after_s": 0.2}))
        emu.call(lambda: emu.fleet.inject_fault(addresses[0], "hang-host"))
        heal = ("heal", "once", "--settings", str(settings), "--timeout", "1", "--json")
        for _ in range(8):
            controller(*heal)
            if any(r.kind == "power-request" for r in emu.call(lambda: emu.fleet.action_log)):
                break
        actions = emu.call(lambda: emu.fleet.action_log)
        assert [r.address for r in actions if r.kind == "power-request"] == [addresses[0]]
        events = controller.json("events", "--node", "n0")
        assert any(e["kind"] == "heal.action" for e in events), events


def _meshcentral(address: str, password: str) -> dict[str, object]:
    import os
    import subprocess

    from tests.emulate.test_independent_clients import SCRIPT, _meshcentral
    from tests.support import require_tool

    amt_dir, node = _meshcentral(), require_tool("node")
    done = subprocess.run(
        [node, str(SCRIPT), str(amt_dir), address, "16992"],
        capture_output=True,
        text=True,
        env=dict(os.environ, MEWARDEN_AMT_PASSWORD=password),
        timeout=60,
        check=False,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_meshcentral_authenticates_with_the_activation_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    with MeiEmulator(tmp_path / "mei") as emu, refused_port() as no_lms:
        args = ("host", "activate", "--mode", "ccm", "--mei", emu.mei_path, "--lms", no_lms)
        assert run_cli(capsys, *args)[0] == 0
        result = _meshcentral(emu.address, NEW_PASSWORD)
        assert "error" not in result, result
        assert result["realm"] == emu.fleet.devices[0].realm
        refused = _meshcentral(emu.address, PASSWORD)
        assert str(refused.get("error", "")).endswith("status 401"), refused
