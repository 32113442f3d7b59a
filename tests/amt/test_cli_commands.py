"""More ``mewarden amt`` commands against the fake AMT: every boot target, power on as a
device that is off offers it, and the user-consent policy in admin and client control mode."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mewarden.errors import AmtUnsupportedError

OPT_IN = "IPS_OptInService"
ALL = 4294967295  # OptInRequired "all redirection" (reference §1.9)


def _json(result: tuple[int, str, str]) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def _calls(fake: Any) -> list[tuple[str, str]]:
    return [(s.class_name, s.method) for s in fake.seen]


def _corpus_reply(fake: Any, class_name: str, **values: str | list[str]) -> bytes:
    """The corpus Get reply for ``class_name`` with properties replaced (lists: repeated)."""
    body: str = fake._file(class_name, "get").decode()
    for name, value in values.items():
        texts = value if isinstance(value, list) else [value]
        pattern = rf"(<(\w+):{name}>[^<]*</\2:{name}>)+"
        match = re.search(pattern, body)
        assert match, name
        prefix = match.group(2)
        new = "".join(f"<{prefix}:{name}>{t}</{prefix}:{name}>" for t in texts)
        body = body[: match.start()] + new + body[match.end() :]
    return body.encode()


BOOT_SEQUENCE_WITH_SOURCE = [
    ("AMT_BootSettingData", "Get"),
    ("CIM_BootConfigSetting", "ChangeBootOrder"),
    ("AMT_BootSettingData", "Put"),
    ("CIM_BootService", "SetBootConfigRole"),
    ("CIM_BootConfigSetting", "ChangeBootOrder"),
    ("CIM_AssociatedPowerManagementService", "Get"),
    ("CIM_PowerManagementService", "RequestPowerStateChange"),
]


@pytest.mark.parametrize(
    ("target", "source"),
    [("disk", b"Intel(r) AMT: Force Hard-drive Boot"), ("cd", b"Intel(r) AMT: Force CD/DVD Boot")],
)
def test_boot_disk_and_cd_set_their_source_then_reset(
    amt_cli: Any,
    target: str,
    source: bytes,
) -> None:
    data = _json(amt_cli("boot", target, "--json"))
    assert data["target"] == target
    assert data["power_state"] == "master-bus-reset"
    seen = amt_cli.fake.seen
    assert _calls(amt_cli.fake) == BOOT_SEQUENCE_WITH_SOURCE
    assert b"<h:BIOSSetup>false</h:BIOSSetup>" in seen[2].xml
    assert b"<h:UseIDER>false</h:UseIDER>" in seen[2].xml
    assert source in seen[4].xml
    assert b"<h:PowerState>10</h:PowerState>" in seen[6].xml


def test_boot_bios_sets_bios_setup_and_no_source(amt_cli: Any) -> None:
    data = _json(amt_cli("boot", "bios", "--json"))
    assert data["source"] is None
    calls = _calls(amt_cli.fake)
    assert calls.count(("CIM_BootConfigSetting", "ChangeBootOrder")) == 1  # only the clearing
    put = amt_cli.fake.seen[2]
    assert (put.class_name, put.method) == ("AMT_BootSettingData", "Put")
    assert b"<h:BIOSSetup>true</h:BIOSSetup>" in put.xml
    assert calls[-1] == ("CIM_PowerManagementService", "RequestPowerStateChange")


def test_boot_of_a_host_that_is_off_powers_it_on(amt_cli: Any) -> None:
    amt_cli.fake.power_state = 8
    data = _json(amt_cli("boot", "pxe", "--json"))
    assert data["power_state"] == "power-on"
    assert b"<h:PowerState>2</h:PowerState>" in amt_cli.fake.seen[-1].xml


def test_power_on_without_force_when_the_device_offers_it(amt_cli: Any) -> None:
    # an AMT host that is off offers power on (2) among its available states
    power = "CIM_AssociatedPowerManagementService"
    reply = _corpus_reply(
        amt_cli.fake, power, PowerState="8", AvailableRequestedPowerStates=["2", "5", "10"]
    )
    amt_cli.fake.overrides["Get"] = reply
    data = _json(amt_cli("power", "on", "--json"))
    assert data == {"requested": "power-on", "accepted": True, "previous": "power-off-hard"}
    sent = amt_cli.fake.seen[-1]
    assert sent.method == "RequestPowerStateChange"
    assert b"<h:PowerState>2</h:PowerState>" in sent.xml


def _opt_in(fake: Any, *, required: int, can_modify: str) -> None:
    fake.overrides["Get"] = _corpus_reply(
        fake, OPT_IN, OptInRequired=str(required), CanModifyOptInPolicy=can_modify
    )


@pytest.mark.parametrize(("policy", "number"), [("kvm", 1), ("all", ALL)])
def test_consent_policy_in_admin_control_mode(
    amt_cli: Any,
    policy: str,
    number: int,
) -> None:
    _opt_in(amt_cli.fake, required=0, can_modify="1")  # ACM: policy none, may be changed
    amt_cli.fake.overrides["Put"] = _corpus_reply(
        amt_cli.fake, OPT_IN, OptInRequired=str(number), CanModifyOptInPolicy="1"
    )
    data = _json(amt_cli("consent", "policy", policy, "--json"))
    assert data["required"] == policy
    (put,) = [s for s in amt_cli.fake.seen if s.method == "Put"]
    assert put.class_name == OPT_IN
    assert f"<h:OptInRequired>{number}</h:OptInRequired>".encode() in put.xml


def test_consent_policy_already_in_place_writes_nothing(amt_cli: Any) -> None:
    data = _json(amt_cli("consent", "policy", "none", "--json"))  # the corpus device: none
    assert data["required"] == "none"
    assert _calls(amt_cli.fake) == [(OPT_IN, "Get")]


def test_consent_policy_refused_in_client_control_mode(amt_cli: Any) -> None:
    _opt_in(amt_cli.fake, required=ALL, can_modify="0")  # CCM: fixed to all
    code, out, err = amt_cli("consent", "policy", "none", "--json")
    assert code == AmtUnsupportedError.exit_code == 7
    assert out == ""
    assert "client control mode" in err
    assert len(err.strip().splitlines()) == 1
    assert "Put" not in [s.method for s in amt_cli.fake.seen]
    # asking for what CCM already enforces is not an error
    assert _json(amt_cli("consent", "policy", "all", "--json"))["required"] == "all"


def test_consent_policy_rejects_unknown_names(amt_cli: Any) -> None:
    code, _, err = amt_cli("consent", "policy", "sometimes")
    assert code == 2
    assert "none" in err
    assert not amt_cli.fake.seen
