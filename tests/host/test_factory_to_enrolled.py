"""The whole path on the emulator: factory (pre-provisioning) -> `host amt-info` -> `host
activate` on the node -> `node enroll` from the controller (password rotated into the vault)
-> `heal` acts on the node through AMT with the vaulted password."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.session import get
from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.errors import AmtAuthError, RefusedError
from mewarden.secret import Secret
from tests.host.acm_pki import PFX_PASSWORD, build_pki
from tests.host.mei_emulator import (
    NEW_PASSWORD,
    PASSWORD,
    MeiEmulator,
    json_of,
    refused_port,
    run_cli,
)

NODES = 3


def _realm(address: str, password: str) -> str:
    async def read() -> str:
        endpoint = Endpoint(host=address, password=Secret(password), retries=0, timeout_s=5)
        async with AmtClient(endpoint) as client:
            return (await get(client, "AMT_GeneralSettings")).text("DigestRealm")

    return asyncio.run(read())


def _activate_all(
    emu: MeiEmulator, capsys: pytest.CaptureFixture[str], mode: str, cert: tuple[str, ...]
) -> None:
    with refused_port() as no_lms:
        for index in range(NODES):
            path = emu.mei_path_of(index)
            info = json_of(run_cli(capsys, "host", "amt-info", "--mei", path, "--json"))
            assert info["provisioning_state"] == "pre"
            args = ("host", "activate", "--mode", mode, *cert, "--mei", path, "--lms", no_lms)
            assert json_of(run_cli(capsys, *args, "--json"))["after"] == mode


@pytest.mark.parametrize("mode", ["ccm", "acm"])
def test_factory_device_to_enrolled_and_healed(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    monkeypatch.setenv("MEWARDEN_CERT_PASSWORD", PFX_PASSWORD)
    pki = build_pki(tmp_path / "pki")
    trust = HostTrust(trusted_root_hashes=(pki.root_sha256,), pki_dns_suffix="corp.example")
    cert = ("--cert-file", str(pki.pfx)) if mode == "acm" else ()
    # ACM lets the org drop user consent: KVM without anyone at the machine
    consent = ("--consent", "none") if mode == "acm" else ()
    for name in [k for k in os.environ if k.startswith("MEWARDEN_") and "PASSWORD" not in k]:
        monkeypatch.delenv(name)  # the controller's own state only (in-process CLI below)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "controller"))
    monkeypatch.setenv("MEWARDEN_KEY_FILE", str(tmp_path / "controller" / "org.key"))
    with MeiEmulator(tmp_path / "mei", nodes=NODES, trust=trust) as emu:
        assert run_cli(capsys, "org", "init")[0] == 0
        addresses = [d.address for d in emu.fleet.devices]
        monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", PASSWORD)  # the factory account
        early = ("node", "enroll", "n0", "--policy", "use", "--amt-host", addresses[0])
        code, _, err = run_cli(capsys, *early)
        assert code == RefusedError.exit_code
        assert "not activated (pre-provisioning)" in err
        assert "mewarden host activate" in err
        monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
        _activate_all(emu, capsys, mode, cert)
        for index, address in enumerate(addresses):
            enroll = ("node", "enroll", f"n{index}", "--policy", "use", "--amt-host", address)
            enrolled = json_of(run_cli(capsys, *enroll, *consent, "--json"))
            assert enrolled["identity"]["uuid"] == emu.fleet.devices[index].uuid
        assert emu.state().opt_in_required == (0 if mode == "acm" else 0xFFFFFFFF)
        # the activation password was rotated away: it no longer opens the device
        with pytest.raises(AmtAuthError):
            _realm(addresses[0], NEW_PASSWORD)
        monkeypatch.delenv("MEWARDEN_AMT_PASSWORD")  # heal uses the vault
        settings = tmp_path / "settings.json"
        settings.write_text(json.dumps({"startup_grace_s": 0.01, "unhealthy_after_s": 0.2}))
        emu.call(lambda: emu.fleet.inject_fault(addresses[0], "hang-host"))
        heal = ("heal", "once", "--settings", str(settings), "--timeout", "1", "--json")
        for _ in range(8):
            assert run_cli(capsys, *heal)[0] == 0
            if any(r.kind == "power-request" for r in emu.call(lambda: emu.fleet.action_log)):
                break
        actions = emu.call(lambda: emu.fleet.action_log)
        assert [r.address for r in actions if r.kind == "power-request"] == [addresses[0]]
        events = json_of(run_cli(capsys, "events", "--node", "n0", "--json"))
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
