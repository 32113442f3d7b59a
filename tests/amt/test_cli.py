"""Every ``mewarden amt`` command against the fake AMT (in-process, through ``cli.main.main``).

Expected values come from the corpus files the fake replays (quoted), the reference's formulas
(the admin digest password), or the requests the fake recorded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.amt.conftest import ThreadedFake
from tests.amt.fakeamt import REALM, FakeAmt
from tests.support import require_corpus

Result = tuple[int, str, str]


def _json(result: Result) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def _methods(fake: Any) -> list[str]:
    return [s.method for s in fake.seen]


def test_info(amt_cli: Any) -> None:
    data = _json(amt_cli("info", "--json"))
    assert data["identity"]["digest_realm"] == REALM
    assert data["identity"]["amt_version"] == "12.0.67"
    assert data["provisioning"]["mode"] == "admin-control"  # ProvisioningMode 1 in the file
    assert data["power"]["state"] == "power-on"


def test_info_human_output(amt_cli: Any) -> None:
    code, out, _ = amt_cli("info")
    assert code == 0
    assert "12.0.67" in out
    assert "amt version" in out  # nested values are labelled rows, not JSON in a cell
    for leak in ("{", '"', "None", "True"):
        assert leak not in out


def test_power_status(amt_cli: Any) -> None:
    data = _json(amt_cli("power", "status", "--json"))
    assert data["state"] == "power-on"
    assert "master-bus-reset" in data["available"]  # 10 is in AvailableRequestedPowerStates


@pytest.mark.parametrize(
    ("action", "number"),
    [("reset", 10), ("cycle", 5), ("off", 8), ("soft-off", 12), ("soft-reset", 14)],
)
def test_power_change_sends_the_cim_number(amt_cli: Any, action: str, number: int) -> None:
    data = _json(amt_cli("power", action, "--json"))
    assert data["accepted"] is True
    sent = amt_cli.fake.seen[-1]
    assert sent.method == "RequestPowerStateChange"
    assert f"<h:PowerState>{number}</h:PowerState>".encode() in sent.xml


def test_power_on_when_not_offered_is_unsupported_unless_forced(amt_cli: Any) -> None:
    code, _, err = amt_cli("power", "on")
    assert code == 7
    assert "does not offer power state 2" in err
    assert "RequestPowerStateChange" not in _methods(amt_cli.fake)
    assert _json(amt_cli("power", "on", "--force", "--json"))["requested"] == "power-on"


def test_boot_pxe_follows_the_reference_sequence(amt_cli: Any) -> None:
    data = _json(amt_cli("boot", "pxe", "--json"))
    assert data["power_state"] == "master-bus-reset"
    seen = amt_cli.fake.seen
    assert [(s.class_name, s.method) for s in seen] == [
        ("AMT_BootSettingData", "Get"),
        ("CIM_BootConfigSetting", "ChangeBootOrder"),
        ("AMT_BootSettingData", "Put"),
        ("CIM_BootService", "SetBootConfigRole"),
        ("CIM_BootConfigSetting", "ChangeBootOrder"),
        ("CIM_AssociatedPowerManagementService", "Get"),
        ("CIM_PowerManagementService", "RequestPowerStateChange"),
    ]
    assert b"Source" not in seen[1].xml  # cleared order: element omitted, never empty
    put = seen[2].xml
    for read_only in (
        b"WinREBootEnabled",
        b"BootguardStatus",
        b"OptionsCleared",
        b"BIOSLastStatus",
    ):
        assert read_only not in put
    assert b"<h:Role>1</h:Role>" in seen[3].xml
    assert b"Intel(r) AMT: Force PXE Boot" in seen[4].xml
    assert b"<h:PowerState>10</h:PowerState>" in seen[6].xml


def test_boot_ider_cd_without_reset(amt_cli: Any) -> None:
    _json(amt_cli("boot", "cd", "--ider", "--no-reset", "--json"))
    methods = _methods(amt_cli.fake)
    assert "RequestPowerStateChange" not in methods
    assert methods.count("ChangeBootOrder") == 1  # IDER: no boot source
    put = amt_cli.fake.seen[2].xml
    assert b"<h:UseIDER>true</h:UseIDER>" in put
    assert b"<h:IDERBootDevice>1</h:IDERBootDevice>" in put


def test_boot_floppy_needs_ider(amt_cli: Any) -> None:
    code, _, err = amt_cli("boot", "floppy")
    assert code == 2
    assert "--ider" in err
    assert not amt_cli.fake.seen


def test_inventory(amt_cli: Any) -> None:
    data = _json(amt_cli("inventory", "--json"))
    assert data["system"]["model"] == "NUC9V7QNX"  # cim/chassis/get.xml
    assert data["baseboard"]["model"] == "NUC9V7QNB"  # cim/card/get.xml
    assert len(data["memory"]) == 2  # two CIM_PhysicalMemory in the pull
    assert data["processors"]


def test_events_and_audit(amt_cli: Any) -> None:
    events = _json(amt_cli("events", "--json"))
    assert len(events) == 3  # three RecordArray entries in getrecords.xml
    assert events[0]["event_data"] == "aa0a000000000000"
    audit = _json(amt_cli("audit", "--json"))
    assert [r["app_id"] for r in audit] == ["firmware-update-manager"] * 2


def test_network_show_and_set(amt_cli: Any) -> None:
    assert _json(amt_cli("network", "show", "--json"))["mac_address"] == "c8-d9-d2-7a-1e-33"
    args = ("network", "set", "--mode", "static", "--ip", "10.0.0.5", "--mask", "255.255.255.0")
    _json(amt_cli(*args, "--json"))
    put = amt_cli.fake.seen[-1]
    assert put.method == "Put"
    assert b"<h:DHCPEnabled>false</h:DHCPEnabled>" in put.xml
    assert b"<h:IpSyncEnabled>false</h:IpSyncEnabled>" in put.xml
    assert b"<h:IPAddress>10.0.0.5</h:IPAddress>" in put.xml
    assert b'Name="InstanceID">Intel(r) AMT Ethernet Port Settings 0<' in put.xml


def test_network_set_static_without_address_is_bad_input(amt_cli: Any) -> None:
    code, _, err = amt_cli("network", "set", "--mode", "static")
    assert code == 2
    assert "--ip" in err
    assert not amt_cli.fake.seen


def test_password_set_sends_the_digest_not_the_password(
    amt_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = "N3w-Passw0rd!"
    monkeypatch.setenv("MEWARDEN_AMT_NEW_PASSWORD", new)
    code, out, err = amt_cli("password", "set", "--json")
    assert code == 0, err
    sent = amt_cli.fake.seen[-1]
    assert sent.method == "SetAdminAclEntryEx"
    # reference §1.8: base64 of the raw MD5("admin:" + DigestRealm + ":" + password)
    expected = base64.b64encode(hashlib.md5(f"admin:{REALM}:{new}".encode()).digest()).decode()
    assert f"<h:DigestPassword>{expected}</h:DigestPassword>".encode() in sent.xml
    assert all(new.encode() not in s.xml for s in amt_cli.fake.seen)
    assert new not in out + err


def test_weak_new_password_is_refused_before_any_request(
    amt_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_NEW_PASSWORD", "short")
    code, _, err = amt_cli("password", "set")
    assert code == 2
    assert "short" not in err
    assert not amt_cli.fake.seen


def test_redirection_show_enable_disable(amt_cli: Any) -> None:
    data = _json(amt_cli("redirection", "show", "--json"))
    assert data["enabled_state"] == "ider-sol-enabled"  # 32771 in redirectionservice/get.xml
    _json(amt_cli("redirection", "disable", "--sol", "--json"))
    change = next(s for s in amt_cli.fake.seen if s.method == "RequestStateChange")
    assert b"<h:RequestedState>32769</h:RequestedState>" in change.xml  # IDER only
    put = next(s for s in amt_cli.fake.seen if s.method == "Put")
    assert b"<h:ListenerEnabled>true</h:ListenerEnabled>" in put.xml


def test_redirection_enable_kvm_and_port_5900(amt_cli: Any, tmp_path: Path) -> None:
    rfb = tmp_path / "rfb"
    rfb.write_text("Ab1!Ab1!\n")
    _json(
        amt_cli("redirection", "enable", "--port-5900", "--rfb-password-file", str(rfb), "--json")
    )
    settings = [s for s in amt_cli.fake.seen if s.class_name == "IPS_KVMRedirectionSettingData"]
    (put,) = [s for s in settings if s.method == "Put"]
    assert b"<h:Is5900PortEnabled>true</h:Is5900PortEnabled>" in put.xml


def _output(method: str, return_value: int) -> bytes:
    return (
        '<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:g="http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"><a:Header/>'
        f"<a:Body><g:{method}_OUTPUT><g:ReturnValue>{return_value}</g:ReturnValue>"
        f"</g:{method}_OUTPUT></a:Body></a:Envelope>"
    ).encode()


def test_consent_flow(amt_cli: Any) -> None:
    data = _json(amt_cli("consent", "status", "--json"))
    assert data["required"] == "none"
    code, _, err = amt_cli("consent", "start")  # ips/optin/startoptin.xml answers ReturnValue 2
    assert code == 9
    assert "ReturnValue 2" in err
    for method in ("StartOptIn", "SendOptInCode", "CancelOptIn"):
        amt_cli.fake.overrides[method] = _output(method, 0)
    assert _json(amt_cli("consent", "start", "--json")) == {"started": True}
    assert _json(amt_cli("consent", "code", "123456", "--json")) == {"accepted": True}
    sent = amt_cli.fake.seen[-1]
    assert b"<h:OptInCode>123456</h:OptInCode>" in sent.xml
    assert _json(amt_cli("consent", "cancel", "--json")) == {"cancelled": True}


def test_consent_bad_code(amt_cli: Any) -> None:
    code, _, _ = amt_cli("consent", "code", "12ab")
    assert code == 2
    assert not amt_cli.fake.seen


def test_time_show_and_sync(amt_cli: Any) -> None:
    assert _json(amt_cli("time", "show", "--json"))["amt_time"] == 1704586865  # Ta0 in the file
    data = _json(amt_cli("time", "sync", "--json"))
    sent = amt_cli.fake.seen[-1]
    assert sent.method == "SetHighAccuracyTimeSynch"
    assert b"<h:Ta0>1704586865</h:Ta0>" in sent.xml
    assert data["amt_time"] == 1704586865


def test_tls_settings(amt_cli: Any) -> None:
    data = _json(amt_cli("tls", "--json"))
    assert [t["instance_id"] for t in data] == [
        "Intel(r) AMT 802.3 TLS Settings",
        "Intel(r) AMT LMS TLS Settings",
    ]


def test_deactivate_needs_yes(amt_cli: Any) -> None:
    code, _, err = amt_cli("deactivate")
    assert code == 3
    assert "--yes" in err
    assert not amt_cli.fake.seen
    assert _json(amt_cli("deactivate", "--yes", "--json")) == {"deactivated": True}
    assert b"<h:ProvisioningMode>1</h:ProvisioningMode>" in amt_cli.fake.seen[-1].xml


def test_raw_get_and_enumerate(amt_cli: Any) -> None:
    data = _json(amt_cli("get", "AMT_GeneralSettings", "--json"))
    assert data["properties"]["DigestRealm"] == REALM
    selector = "InstanceID=Intel(r) AMT Ethernet Port Settings 0"
    data = _json(amt_cli("get", "AMT_EthernetPortSettings", "--selector", selector, "--json"))
    assert data["properties"]["LinkPolicy"] == ["1", "14"]
    assert b'Name="InstanceID">Intel(r) AMT Ethernet Port Settings 0<' in amt_cli.fake.seen[-1].xml
    items = _json(amt_cli("enumerate", "CIM_SoftwareIdentity", "--json"))
    assert len(items) == 11  # eleven CIM_SoftwareIdentity instances in the pull


@pytest.mark.parametrize(
    "args", [("get", "Chassis"), ("get", "CIM_Chassis", "--selector", "novalue")]
)
def test_raw_access_bad_input(amt_cli: Any, args: tuple[str, ...]) -> None:
    code, _, _ = amt_cli(*args)
    assert code == 2


def test_fleet_with_summary(amt_cli: Any, threaded_amt: ThreadedFake, tmp_path: Path) -> None:
    second = ThreadedFake(FakeAmt(corpus=require_corpus()))
    try:
        fleet = tmp_path / "fleet.txt"
        fleet.write_text(
            f"# lab\n127.0.0.1:{threaded_amt.port}\n127.0.0.1:{second.port}  # rack 2\n"
            "127.0.0.1:1\n"
        )
        code, out, _err = amt_cli(
            "--fleet", str(fleet), "--timeout", "2", "power", "status", "--json", host=False
        )
        assert code == 4  # one host unreachable
        data = json.loads(out)
        assert data["summary"]["succeeded"] == 2
        assert data["summary"]["by_error"] == {"AmtUnreachableError": 1}
        assert [d["ok"] for d in data["devices"]] == [True, True, False]
        assert len(second.fake.seen) == 1
        code, out, _ = amt_cli("--fleet", str(fleet), "power", "status", host=False)
        assert re.search(r"2/3 ok", out)
    finally:
        second.stop()


def test_fleet_file_errors(amt_cli: Any, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.txt"
    fleet.write_text("a.example\na.example\n")
    code, _, err = amt_cli("--fleet", str(fleet), "power", "status", host=False)
    assert code == 2
    assert "twice" in err
    code, _, _ = amt_cli("--fleet", str(tmp_path / "missing"), "power", "status", host=False)
    assert code == 2
    fleet.write_text("a.example\n")
    code, _, err = amt_cli("--fleet", str(fleet), "--pin", "ab" * 32, "power", "status", host=False)
    assert code == 2
    assert "fleet file" in err
