"""`host amt-info`, `host activate --mode ccm` and `host deactivate` against the emulator's
simulated MEI endpoint (AMTHI + LME/APF), with LMS absent and present."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.session import get
from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.emulate.values import ControlMode
from mewarden.errors import (
    AmtAuthError,
    AmtReturnValueError,
    BadInputError,
    MeiUnavailableError,
    RefusedError,
)
from mewarden.host.mei_link import default_mei_path
from mewarden.secret import Secret
from tests.host.mei_emulator import (
    NEW_PASSWORD,
    PASSWORD,
    MeiEmulator,
    json_of,
    refused_port,
    run_cli,
)

ROOT_HASH = hashlib.sha256(b"a configured root").digest()


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[MeiEmulator]:
    trust = HostTrust(trusted_root_hashes=(ROOT_HASH,), pki_dns_suffix="corp.example")
    with MeiEmulator(tmp_path / "mei", trust=trust) as running:
        yield running


@pytest.fixture
def no_lms() -> Iterator[str]:
    with refused_port() as address:
        yield address


def _network_realm(address: str, password: str) -> str:
    async def read() -> str:
        endpoint = Endpoint(host=address, password=Secret(password), retries=0, timeout_s=5)
        async with AmtClient(endpoint) as client:
            return (await get(client, "AMT_GeneralSettings")).text("DigestRealm")

    return asyncio.run(read())


def test_amt_info_reports_what_the_device_is(
    emu: MeiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    info = json_of(run_cli(capsys, "host", "amt-info", "--mei", emu.mei_path, "--json"))
    device = emu.fleet.devices[0]
    assert info["uuid"] == device.uuid
    assert info["amt_version"] == device.identity.amt_version
    assert info["build_number"] == device.identity.build_number
    assert info["sku"] == device.identity.sku
    assert (info["control_mode"], info["provisioning_state"]) == ("none", "pre")
    assert info["dns_suffix"] == "corp.example"
    assert info["wired"]["mac_address"] == device.mac.replace("-", ":")
    assert info["wired"]["ipv4_address"] == device.address
    hashes = {h["hash_hex"]: h for h in info["cert_hashes"]}
    assert hashes[ROOT_HASH.hex()]["is_default"] is False
    assert all(h["algorithm"] == "sha256" and h["is_active"] for h in hashes.values())
    assert sum(h["is_default"] for h in hashes.values()) == 2
    assert info["remote_access"]["status"] == "not-connected"
    assert info["problems"] == []
    code, out, _ = run_cli(capsys, "host", "amt-info", "--mei", emu.mei_path)
    assert code == 0
    assert device.uuid in out
    assert "trusted roots" in out


def test_ccm_activation_over_lme_then_local_deactivation(
    emu: MeiEmulator,
    no_lms: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    args = ("host", "activate", "--mode", "ccm", "--mei", emu.mei_path, "--lms", no_lms)
    report = json_of(run_cli(capsys, *args, "--json"))
    assert (report["before"], report["after"]) == ("none", "ccm")
    assert (report["outcome"], report["channel"]) == ("activated", "lme")
    assert report["steps"][-1] == "CommitChanges"
    state = emu.state()
    assert state.control_mode is ControlMode.CLIENT
    assert [e.detail for e in state.events if e.kind == "activated"] == ["CLIENT"]
    # the new password works over the network; the factory one does not any more
    assert _network_realm(emu.address, NEW_PASSWORD) == emu.fleet.devices[0].realm
    with pytest.raises(AmtAuthError):
        _network_realm(emu.address, PASSWORD)
    audit = json_of(run_cli(capsys, "amt", "--host", emu.address, "audit", "--json"))
    assert [(r["app_id"], r["event_id"]) for r in audit] == [("security-admin", 1)]
    again = run_cli(capsys, *args)
    assert again[0] == RefusedError.exit_code
    assert "already activated (client control mode)" in again[2]
    unconfirmed = run_cli(capsys, "host", "deactivate", "--mei", emu.mei_path)
    assert unconfirmed[0] == BadInputError.exit_code
    assert emu.state().control_mode is ControlMode.CLIENT
    done = json_of(run_cli(capsys, "host", "deactivate", "--yes", "--mei", emu.mei_path, "--json"))
    assert (done["before"], done["after"]) == ("ccm", "none")
    assert emu.state().events[-1].kind == "unprovisioned"
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", PASSWORD)  # the factory account again
    audit = json_of(run_cli(capsys, "amt", "--host", emu.address, "audit", "--json"))
    assert [(r["app_id"], r["event_id"]) for r in audit] == [
        ("security-admin", 1),  # provisioning completed
        ("security-admin", 19),  # unprovisioned
    ]
    twice = run_cli(capsys, "host", "deactivate", "--yes", "--mei", emu.mei_path)
    assert twice[0] == RefusedError.exit_code
    assert "not activated" in twice[2]


def test_admin_control_mode_refuses_local_deactivation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MeiEmulator(tmp_path / "mei", mode=ControlMode.ADMIN) as emu:
        code, _, err = run_cli(capsys, "host", "deactivate", "--yes", "--mei", emu.mei_path)
        assert code == RefusedError.exit_code
        assert "mewarden amt --host ADDRESS deactivate --yes" in err
        assert emu.state().control_mode is ControlMode.ADMIN


def test_weak_password_is_refused_before_anything(
    emu: MeiEmulator, no_lms: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    weak = tmp_path / "weak"
    weak.write_text("password\n")
    code, _, err = run_cli(
        capsys,
        "host",
        "activate",
        "--mode",
        "ccm",
        "--password-file",
        str(weak),
        "--mei",
        emu.mei_path,
        "--lms",
        no_lms,
    )
    assert code == BadInputError.exit_code
    assert "8-32 characters" in err
    assert emu.state().control_mode is ControlMode.PRE_PROVISIONING


def test_no_mei_device(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for command in (("amt-info",), ("deactivate", "--yes")):
        code, _, err = run_cli(capsys, "host", *command, "--mei", str(tmp_path / "mei0"))
        assert code == MeiUnavailableError.exit_code
        assert err.count("\n") == 1
        assert "no MEI device" in err
    with pytest.raises(MeiUnavailableError, match="no MEI device on this machine"):
        default_mei_path(str(tmp_path))


@pytest.mark.parametrize(
    ("value", "apply", "outcome"),
    [
        (1, False, "failed"),
        (2, False, "failed"),
        (3, False, "failed"),
        (4, False, "failed"),
        (5, False, "failed"),
        (6, False, "failed"),
        (1, True, "partial"),
    ],
)
def test_setup_errors_from_firmware(
    emu: MeiEmulator,
    no_lms: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: int,
    apply: bool,
    outcome: str,
) -> None:
    from mewarden.emulate.hostsetup_state import ForcedReturn

    emu.call(lambda: emu.fleet.devices[0].state.host_setup.forced.update(
        Setup=ForcedReturn(value, apply=apply)))  # fmt: skip
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    args = ("host", "activate", "--mode", "ccm", "--mei", emu.mei_path, "--lms", no_lms)
    code, out, err = run_cli(capsys, *args, "--json")
    names = {1: "INTERNAL_ERROR", 2: "INVALID_STATE", 3: "INVALID_PARAMETER",
             4: "METHOD_DISABLED", 5: "AUTH_FAILED", 6: "FLASH_WRITE_LIMIT_EXCEEDED"}  # fmt: skip
    assert code == AmtReturnValueError.exit_code
    assert f"ReturnValue {value} ({names[value]})" in err
    if outcome == "failed":
        assert "nothing was activated" in err
        assert out == ""
        assert emu.state().control_mode is ControlMode.PRE_PROVISIONING
    else:
        assert "activation is partial" in err
        assert '"outcome": "partial"' in out
        assert emu.state().control_mode is ControlMode.CLIENT


def test_host_probe_asks_amt_over_the_given_endpoint(
    emu: MeiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json_of(run_cli(capsys, "host", "probe", "--mei", emu.mei_path, "--json"))
    assert report["amt_info"]["uuid"] == emu.fleet.devices[0].uuid
    assert report["amt_info"]["provisioning_state"] == "pre"
    assert report["amt"] == "unprovisioned"


def test_host_record_captures_the_given_endpoint(
    emu: MeiEmulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "tree"
    args = ("host", "record", str(target), "--mei", emu.mei_path, "--json")
    summary = json_of(run_cli(capsys, *args))
    assert summary["mei_sessions"] == 2  # MKHI (refused: not emulated) and AMTHI
    manifest = json.loads((target / "mewarden-record.json").read_text())
    amthi_session = next(s for s in manifest["mei"] if s["client"].startswith("12f80028"))
    assert len(amthi_session["exchanges"]) == 5  # versions, state, mode, UUID, LAN
    assert emu.fleet.devices[0].uuid.replace("-", "")[16:] in str(amthi_session["exchanges"])
