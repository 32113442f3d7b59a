"""Every response class the emulator serves, held against the real captures in the corpus.

Requests come from the corpus too (Intel's TypeScript builder goldens) where one exists, so the
emulator is driven by someone else's envelopes and judged by someone else's responses: same
body element, same property names, same value kinds (bool / integer / text / reference),
repeated properties repeated, and enumerated values inside the domains the reference gives.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from lxml import etree

from mewarden.emulate.cim_boot import BOOT_READ_ONLY
from mewarden.emulate.classes import CLASSES, Context
from mewarden.emulate.dispatch import WsmanSession, handle
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import resource_uri_of
from mewarden.emulate.values import ControlMode, Identity, Timing
from tests.emulate.helpers import instance_fields, put_fields
from tests.support import require_corpus

SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"

# (class, operation, corpus response file, corpus request glob or "")
CASES: list[tuple[str, str, str, str]] = [
    ("AMT_GeneralSettings", "get", "amt/general/get.xml", "amt/AMT_GeneralSettings__Get__*"),
    ("AMT_GeneralSettings", "pull", "amt/general/pull.xml", ""),
    ("CIM_SoftwareIdentity", "get", "cim/software/identity/get.xml", ""),
    ("CIM_ComputerSystemPackage", "get", "cim/computer/systempackage/get.xml", ""),
    ("CIM_ComputerSystemPackage", "pull", "cim/computer/systempackage/pull.xml", ""),
    ("CIM_SoftwareIdentity", "pull", "cim/software/identity/pull.xml", ""),
    (
        "CIM_AssociatedPowerManagementService",
        "get",
        "cim/associatedpower/managementservice/get.xml",
        "",
    ),
    (
        "CIM_AssociatedPowerManagementService",
        "pull",
        "cim/associatedpower/managementservice/pull.xml",
        "",
    ),
    ("CIM_ServiceAvailableToElement", "pull", "cim/service/availabletoelement/pull.xml", ""),
    ("CIM_PowerManagementService", "get", "cim/power/managementservice/get.xml", ""),
    (
        "CIM_PowerManagementService",
        "RequestPowerStateChange",
        "cim/power/managementservice/requestpowerstatechange.xml",
        "cim/CIM_PowerManagementService__RequestPowerStateChange__*",
    ),
    ("AMT_BootSettingData", "get", "amt/boot/settingdata/get.xml", ""),
    ("AMT_BootSettingData", "pull", "amt/boot/settingdata/pull.xml", ""),
    ("AMT_BootCapabilities", "get", "amt/boot/capabilities/get.xml", ""),
    ("CIM_BootConfigSetting", "get", "cim/boot/configsetting/get.xml", ""),
    (
        "CIM_BootConfigSetting",
        "ChangeBootOrder",
        "cim/boot/configsetting/changebootorder.xml",
        "cim/CIM_BootConfigSetting__ChangeBootOrder__*pxe*",
    ),
    ("CIM_BootSourceSetting", "pull", "cim/boot/sourcesetting/pull.xml", ""),
    ("CIM_BootService", "get", "cim/boot/service/get.xml", ""),
    (
        "CIM_BootService",
        "SetBootConfigRole",
        "cim/boot/service/setbootconfigrole.xml",
        "cim/CIM_BootService__SetBootConfigRole__*",
    ),
    ("AMT_SetupAndConfigurationService", "get", "amt/setupandconfiguration/get.xml", ""),
    ("IPS_HostBasedSetupService", "get", "ips/hostbasedsetup/get.xml", ""),
    (
        "IPS_HostBasedSetupService",
        "Setup",
        "ips/hostbasedsetup/setup.xml",
        "ips/IPS_HostBasedSetupService__Setup__*",
    ),
    (
        "IPS_HostBasedSetupService",
        "AdminSetup",
        "ips/hostbasedsetup/adminsetup.xml",
        "ips/IPS_HostBasedSetupService__AdminSetup__*",
    ),
    (
        "AMT_SetupAndConfigurationService",
        "Unprovision",
        "amt/setupandconfiguration/unprovision.xml",
        "amt/AMT_SetupAndConfigurationService__Unprovision__*message.xml",
    ),
    (
        "AMT_SetupAndConfigurationService",
        "CommitChanges",
        "amt/setupandconfiguration/commitchanges.xml",
        "amt/AMT_SetupAndConfigurationService__CommitChanges__*",
    ),
    ("AMT_TimeSynchronizationService", "get", "amt/timesynchronization/get.xml", ""),
    (
        "AMT_TimeSynchronizationService",
        "GetLowAccuracyTimeSynch",
        "amt/timesynchronization/getlowaccuracytimesynch.xml",
        "amt/AMT_TimeSynchronizationService__GetLowAccuracyTimeSynch__*",
    ),
    ("IPS_OptInService", "get", "ips/optin/get.xml", ""),
    ("IPS_OptInService", "StartOptIn", "ips/optin/startoptin.xml", "ips/IPS_OptInService__Start*"),
    (
        "IPS_OptInService",
        "SendOptInCode",
        "ips/optin/sendoptincode.xml",
        "ips/IPS_OptInService__SendOptInCode__*",
    ),
    ("IPS_OptInService", "CancelOptIn", "ips/optin/canceloptin.xml", "ips/IPS_OptInService__Can*"),
    ("AMT_RedirectionService", "get", "amt/redirectionservice/get.xml", ""),
    (
        "AMT_RedirectionService",
        "RequestStateChange",
        "amt/redirectionservice/requeststatechange.xml",
        "amt/AMT_RedirectionService__RequestStateChange__*",
    ),
    ("CIM_KVMRedirectionSAP", "get", "cim/kvm/get.xml", ""),
    ("IPS_KVMRedirectionSettingData", "get", "ips/kvmredirection/settings/get.xml", ""),
    (
        "IPS_KVMRedirectionSettingData",
        "put",
        "ips/kvmredirection/settings/put.xml",
        "",  # a client's round trip: the golden request carries test values in read-only fields
    ),
    ("AMT_EthernetPortSettings", "get", "amt/ethernetport/get.xml", ""),
    (
        "AMT_EthernetPortSettings",
        "put",
        "amt/ethernetport/put.xml",
        "",
    ),
    ("AMT_BootSettingData", "put", "amt/boot/settingdata/put.xml", ""),
    ("AMT_RedirectionService", "put", "amt/redirectionservice/put.xml", ""),
    ("AMT_TLSSettingData", "get", "amt/tls/settingdata/get.xml", ""),
    ("AMT_TLSSettingData", "pull", "amt/tls/settingdata/pull.xml", ""),
    ("AMT_AuthorizationService", "get", "amt/authorization/get.xml", ""),
    (
        "AMT_AuthorizationService",
        "SetAdminAclEntryEx",
        "amt/authorization/setadminaclentryex.xml",
        "amt/AMT_AuthorizationService__SetAdminAclEntryEx__*",
    ),
    (
        "AMT_TimeSynchronizationService",
        "SetHighAccuracyTimeSynch",
        "amt/timesynchronization/sethighaccuracytimesynch.xml",
        "amt/AMT_TimeSynchronizationService__SetHighAccuracyTimeSynch__*",
    ),
    ("CIM_Processor", "pull", "cim/physical/processor/pull.xml", ""),
    ("CIM_MediaAccessDevice", "pull", "cim/mediaaccess/pull.xml", ""),
    ("CIM_Chassis", "get", "cim/chassis/get.xml", ""),
    ("CIM_Card", "get", "cim/card/get.xml", ""),
    ("CIM_BIOSElement", "get", "cim/bios/element/get.xml", ""),
    ("CIM_PhysicalMemory", "pull", "cim/physical/memory/pull.xml", ""),
    ("AMT_MessageLog", "get", "amt/messagelog/get.xml", ""),
    (
        "AMT_MessageLog",
        "PositionToFirstRecord",
        "amt/messagelog/positiontofirstrecord.xml",
        "amt/AMT_MessageLog__PositionToFirstRecord__*",
    ),
    (
        "AMT_MessageLog",
        "GetRecords",
        "amt/messagelog/getrecords.xml",
        "amt/AMT_MessageLog__GetRecords__*",
    ),
    ("AMT_AuditLog", "get", "amt/auditlog/get.xml", ""),
    (
        "AMT_AuditLog",
        "ReadRecords",
        "amt/auditlog/readrecords.xml",
        "amt/AMT_AuditLog__ReadRecords__*message.xml",
    ),
]

# Enumerated properties and their domains (reference amt.md §1.3, §1.7, §1.9, §1.11).
ENUMS: dict[str, set[str]] = {
    "PowerState": {str(v) for v in range(2, 17)},
    "AvailableRequestedPowerStates": {str(v) for v in range(2, 17)},
    "OptInState": {"0", "1", "2", "3", "4"},
    "OptInRequired": {"0", "1", "4294967295"},
    "CurrentControlMode": {"0", "1", "2"},
    "AllowedControlModes": {"1", "2"},
    "ProvisioningMode": {"1", "4"},
    "ProvisioningState": {"0", "1", "2"},
    "CertChainStatus": {"0", "1", "2"},
    "KVMProtocol": {"4"},
    "LinkPolicy": {"1", "14", "16", "224"},
    "IDERBootDevice": {"0", "1"},
    "FirmwareVerbosity": {"0", "1", "2", "3"},
    "PackageType": {"3", "9"},  # chassis, board (the captures' values)
    # AMT passes SMBIOS type-17 codes through: DDR3/DDR4/DDR5/LPDDR5, DIMM/SODIMM
    "MemoryType": {"24", "26", "34", "35"},
    "FormFactor": {"9", "13"},
}
# reference amt.md §1.8: base64 of the raw MD5("admin:" + realm + ":" + password)
ADMIN_DIGEST = base64.b64encode(
    hashlib.md5(b"admin:Digest:00000000000000000000000000000000:N3w-Passw0rd!").digest()
).decode()
REDIRECTION_STATES = {"32768", "32769", "32770", "32771"}
_INT = re.compile(r"^-?\d+$")


def _kind(element: etree._Element) -> str:
    if len(element):
        return "reference"
    text = (element.text or "").strip()
    if text in ("true", "false"):
        return "bool"
    if _INT.match(text):
        return "int"
    return "text"


def _filled(element: etree._Element) -> bool:
    return bool(len(element) or (element.text or "").strip())


def _properties(item: etree._Element) -> dict[str, list[etree._Element]]:
    grouped: dict[str, list[etree._Element]] = {}
    for child in item:
        if isinstance(child.tag, str):
            grouped.setdefault(etree.QName(child).localname, []).append(child)
    return grouped


def _items(root: etree._Element) -> list[etree._Element]:
    body = root.find(f"{{{SOAP}}}Body")
    assert body is not None
    first = body[0]
    if etree.QName(first).localname == "PullResponse":
        items = next(c for c in first if etree.QName(c).localname == "Items")
        return list(items)
    return [first]


def _device(mode: ControlMode = ControlMode.CLIENT) -> DeviceState:
    identity = Identity.derive(index=0, address="127.20.0.1")
    dev = DeviceState.create(identity, Timing(boot_time_s=1.0), mode=mode, now=0.0)
    dev.request_power(10, 0.5)  # a reset leaves event-log and audit-log records
    dev.advance(5.0)
    return dev


def _envelope(class_name: str, action: str, body: str = "", selector: str = "") -> bytes:
    uri = resource_uri_of(class_name)
    selectors = (
        f'<w:SelectorSet><w:Selector Name="InstanceID">{selector}</w:Selector></w:SelectorSet>'
        if selector
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/'
        'soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header>'
        f"<a:Action>{action}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{uri}</w:ResourceURI>"
        f"<a:MessageID>7</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"
    ).encode()


def _ask(class_name: str, op: str, request_glob: str, corpus: Path) -> etree._Element:
    pre = op in ("Setup", "AdminSetup")
    dev, session = (
        _device(ControlMode.PRE_PROVISIONING if pre else ControlMode.CLIENT),
        WsmanSession(),
    )
    ctx = Context(now=5.0, wall=1_700_000_000.0)
    if op == "SendOptInCode":
        dev.start_opt_in(5.0)
    if op == "pull" and not request_glob:
        transfer = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
        _, data = handle(_envelope(class_name, f"{transfer}/Enumerate"), dev, session, ctx)
        context = etree.fromstring(data).findtext(f".//{{{transfer}}}EnumerationContext")
        body = f'<Pull xmlns="{transfer}"><EnumerationContext>{context}</EnumerationContext></Pull>'
        request = _envelope(class_name, f"{transfer}/Pull", body)
    elif request_glob:
        request = next(iter(sorted((corpus / "requests").glob(request_glob)))).read_bytes()
        if op == "SetAdminAclEntryEx":  # the golden carries a placeholder, not a digest
            request = request.replace(b">P@ssw0rd<", f">{ADMIN_DIGEST}<".encode())
    elif op == "put":
        request = _round_trip_put(class_name, dev, session, ctx)
    elif op == "get":
        selector = "AMTApps" if class_name == "CIM_SoftwareIdentity" else ""
        request = _envelope(
            class_name, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", selector=selector
        )
    else:
        raise AssertionError(f"no request for {class_name} {op}")
    status, data = handle(request, dev, session, ctx)
    assert status == 200, data.decode()
    return etree.fromstring(data)


def _round_trip_put(
    class_name: str, dev: DeviceState, session: WsmanSession, ctx: Context
) -> bytes:
    """What clients do: Get the instance and Put it back (minus AMT's read-only boot fields)."""
    transfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
    _, reply = handle(_envelope(class_name, f"{transfer}/Get"), dev, session, ctx)
    skip = BOOT_READ_ONLY if class_name == "AMT_BootSettingData" else frozenset()
    fields = [(k, v) for k, v in instance_fields(reply) if k not in skip]
    return put_fields(resource_uri_of(class_name), fields)


@pytest.mark.parametrize(("class_name", "op", "response", "request_glob"), CASES)
def test_response_matches_capture(
    class_name: str, op: str, response: str, request_glob: str
) -> None:
    corpus = require_corpus()
    captured = etree.fromstring((corpus / "responses" / response).read_bytes().lstrip())
    ours = _ask(class_name, op, request_glob, corpus)

    header = ours.find(f"{{{SOAP}}}Header")
    assert header is not None
    captured_uri = captured.findtext(f".//{{{WSMAN}}}ResourceURI")
    assert header.findtext(f"{{{WSMAN}}}ResourceURI") == captured_uri
    captured_action = (captured.findtext(f".//{{{ADDRESSING}}}Action") or "").strip()
    if captured_action.endswith("Response"):  # some method captures are hand-made
        assert header.findtext(f"{{{ADDRESSING}}}Action") == captured_action

    # The captured AdminSetup is signed over another device's nonce with a chain never injected
    # here: the emulator verifies it and refuses (2, invalid state); the shape is still compared.
    if captured.findtext(".//{*}ReturnValue") == "0" and op not in ("SendOptInCode", "AdminSetup"):
        assert ours.findtext(".//{*}ReturnValue") == "0"  # the corpus request succeeds here too
    their_items, our_items = _items(captured), _items(ours)
    assert {etree.QName(i).localname for i in our_items} == {
        etree.QName(i).localname for i in their_items
    }
    assert {etree.QName(i).namespace for i in our_items} == {
        etree.QName(i).namespace for i in their_items
    }
    allowed = _names_in_folder(corpus / "responses" / Path(response).parent, our_items[0])
    _compare_item(_properties(their_items[0]), _properties(our_items[0]), allowed)
    if class_name in ("CIM_SoftwareIdentity", "CIM_BootSourceSetting") and op == "pull":
        assert {i.findtext("{*}InstanceID") for i in our_items} == {
            i.findtext("{*}InstanceID") for i in their_items
        }


def _names_in_folder(folder: Path, item: etree._Element) -> set[str]:
    """Property names any capture of this class has (captures come from several firmwares)."""
    names: set[str] = set()
    wanted = etree.QName(item).localname
    for path in folder.glob("*.xml"):
        try:
            root = etree.fromstring(path.read_bytes().lstrip())
        except etree.XMLSyntaxError:
            continue
        for element in root.iter(f"{{*}}{wanted}"):
            names |= set(_properties(element))
    return names


def _compare_item(
    theirs: dict[str, list[etree._Element]],
    ours: dict[str, list[etree._Element]],
    allowed: set[str],
) -> None:
    assert set(theirs) <= set(ours), sorted(set(theirs) - set(ours))
    assert set(ours) <= allowed, sorted(set(ours) - allowed)
    for name, their_values in theirs.items():
        our_values = ours[name]
        their_kinds = {_kind(v) for v in their_values if _filled(v)}
        our_kinds = {_kind(v) for v in our_values if _filled(v)}
        if their_kinds and our_kinds:  # an empty value on either side says nothing
            assert our_kinds == their_kinds, name
        if len(their_values) > 1:
            assert our_values, name
        if name in ENUMS:
            assert {(v.text or "").strip() for v in our_values} <= ENUMS[name], name
        if name == "EnabledState" and (their_values[0].text or "") in REDIRECTION_STATES:
            assert (our_values[0].text or "").strip() in REDIRECTION_STATES


def test_every_served_class_is_checked() -> None:
    checked = {case[0] for case in CASES}
    assert set(CLASSES) == checked


ENUMERATED = sorted({case[0] for case in CASES if case[1] == "pull"} | {"AMT_GeneralSettings"})


@pytest.mark.parametrize("class_name", ENUMERATED)
def test_enumerate_response_envelope_matches_capture(class_name: str) -> None:
    """The EnumerateResponse envelope: Action, ResourceURI, body element and context."""
    corpus = require_corpus()
    folder = next(
        (corpus / "responses" / Path(case[2]).parent)
        for case in CASES
        if case[0] == class_name and case[1] in ("pull", "get")
    )
    captured = etree.fromstring((folder / "enumerate.xml").read_bytes().lstrip())
    transfer = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
    status, data = handle(
        _envelope(class_name, f"{transfer}/Enumerate"),
        _device(),
        WsmanSession(),
        Context(now=5.0, wall=1_700_000_000.0),
    )
    assert status == 200
    ours = etree.fromstring(data)
    assert not re.search(rb">\s+<", data)  # compact, as real AMT sends
    for path in (f".//{{{ADDRESSING}}}Action", f".//{{{WSMAN}}}ResourceURI"):
        assert (ours.findtext(path) or "").strip() == (captured.findtext(path) or "").strip()
    assert ours.nsmap == captured.nsmap
    for root in (ours, captured):
        response = root.find(f"{{{SOAP}}}Body/{{{transfer}}}EnumerateResponse")
        assert response is not None
        context = response.findtext(f"{{{transfer}}}EnumerationContext") or ""
        assert re.fullmatch(r"[0-9A-F]{8}-0000-0000-0000-000000000000", context), context
