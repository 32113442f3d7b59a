"""Parser goldens: every response in Intel's corpus parses; covered classes decode to typed values.

Expected values are read from the corpus files themselves (quoted next to each assertion) or,
for the audit log, from go-wsman-messages' own test of the same file
(``pkg/wsman/amt/auditlog/message_test.go``: app 19, event 0, initiator 2 Local, times
1073007982/1073007983, MCLocationType 2, empty address, 16 bytes of extended data).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mewarden.amt.consent import decode_consent
from mewarden.amt.inventory import decode_component, decode_identity, decode_versions
from mewarden.amt.logs import decode_audit_record, decode_event_record
from mewarden.amt.network import AddressMode, decode_ethernet
from mewarden.amt.power import decode_power_status
from mewarden.amt.provisioning import decode_provisioning
from mewarden.amt.redirection import decode_status
from mewarden.amt.tls import decode_tls_setting
from mewarden.errors import WsmanError
from mewarden.wsman.parse import Epr, Response, parse_response
from mewarden.wsman.resources import (
    AuditApp,
    AuditInitiator,
    OptInRequired,
    PowerState,
    ProvisioningMode,
    ProvisioningState,
    RedirectionState,
)
from tests.support import require_corpus, wsman_corpus_dir


def _response_files() -> list[str]:
    root = wsman_corpus_dir() / "responses"
    if not root.is_dir():
        return ["missing"]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.xml"))


def _load(relative: str) -> Response:
    return parse_response((require_corpus() / "responses" / relative).read_bytes())


@pytest.mark.parametrize("relative", _response_files())
def test_every_response_file_parses(relative: str) -> None:
    path: Path = require_corpus() / "responses" / relative
    reply = parse_response(path.read_bytes())
    data = path.read_bytes()
    if b"PullResponse" in data and b"<g:Items>" in data and b"<g:Items></g:Items>" not in data:
        assert reply.items, "a pull with items must yield instances"
    if b"EnumerateResponse" in data:
        assert reply.enumeration_context


def test_corpus_holds_all_297_responses() -> None:
    require_corpus()
    assert len(_response_files()) == 297  # the corpus README's count


def test_power_state_and_available_states() -> None:
    status = decode_power_status(_load("cim/associatedpower/managementservice/pull.xml").first)
    # file: <h:PowerState>2</h:PowerState>; AvailableRequestedPowerStates 10,8,5,11,4,7,14,12
    assert status.state is PowerState.POWER_ON
    assert [int(s) for s in status.available] == [10, 8, 5, 11, 4, 7, 14, 12]
    assert status.is_on


def test_association_epr_is_decoded() -> None:
    item = _load("cim/associatedpower/managementservice/get.xml").first
    (user,) = item.values("UserOfService")
    assert isinstance(user, Epr)
    assert user.class_name == "CIM_ComputerSystem"
    assert ("Name", "ManagedSystem") in user.selectors


def test_digest_realm_and_versions() -> None:
    general = _load("amt/general/get.xml").first
    versions = decode_versions(_load("cim/software/identity/pull.xml").items)
    identity = decode_identity(versions, general)
    assert identity.digest_realm == "Digest:F3EB554784E729164447A89F60B641C5"
    assert identity.realm_valid
    assert identity.amt_version == "12.0.67"  # <h:InstanceID>AMT ... <h:VersionString>12.0.67
    assert identity.build_number == "1579"
    assert identity.sku == "16392"
    assert identity.host_name == "Test Host Name"


def test_ethernet_mac_and_mode() -> None:
    eth = decode_ethernet(_load("amt/ethernetport/get.xml").first)
    assert eth.mac_address == "c8-d9-d2-7a-1e-33"
    assert eth.mode is AddressMode.DHCP
    assert eth.link_policy == (1, 14)  # two <g:LinkPolicy> elements
    assert eth.default_gateway == "192.168.0.1"


def test_event_records_decoded() -> None:
    out = _load("amt/messagelog/getrecords.xml").first
    records = [decode_event_record(base64.b64decode(t)) for t in out.texts("RecordArray")]
    assert len(records) == 3
    first = records[0]
    # Y8iYZf8GbwVoEP8mYaoKAAAAAAAA = 63 c8 98 65 | ff 06 6f 05 68 10 ff 26 61 | aa 0a 00 ...
    assert first.timestamp == 0x6598C863
    assert (first.device_address, first.event_sensor_type, first.event_type) == (0xFF, 6, 0x6F)
    assert (first.event_offset, first.event_source_type, first.event_severity) == (5, 0x68, 0x10)
    assert (first.sensor_number, first.entity, first.entity_instance) == (0xFF, 0x26, 0x61)
    assert first.event_data == bytes.fromhex("aa0a000000000000")
    assert out.boolean("NoMoreRecords") is True


def test_audit_records_decoded_as_go_wsman_decodes_them() -> None:
    out = _load("amt/auditlog/readrecords.xml").first
    records = [decode_audit_record(base64.b64decode(t)) for t in out.texts("EventRecords")]
    assert sorted(r.timestamp for r in records) == [1073007982, 1073007983]
    for record in records:
        assert record.app_id is AuditApp.FIRMWARE_UPDATE_MANAGER
        assert record.event_id == 0
        assert record.initiator_type is AuditInitiator.LOCAL
        assert record.mc_location_type == 2
        assert record.net_address == ""
        assert record.extended_data == b"\x00\x0c\x00\x00\x00(\x05\x99\x00\x0c\x00\x00\x00$\x05\x94"


def test_audit_record_with_digest_initiator() -> None:
    raw = (
        (16).to_bytes(2, "big")
        + (1).to_bytes(2, "big")
        + bytes([0, 5])
        + b"admin"
        + (1700000000).to_bytes(4, "big")
        + bytes([0, 9])
        + b"10.0.0.10"
        + bytes([0])
    )
    record = decode_audit_record(raw)
    assert record.initiator == "admin"
    assert record.net_address == "10.0.0.10"
    assert record.timestamp == 1700000000


def test_truncated_records_raise() -> None:
    with pytest.raises(WsmanError):
        decode_event_record(b"\x00" * 20)
    with pytest.raises(WsmanError):
        decode_audit_record(bytes([0, 16, 0, 1, 0, 200]) + b"x")


def test_inventory_components() -> None:
    chassis = decode_component("system", _load("cim/chassis/get.xml").first)
    assert (chassis.manufacturer, chassis.model) == ("Intel(R) Client Systems", "NUC9V7QNX")
    assert chassis.serial_number == "JRQN0243007J"
    bios = decode_component("bios", _load("cim/bios/element/get.xml").first)
    assert bios.version == "QNCFLX70.0054.2020.0810.2227"
    assert bios.detail["ReleaseDate"] == "2020-08-10T00:00:00Z"
    memory = [decode_component("memory", i) for i in _load("cim/physical/memory/pull.xml").items]
    assert [m.detail["Capacity"] for m in memory] == ["17179869184", "17179869184"]


def test_provisioning_tls_redirection_consent() -> None:
    prov = decode_provisioning(_load("amt/setupandconfiguration/get.xml").first)
    assert prov.mode is ProvisioningMode.ADMIN_CONTROL
    assert prov.state is ProvisioningState.POST
    tls = [decode_tls_setting(i) for i in _load("amt/tls/settingdata/pull.xml").items]
    assert [t.instance_id for t in tls] == [
        "Intel(r) AMT 802.3 TLS Settings",
        "Intel(r) AMT LMS TLS Settings",
    ]
    assert [t.accept_non_secure for t in tls] == [False, True]
    status = decode_status(
        _load("amt/redirectionservice/get.xml").first, _load("cim/kvm/get.xml").first, None
    )
    assert status.enabled_state is RedirectionState.IDER_SOL_ENABLED
    assert status.sol
    assert status.ider
    assert status.listener
    consent = decode_consent(_load("ips/optin/get.xml").first)
    assert consent.required is OptInRequired.NONE
    assert (consent.code_timeout_s, consent.display_timeout_s) == (120, 300)


def test_multi_valued_property_is_a_list_even_in_method_output() -> None:
    item = _load("amt/boot/settingdata/get.xml").first
    assert item.texts("BIOSLastStatus") == ("2", "0")
    assert item.values("Nope") == ()
