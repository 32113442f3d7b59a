"""Pure parts: digest maths, challenge parsing, fleet files, secrets, Put bodies, validation."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from mewarden.amt.accounts import admin_digest_password, check_password_strength
from mewarden.amt.boot import READ_ONLY_FIELDS, BootTarget, boot_setting_props
from mewarden.amt.digest import Challenge, digest_response, parse_challenge
from mewarden.amt.network import AddressMode, EthernetChange, ethernet_props
from mewarden.amt.redirection import requested_state
from mewarden.amt.targets import (
    check_class_name,
    parse_fleet_file,
    parse_host,
    parse_selectors,
    read_secret,
)
from mewarden.errors import AmtAuthError, BadInputError
from mewarden.secret import Secret
from mewarden.wsman.parse import parse_response
from mewarden.wsman.resources import RedirectionState
from tests.support import require_corpus


def test_rfc2617_digest_example() -> None:
    # RFC 2617 §3.5: Mufasa / "Circle Of Life" -> response 6629fae49393a05397450978507c4ef1
    ha1 = hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    challenge = Challenge(
        realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth"
    )
    response = digest_response(
        ha1=ha1, challenge=challenge, method="GET", uri="/dir/index.html", nc=1, cnonce="0a4f113b"
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_amt_challenge_without_spaces() -> None:
    # reference §6: no space after the commas following nonce
    header = (
        'Digest realm="Digest:ABCDEF0123456789ABCDEF0123456789", '
        'nonce="abc/+=",stale="false",qop="auth"'
    )
    challenge = parse_challenge(header)
    assert challenge.realm == "Digest:ABCDEF0123456789ABCDEF0123456789"
    assert challenge.nonce == "abc/+="
    assert challenge.qop == "auth"
    assert not challenge.stale


def test_auth_int_offer_falls_back_to_auth() -> None:
    assert parse_challenge('Digest realm="r", nonce="n", qop="auth-int, auth"').qop == "auth"


@pytest.mark.parametrize(
    "header",
    ['Basic realm="x"', 'Digest realm="r"', 'Digest realm="r", nonce="n", qop="auth-int"'],
)
def test_unusable_challenges(header: str) -> None:
    with pytest.raises(AmtAuthError):
        parse_challenge(header)


def test_admin_digest_password_formula() -> None:
    realm = "Digest:F3EB554784E729164447A89F60B641C5"
    raw = hashlib.md5(f"admin:{realm}:N3w-Passw0rd!".encode()).digest()
    assert admin_digest_password(realm, Secret("N3w-Passw0rd!")) == base64.b64encode(raw).decode()


@pytest.mark.parametrize("weak", ["short1!", "alllowercase1!", "NoDigits!!", "NoSymbol123"])
def test_weak_passwords(weak: str) -> None:
    with pytest.raises(BadInputError) as info:
        check_password_strength(Secret(weak))
    assert weak not in str(info.value)


def test_fleet_file() -> None:
    hosts = parse_fleet_file(b"# rack 1\nnode1\nnode2:16993  # tls\n\n[fe80::1]:16992\n10.0.0.1\n")
    assert [(h.host, h.port) for h in hosts] == [
        ("node1", None),
        ("node2", 16993),
        ("fe80::1", 16992),
        ("10.0.0.1", None),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no hosts"),
        (b"a\na\n", "twice"),
        (b"a:99999\n", "port"),
        (b"bad host\n", "SHA-256"),
        (b"[::1\n", "not a host"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_bad_fleet_files(data: bytes, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_fleet_file(data)


def test_parse_host_ipv6_without_port() -> None:
    assert parse_host("[::1]").host == "::1"


def test_selectors_and_class_names() -> None:
    assert parse_selectors(["InstanceID=a=b"]) == (("InstanceID", "a=b"),)
    with pytest.raises(BadInputError):
        parse_selectors(["novalue"])
    assert check_class_name("CIM_Chassis") == "CIM_Chassis"
    for bad in ("Chassis", "CIM_", "XYZ_Foo", "CIM_a/b"):
        with pytest.raises(BadInputError):
            check_class_name(bad)


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_PW", raising=False)
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\nignored\n")
    assert (
        read_secret(env_name="X_PW", file=str(secret_file), prompt=None, what="password").reveal()
        == "from-file"
    )
    monkeypatch.setenv("X_PW", "from-env")
    assert (
        read_secret(env_name="X_PW", file=None, prompt=None, what="password").reveal() == "from-env"
    )
    monkeypatch.delenv("X_PW")
    assert (
        read_secret(env_name="X_PW", file=None, prompt=lambda: "typed", what="password").reveal()
        == "typed"
    )
    with pytest.raises(BadInputError, match="X_PW"):
        read_secret(env_name="X_PW", file=None, prompt=None, what="password")
    (tmp_path / "empty").write_text("")
    with pytest.raises(BadInputError, match="empty"):
        read_secret(env_name="X_PW", file=str(tmp_path / "empty"), prompt=None, what="password")


def _boot_settings() -> object:
    path = require_corpus() / "responses/amt/boot/settingdata/get.xml"
    return parse_response(path.read_bytes()).first


def test_boot_put_strips_read_only_fields_and_sets_ours() -> None:
    current = _boot_settings()
    props = dict(boot_setting_props(current, BootTarget.BIOS, use_sol=True))  # type: ignore[arg-type]
    assert not READ_ONLY_FIELDS & set(props)
    assert props["BIOSSetup"] is True
    assert props["UseSOL"] is True
    assert props["UseIDER"] is False
    assert props["InstanceID"] == "Intel(r) AMT:BootSettingData 0"
    assert props["EnforceSecureBoot"] == "false"  # preserved from the device


def test_ider_floppy_props() -> None:
    props = dict(boot_setting_props(_boot_settings(), BootTarget.IDER_FLOPPY, use_sol=False))  # type: ignore[arg-type]
    assert props["UseIDER"] is True
    assert props["IDERBootDevice"] == 0


def test_network_modes_follow_the_reference_table() -> None:
    current = parse_response(
        (require_corpus() / "responses/amt/ethernetport/get.xml").read_bytes()
    ).first
    dhcp = dict(ethernet_props(current, EthernetChange(mode=AddressMode.DHCP)))
    assert (dhcp["DHCPEnabled"], dhcp["IpSyncEnabled"], dhcp["SharedStaticIp"]) == (
        True,
        True,
        False,
    )
    assert "IPAddress" not in dhcp
    shared = dict(ethernet_props(current, EthernetChange(mode=AddressMode.SHARED)))
    assert (shared["DHCPEnabled"], shared["IpSyncEnabled"], shared["SharedStaticIp"]) == (
        False,
        True,
        True,
    )
    static = dict(
        ethernet_props(
            current,
            EthernetChange(mode=AddressMode.STATIC, ip_address="10.1.2.3", subnet_mask="255.0.0.0"),
        )
    )
    assert (static["DHCPEnabled"], static["IpSyncEnabled"], static["SharedStaticIp"]) == (
        False,
        False,
        False,
    )
    assert static["IPAddress"] == "10.1.2.3"
    assert "DefaultGateway" not in static  # the old gateway is dropped, not silently kept


@pytest.mark.parametrize(
    "change",
    [
        EthernetChange(mode=AddressMode.STATIC, ip_address="10.1.2.3"),
        EthernetChange(mode=AddressMode.STATIC, ip_address="10.1.2.300", subnet_mask="255.0.0.0"),
        EthernetChange(mode=AddressMode.DHCP, ip_address="10.1.2.3"),
    ],
)
def test_bad_network_changes(change: EthernetChange) -> None:
    current = parse_response(
        (require_corpus() / "responses/amt/ethernetport/get.xml").read_bytes()
    ).first
    with pytest.raises(BadInputError):
        ethernet_props(current, change)


def test_redirection_state_numbers() -> None:
    # reference §1.9: 32768 base, +1 IDER, +2 SOL
    assert requested_state(sol=False, ider=False) is RedirectionState.IDER_SOL_DISABLED
    assert requested_state(sol=False, ider=True) == 32769
    assert requested_state(sol=True, ider=False) == 32770
    assert requested_state(sol=True, ider=True) == 32771


def test_fleet_file_pin_column() -> None:
    pin = "AB:" * 31 + "AB"
    (first, second) = parse_fleet_file(f"node1 {pin}\nnode2:16993\n".encode())
    assert first.pin == "ab" * 32
    assert second.pin is None
    with pytest.raises(BadInputError, match="SHA-256"):
        parse_fleet_file(b"node1 not-a-pin\n")
    with pytest.raises(BadInputError, match="expected"):
        parse_fleet_file(b"node1 " + b"ab" * 32 + b" extra\n")
