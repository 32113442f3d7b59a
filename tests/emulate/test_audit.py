"""Admin actions leave audit-log records that the client's decoder (``mewarden amt audit``)
reads back with the application and event IDs of reference amt.md §1.6 (event IDs: Intel LMS)."""

from __future__ import annotations

import base64
import re

import pytest

from mewarden.amt.logs import AuditRecord, decode_audit_record
from mewarden.emulate.cimbase import Context
from mewarden.emulate.dispatch import WsmanSession, handle
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode, Identity, Timing
from mewarden.wsman.resources import AuditApp, AuditInitiator
from tests.emulate.helpers import AMT, CIM, IPS, invoke, md5, put

CTX = Context(now=5.0, wall=1_700_000_000.0)
AUDIT = AMT + "AMT_AuditLog"


def _device(mode: ControlMode = ControlMode.CLIENT) -> DeviceState:
    identity = Identity.derive(index=3, address="127.20.0.4")
    return DeviceState.create(identity, Timing(), mode=mode, now=0.0)


def _ok(dev: DeviceState, data: bytes) -> str:
    status, reply = handle(data, dev, WsmanSession(), CTX)
    assert status == 200, reply
    text = reply.decode()
    returned = re.search(r"<g:ReturnValue>(\d+)</g:ReturnValue>", text)
    assert returned is None or returned.group(1) == "0", text
    return text


def _audit(dev: DeviceState) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for _ in range(10):
        text = _ok(dev, invoke(AUDIT, "ReadRecords", {"StartIndex": str(len(records) + 1)}))
        batch = re.findall(r"<g:EventRecords>([^<]+)</g:EventRecords>", text)
        records += [decode_audit_record(base64.b64decode(b)) for b in batch]
        total = int(re.findall(r"<g:TotalRecordCount>(\d+)<", text)[0])
        if len(records) >= total or not batch:
            break
    return records


def _codes(dev: DeviceState) -> list[tuple[int, int]]:
    return [(int(r.app_id), r.event_id) for r in _audit(dev)]


def test_configuration_changes_are_audited() -> None:
    dev = _device()
    digest = base64.b64encode(bytes(16)).decode()
    _ok(dev, invoke(AMT + "AMT_AuthorizationService", "SetAdminAclEntryEx",
                    {"Username": "admin", "DigestPassword": digest}))  # fmt: skip
    _ok(dev, put(AMT + "AMT_EthernetPortSettings",
                 {"DHCPEnabled": "false", "IpSyncEnabled": "false", "SharedStaticIp": "false",
                  "IPAddress": "10.0.0.5", "SubnetMask": "255.255.255.0"}))  # fmt: skip
    _ok(dev, invoke(AMT + "AMT_RedirectionService", "RequestStateChange",
                    {"RequestedState": "32769"}))  # fmt: skip
    _ok(dev, invoke(CIM + "CIM_KVMRedirectionSAP", "RequestStateChange", {"RequestedState": "3"}))
    _ok(dev, put(IPS + "IPS_KVMRedirectionSettingData", {"RFBPassword": "Ab1!Ab1!"}))
    _ok(dev, invoke(AMT + "AMT_TimeSynchronizationService", "SetHighAccuracyTimeSynch",
                    {"Ta0": "1", "Tm1": "1700000100", "Tm2": "1700000100"}))  # fmt: skip
    assert _codes(dev) == [
        (AuditApp.SECURITY_ADMIN, 3),  # ACL entry modified
        (AuditApp.NETWORK_ADMINISTRATION, 0),  # TCP/IP parameters set
        (AuditApp.REDIRECTION_MANAGER, 7),  # SOL disabled (32771 -> 32769)
        (AuditApp.REDIRECTION_MANAGER, 11),  # KVM disabled
        (29, 2),  # KVM: password changed
        (AuditApp.NETWORK_TIME, 0),  # time set
    ]
    records = _audit(dev)
    assert {(r.initiator_type, r.initiator) for r in records} == {
        (AuditInitiator.HTTP_DIGEST, "admin")
    }
    assert all(r.net_address == "127.20.0.4" for r in records)
    assert all(r.timestamp == 1_700_000_000 for r in records)


def test_activation_and_unprovisioning_are_audited() -> None:
    dev = _device(ControlMode.PRE_PROVISIONING)
    ha1 = md5(f"admin:{dev.identity.realm}:N3w-Passw0rd!")
    _ok(dev, invoke(IPS + "IPS_HostBasedSetupService", "Setup",
                    {"NetAdminPassEncryptionType": "2", "NetworkAdminPassword": ha1}))  # fmt: skip
    _ok(dev, invoke(AMT + "AMT_SetupAndConfigurationService", "Unprovision",
                    {"ProvisioningMode": "1"}))  # fmt: skip
    assert _codes(dev) == [(AuditApp.SECURITY_ADMIN, 1), (AuditApp.SECURITY_ADMIN, 19)]


@pytest.mark.parametrize(("state", "event_id"), [(2, 0), (8, 1), (5, 2), (10, 3), (12, 5)])
def test_power_requests_are_audited_by_kind(state: int, event_id: int) -> None:
    dev = _device()
    if state == 2:
        dev.request_power(8, 1.0)
        dev.events.clear()
    _ok(dev, invoke(CIM + "CIM_PowerManagementService", "RequestPowerStateChange",
                    {"PowerState": str(state)}))  # fmt: skip
    assert _codes(dev) == [(AuditApp.REMOTE_CONTROL, event_id)]


def test_consent_and_opt_in_policy_are_audited() -> None:
    dev = _device(ControlMode.ADMIN)
    optin = IPS + "IPS_OptInService"
    _ok(dev, put(optin, {"OptInRequired": "1"}))
    _ok(dev, invoke(optin, "StartOptIn"))
    _ok(dev, invoke(optin, "SendOptInCode", {"OptInCode": dev.opt_in_code or ""}))
    assert _codes(dev) == [(30, 0), (30, 1)]  # User Opt-In: policy change, consent code sent
