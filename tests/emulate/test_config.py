"""Writes to the configuration classes: what the emulator accepts, rejects and remembers.

Rules come from the reference (amt.md §1.7 address combinations, §1.8 the admin digest
password, §1.9 the 8-character RFB password); requests are built here as strings, answers read with
lxml.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from lxml import etree

from mewarden.emulate.classes import Context
from mewarden.emulate.dispatch import WsmanSession, handle
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode, Identity, Timing

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
AMT = "http://intel.com/wbem/wscim/1/amt-schema/1/"
IPS = "http://intel.com/wbem/wscim/1/ips-schema/1/"
ETHERNET = AMT + "AMT_EthernetPortSettings"
KVM = IPS + "IPS_KVMRedirectionSettingData"
AUTH = AMT + "AMT_AuthorizationService"
TIME = AMT + "AMT_TimeSynchronizationService"
ETHERNET_SELECTOR = (
    '<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT Ethernet Port Settings 0'
    "</w:Selector></w:SelectorSet>"
)
CTX = Context(now=1.0, wall=1_700_000_000.0)


def _envelope(uri: str, action: str, body: str = "", selectors: str = "") -> bytes:
    return (
        '<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header>'
        f"<a:Action>{action}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{uri}</w:ResourceURI>"
        f"<a:MessageID>3</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"
    ).encode()


def _fields(uri: str, fields: dict[str, str]) -> str:
    name = uri.rsplit("/", 1)[1]
    inner = "".join(f"<h:{k}>{v}</h:{k}>" for k, v in fields.items())
    return f'<h:{name} xmlns:h="{uri}">{inner}</h:{name}>'


@pytest.fixture
def dev() -> DeviceState:
    identity = Identity.derive(index=0, address="127.20.0.1")
    return DeviceState.create(identity, Timing(boot_time_s=1.0), now=0.0, mode=ControlMode.CLIENT)


def _send(dev: DeviceState, data: bytes) -> tuple[int, etree._Element]:
    status, reply = handle(data, dev, WsmanSession(), CTX)
    return status, etree.fromstring(reply)


def _get(dev: DeviceState, uri: str, selectors: str = "") -> dict[str, str]:
    status, root = _send(dev, _envelope(uri, f"{TRANSFER}/Get", selectors=selectors))
    assert status == 200
    body = root.find("{*}Body")
    assert body is not None
    return {etree.QName(c).localname: (c.text or "") for c in body[0]}


def _put(dev: DeviceState, uri: str, fields: dict[str, str], selectors: str = "") -> int:
    data = _envelope(uri, f"{TRANSFER}/Put", _fields(uri, fields), selectors)
    return _send(dev, data)[0]


def _subcode(dev: DeviceState, data: bytes) -> str:
    status, root = _send(dev, data)
    assert status == 400
    return root.findtext(".//{*}Subcode/{*}Value") or ""


STATIC = {"DHCPEnabled": "false", "IpSyncEnabled": "false", "SharedStaticIp": "false"}


def test_ethernet_static_address_is_stored_and_served(dev: DeviceState) -> None:
    fields = {**STATIC, "IPAddress": "10.1.2.3", "SubnetMask": "255.255.0.0"}
    assert _put(dev, ETHERNET, fields, ETHERNET_SELECTOR) == 200
    shown = _get(dev, ETHERNET, ETHERNET_SELECTOR)
    assert (shown["DHCPEnabled"], shown["IPAddress"], shown["SubnetMask"]) == (
        "false",
        "10.1.2.3",
        "255.255.0.0",
    )
    dhcp = {"DHCPEnabled": "true", "IpSyncEnabled": "true", "SharedStaticIp": "false"}
    assert _put(dev, ETHERNET, dhcp, ETHERNET_SELECTOR) == 200
    assert _get(dev, ETHERNET)["IPAddress"] == "127.20.0.1"  # the address it is reached at


@pytest.mark.parametrize(
    "fields",
    [
        {**STATIC, "IPAddress": "10.1.2.3"},  # no mask
        {**STATIC, "IPAddress": "10.1.2.300", "SubnetMask": "255.255.0.0"},
        {"DHCPEnabled": "true", "IpSyncEnabled": "false", "SharedStaticIp": "false"},
        {"DHCPEnabled": "false", "IpSyncEnabled": "true", "SharedStaticIp": "false"},
        {"DHCPEnabled": "yes"},
        {"NoSuchProperty": "1"},
    ],
)
def test_ethernet_invalid_writes_are_faults(dev: DeviceState, fields: dict[str, str]) -> None:
    data = _envelope(ETHERNET, f"{TRANSFER}/Put", _fields(ETHERNET, fields), ETHERNET_SELECTOR)
    assert _subcode(dev, data) == "g:InvalidRepresentation"
    assert dev.network.dhcp_enabled  # unchanged


def test_kvm_rfb_password_is_write_only_and_eight_characters(dev: DeviceState) -> None:
    bad = _envelope(KVM, f"{TRANSFER}/Put", _fields(KVM, {"RFBPassword": "short"}))
    assert _subcode(dev, bad) == "g:InvalidRepresentation"
    fields = {"RFBPassword": "Ab1!Ab1!", "Is5900PortEnabled": "true", "OptInPolicy": "false"}
    assert _put(dev, KVM, fields) == 200
    shown = _get(dev, KVM)
    assert shown["Is5900PortEnabled"] == "true"
    assert shown["OptInPolicy"] == "false"
    assert shown["RFBPassword"] == ""
    assert dev.kvm.rfb_password_set


def _set_admin(dev: DeviceState, username: str, digest: str) -> str:
    body = (
        f'<h:SetAdminAclEntryEx_INPUT xmlns:h="{AUTH}"><h:Username>{username}</h:Username>'
        f"<h:DigestPassword>{digest}</h:DigestPassword></h:SetAdminAclEntryEx_INPUT>"
    )
    status, root = _send(dev, _envelope(AUTH, f"{AUTH}/SetAdminAclEntryEx", body))
    assert status == 200
    return root.findtext(".//{*}ReturnValue") or ""


def test_set_admin_acl_entry_takes_the_reference_digest(dev: DeviceState) -> None:
    realm = dev.identity.realm
    raw = hashlib.md5(f"admin:{realm}:N3w-Passw0rd!".encode()).digest()
    assert _set_admin(dev, "admin", "P@ssw0rd") == "2054"  # not base64: invalid password
    assert _set_admin(dev, "admin", base64.b64encode(raw[:8]).decode()) == "2054"
    assert _set_admin(dev, "root", base64.b64encode(raw).decode()) == "16"
    assert dev.admin_ha1 is None
    assert _set_admin(dev, "admin", base64.b64encode(raw).decode()) == "0"
    assert dev.admin_ha1 == hashlib.md5(f"admin:{realm}:N3w-Passw0rd!".encode()).hexdigest()


def test_high_accuracy_time_sync_sets_the_clock(dev: DeviceState) -> None:
    def low() -> int:
        body = f'<h:GetLowAccuracyTimeSynch_INPUT xmlns:h="{TIME}"/>'
        _, root = _send(dev, _envelope(TIME, f"{TIME}/GetLowAccuracyTimeSynch", body))
        return int(root.findtext(".//{*}Ta0") or "0")

    ta0 = low()
    assert ta0 == int(CTX.wall)
    body = (
        f'<h:SetHighAccuracyTimeSynch_INPUT xmlns:h="{TIME}"><h:Ta0>{ta0}</h:Ta0>'
        f"<h:Tm1>{ta0 + 100}</h:Tm1><h:Tm2>{ta0 + 100}</h:Tm2></h:SetHighAccuracyTimeSynch_INPUT>"
    )
    status, root = _send(dev, _envelope(TIME, f"{TIME}/SetHighAccuracyTimeSynch", body))
    assert (status, root.findtext(".//{*}ReturnValue")) == (200, "0")
    assert low() == ta0 + 100
    missing = _envelope(
        TIME,
        f"{TIME}/SetHighAccuracyTimeSynch",
        f'<h:SetHighAccuracyTimeSynch_INPUT xmlns:h="{TIME}"/>',
    )
    assert _subcode(dev, missing) == "g:InvalidRepresentation"
