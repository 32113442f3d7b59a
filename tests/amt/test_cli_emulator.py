"""Every ``mewarden amt`` command against the project's emulator (through ``cli.main.main``).

The fake in ``fakeamt.py`` replays corpus captures, so ``test_cli.py`` checks what the client
sends; here the other side is a device that keeps state, so each test checks that the command
had its effect *on the device* (power, boot target, network, passwords, consent, clock), read
from the emulator's own state, plus the reference's formulas where they apply.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mewarden.cli.main import main
from mewarden.emulate import cim_inventory
from mewarden.emulate.cimbase import Context
from mewarden.emulate.values import ControlMode
from tests.amt.emulated import PASSWORD, ThreadedEmulator

Result = tuple[int, str, str]


@pytest.fixture
def emu() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator() as running:
        yield running


@pytest.fixture
def cli(
    emu: ThreadedEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    def run(*args: str, password: str = PASSWORD, timeout: str = "5") -> Result:
        monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", password)
        argv = ["amt", "--host", emu.host(), "--timeout", timeout, *args]
        with pytest.raises(SystemExit) as info:
            main(argv)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        assert password not in out + err
        return int(info.value.code or 0), out, err

    return run


def _json(result: Result) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def wait_until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the emulated device never got there"
        time.sleep(0.05)


def test_info_reports_the_device_identity(cli: Any, emu: ThreadedEmulator) -> None:
    data = _json(cli("info", "--json"))
    assert data["identity"]["digest_realm"] == emu.device().realm
    assert data["identity"]["realm_valid"] is True
    assert data["identity"]["amt_version"] == emu.state().identity.amt_version
    assert data["power"]["state"] == "power-on"


@pytest.mark.parametrize(
    ("action", "number", "ends_on"),
    [("off", 8, False), ("soft-off", 12, False), ("reset", 10, True), ("cycle", 5, True)],
)
def test_power_change_reaches_the_device(
    cli: Any, emu: ThreadedEmulator, action: str, number: int, ends_on: bool
) -> None:
    boots = emu.state().boot_count
    assert _json(cli("power", action, "--json"))["accepted"] is True
    assert ("power-request", str(number)) in emu.actions()
    if ends_on:
        wait_until(lambda: emu.state().boot_count > boots and emu.state().host_up)
    else:
        wait_until(lambda: not emu.state().powered)
        assert _json(cli("power", "status", "--json"))["state"] == "power-off-hard"


def test_power_on_only_when_the_device_offers_it(cli: Any, emu: ThreadedEmulator) -> None:
    code, _, err = cli("power", "on")
    assert code == 7  # AvailableRequestedPowerStates of a running machine lacks 2
    assert "does not offer power state 2" in err
    _json(cli("power", "off", "--json"))
    wait_until(lambda: not emu.state().powered)
    assert _json(cli("power", "status", "--json"))["available"] == ["power-on"]
    _json(cli("power", "on", "--json"))
    wait_until(lambda: emu.state().host_up)


def test_boot_pxe_reenrolls_the_host(cli: Any, emu: ThreadedEmulator) -> None:
    before = emu.state().reenroll_count
    data = _json(cli("boot", "pxe", "--json"))
    assert data["power_state"] == "master-bus-reset"
    wait_until(lambda: emu.state().reenroll_count == before + 1)
    assert ("boot-start", "pxe") in emu.actions()
    _json(cli("power", "reset", "--json"))  # one-shot: the next boot is the default again
    wait_until(lambda: emu.actions().count(("boot-start", "default")) >= 1)
    assert emu.state().reenroll_count == before + 1


@pytest.mark.parametrize(
    ("args", "target"), [(("bios",), "bios"), (("cd", "--ider"), "ider"), (("disk",), "hdd")]
)
def test_boot_without_reset_waits_for_the_next_boot(
    cli: Any, emu: ThreadedEmulator, args: tuple[str, ...], target: str
) -> None:
    _json(cli("boot", *args, "--no-reset", "--json"))
    assert not any(kind == "power-request" for kind, _ in emu.actions())
    _json(cli("power", "reset", "--json"))
    wait_until(lambda: ("boot-start", target) in emu.actions())


def test_inventory_is_the_devices_hardware(cli: Any, emu: ThreadedEmulator) -> None:
    data = _json(cli("inventory", "--json"))
    ctx = Context(now=0.0, wall=0.0)
    state = emu.state()
    (chassis,) = cim_inventory.chassis(state, ctx)
    assert data["system"]["serial_number"] == chassis["SerialNumber"]
    assert data["system"]["serial_number"] != ""
    assert len(data["memory"]) == len(cim_inventory.physical_memory(state, ctx))
    assert data["processors"][0]["detail"]["CurrentClockSpeed"]
    assert data["storage"][0]["detail"]["MaxMediaSize"]
    assert data["bios"]["version"] == cim_inventory.BIOS_VERSION


def test_events_and_audit_grow_with_actions(cli: Any, emu: ThreadedEmulator) -> None:
    events = len(_json(cli("events", "--json")))
    audit = len(_json(cli("audit", "--json")))
    _json(cli("power", "reset", "--json"))
    wait_until(lambda: emu.state().host_up and emu.state().boot_count >= 1)
    assert len(_json(cli("events", "--json"))) > events
    records = _json(cli("audit", "--json"))
    assert len(records) == audit + 1  # one admin action: the power request
    assert {r["initiator"] for r in records} == {"admin"}  # digest user of every action


def test_network_show_and_set_change_the_device(cli: Any, emu: ThreadedEmulator) -> None:
    shown = _json(cli("network", "show", "--json"))
    assert shown["mac_address"] == emu.device().mac
    assert shown["dhcp_enabled"] is True
    args = (
        "--mode",
        "static",
        "--ip",
        "10.0.0.5",
        "--mask",
        "255.255.255.0",
        "--gateway",
        "10.0.0.1",
    )
    echoed = _json(cli("network", "set", *args, "--json"))
    assert echoed["dhcp_enabled"] is False
    assert emu.state().network.ip_address == "10.0.0.5"
    shown = _json(cli("network", "show", "--json"))
    assert (shown["ip_address"], shown["default_gateway"]) == ("10.0.0.5", "10.0.0.1")
    _json(cli("network", "set", "--mode", "shared", "--json"))
    assert emu.state().network.shared_static_ip is True
    _json(cli("network", "set", "--mode", "dhcp", "--json"))
    assert _json(cli("network", "show", "--json"))["dhcp_enabled"] is True


def test_password_set_changes_the_digest_password(
    cli: Any, emu: ThreadedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = "N3w-Passw0rd!"
    monkeypatch.setenv("MEWARDEN_AMT_NEW_PASSWORD", new)
    code, out, err = cli("password", "set", "--json")
    assert code == 0, err
    assert new not in out + err
    code, _, err = cli("power", "status")
    assert code == 5  # the old password is gone
    assert "rejected user 'admin'" in err
    assert _json(cli("power", "status", "--json", password=new))["state"] == "power-on"


def test_redirection_show_enable_disable(cli: Any, emu: ThreadedEmulator, tmp_path: Path) -> None:
    data = _json(cli("redirection", "show", "--json"))
    assert (data["sol"], data["ider"]) == (True, True)
    assert _json(cli("redirection", "disable", "--sol", "--json"))["sol"] is False
    assert emu.state().redirection_state == 32769  # IDER only (reference §1.9)
    rfb = tmp_path / "rfb"
    rfb.write_text("Ab1!Ab1!\n")
    data = _json(
        cli(
            "redirection",
            "enable",
            "--sol",
            "--port-5900",
            "--rfb-password-file",
            str(rfb),
            "--json",
        )
    )
    assert (data["sol"], data["port_5900"]) == (True, True)
    assert emu.state().kvm.is_5900_port_enabled
    assert emu.state().kvm.rfb_password_set


def test_consent_flow_with_the_code_on_the_screen(cli: Any, emu: ThreadedEmulator) -> None:
    assert _json(cli("consent", "status", "--json"))["required"] == "all"  # CCM (§1.9)
    assert _json(cli("consent", "start", "--json")) == {"started": True}
    address = emu.device().address
    code = emu.call(lambda: emu.fleet.consent_code(address))
    assert code is not None
    assert re.fullmatch(r"\d{6}", code)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert cli("consent", "code", wrong)[0] != 0
    assert _json(cli("consent", "code", code, "--json")) == {"accepted": True}
    assert _json(cli("consent", "status", "--json"))["state"] == "received"
    assert _json(cli("consent", "cancel", "--json")) == {"cancelled": True}
    assert _json(cli("consent", "status", "--json"))["state"] == "not-started"


def test_time_show_and_sync(cli: Any) -> None:
    shown = _json(cli("time", "show", "--json"))
    assert abs(shown["amt_time"] - time.time()) < 60
    synced = _json(cli("time", "sync", "--json"))
    assert abs(synced["host_time_sent"] - time.time()) < 60


def test_tls_settings(cli: Any) -> None:
    data = _json(cli("tls", "--json"))
    assert [t["instance_id"] for t in data] == [  # the two instances of reference §1.10
        "Intel(r) AMT 802.3 TLS Settings",
        "Intel(r) AMT LMS TLS Settings",
    ]


def test_deactivate_unprovisions(cli: Any, emu: ThreadedEmulator) -> None:
    code, _, err = cli("deactivate")
    assert code == 3
    assert "--yes" in err
    assert emu.state().control_mode is ControlMode.CLIENT
    assert _json(cli("deactivate", "--yes", "--json")) == {"deactivated": True}
    assert emu.state().control_mode is ControlMode.PRE_PROVISIONING


def test_raw_get_and_enumerate(cli: Any, emu: ThreadedEmulator) -> None:
    data = _json(cli("get", "AMT_GeneralSettings", "--json"))
    assert data["properties"]["DigestRealm"] == emu.device().realm
    selector = "InstanceID=Intel(r) AMT Ethernet Port Settings 0"
    data = _json(cli("get", "AMT_EthernetPortSettings", "--selector", selector, "--json"))
    assert data["properties"]["MACAddress"] == emu.device().mac
    code, _, err = cli("get", "AMT_EthernetPortSettings", "--selector", "InstanceID=nope")
    assert code == 15  # a SOAP fault (WsmanFaultError)
    assert "InvalidSelectors" in err
    items = _json(cli("enumerate", "CIM_SoftwareIdentity", "--json"))
    versions = {i["properties"]["InstanceID"]: i["properties"]["VersionString"] for i in items}
    assert versions["AMT"] == emu.state().identity.amt_version


def test_fleet_across_emulated_devices(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emulator = ThreadedEmulator(nodes=3)
    try:
        fleet = tmp_path / "fleet.txt"
        fleet.write_text("".join(emulator.host(i) + "\n" for i in range(3)))
        monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", PASSWORD)
        with pytest.raises(SystemExit) as info:
            main(["amt", "--fleet", str(fleet), "power", "cycle", "--json"])
        out, err = capsys.readouterr()
        assert info.value.code == 0, err
        assert json.loads(out)["summary"]["succeeded"] == 3
        for index in range(3):
            assert ("power-request", "5") in emulator.actions(index)  # 5 cycle (§1.3)
    finally:
        emulator.stop()
