"""Event log (AMT_MessageLog) and audit log (AMT_AuditLog) classes and record encoders (pure)."""

from __future__ import annotations

import base64
import datetime
import struct

from lxml import etree

from mewarden.emulate.cimbase import Context, Properties, int_arg
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import CimDateTime, invalid_representation
from mewarden.emulate.values import DeviceEvent

# --- logs -------------------------------------------------------------------------------------

#: event kind -> (sensor type, event type, offset, entity, event data[0:2])
_EVENT_CODES: dict[str, tuple[int, int, int, int, bytes]] = {
    "boot-start": (0x0F, 0x6F, 0x02, 0x22, b"\x40\x07"),
    "boot-complete": (0x0F, 0x6F, 0x02, 0x22, b"\x40\x13"),
    "power-off": (0x22, 0x6F, 0x05, 0x22, b"\x00\x00"),
    "power-request": (0x1D, 0x6F, 0x07, 0x22, b"\x00\x00"),
    "re-enrolled": (0x0F, 0x6F, 0x02, 0x22, b"\x40\x14"),
}


def wall_of(ctx: Context, at: float) -> int:
    return max(0, int(ctx.wall - (ctx.now - at)))


def event_record(ctx: Context, event: DeviceEvent) -> bytes:
    """One 21-byte little-endian event-log record (go-wsman-messages messagelog decoder)."""
    sensor_type, event_type, offset, entity, data = _EVENT_CODES[event.kind]
    head = struct.pack(
        "<IBBBBBBBBB",
        wall_of(ctx, event.at),
        0xFF,
        sensor_type,
        event_type,
        offset,
        0x68,
        0x01,
        0xFF,
        entity,
        0x00,
    )
    return head + data.ljust(8, b"\x00")


def message_log(dev: DeviceState, ctx: Context) -> list[Properties]:
    count = sum(1 for e in dev.events if e.kind in _EVENT_CODES)
    return [
        {
            "Capabilities": [5, 6, 8, 7],
            "CharacterSet": 10,
            "CreationClassName": "AMT_MessageLog",
            "CurrentNumberOfRecords": count,
            "ElementName": "Intel(r) AMT:MessageLog 1",
            "EnabledDefault": 2,
            "EnabledState": 2,
            "HealthState": 5,
            "IsFrozen": False,
            "LastChange": 0,
            "LogState": 4,
            "MaxLogSize": 0,
            "MaxNumberOfRecords": 390,
            "MaxRecordSize": 21,
            "Name": "Intel(r) AMT:MessageLog 1",
            "OperationalStatus": 2,
            "OverwritePolicy": 2,
            "PercentageNearFull": min(100, count * 100 // 390),
            "RequestedState": 12,
            "SizeOfHeader": 0,
            "SizeOfRecordHeader": 0,
            "Status": "OK",
        }
    ]


def position_first(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"IterationIdentifier": 1, "ReturnValue": 0}


def get_records(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    dev.advance(ctx.now)
    start = int_arg(body, "IterationIdentifier")
    wanted = min(int_arg(body, "MaxReadRecords"), 390)
    records = [event_record(ctx, e) for e in reversed(dev.events) if e.kind in _EVENT_CODES]
    if start < 1:
        raise invalid_representation("IterationIdentifier must be 1 or more")
    chunk = records[start - 1 : start - 1 + wanted]
    return {
        "IterationIdentifier": start + len(chunk),
        "NoMoreRecords": start - 1 + len(chunk) >= len(records),
        "RecordArray": [base64.b64encode(r).decode() for r in chunk],
        "ReturnValue": 0,
    }


# Audit application IDs (reference amt.md §1.6) and, per application, event IDs (Intel's
# Apache-2.0 LMS, WsmanClient/AuditLogWSManClientConsts.h; the reference names none).
SECURITY_ADMIN = 16
REMOTE_CONTROL = 17
REDIRECTION_MANAGER = 18
NETWORK_TIME = 21
NETWORK_ADMINISTRATION = 22
KVM = 29
USER_OPT_IN = 30

#: device event kind -> (audit application ID, event ID)
AUDIT_CODES: dict[str, tuple[int, int]] = {
    "activated": (SECURITY_ADMIN, 1),  # provisioning completed (Setup / AdminSetup)
    "admin-password-changed": (SECURITY_ADMIN, 3),  # ACL entry modified (SetAdminAclEntryEx)
    "unprovisioned": (SECURITY_ADMIN, 19),  # unprovisioning
    "boot-settings-changed": (REMOTE_CONTROL, 4),  # set boot options
    "ider-enabled": (REDIRECTION_MANAGER, 2),
    "ider-disabled": (REDIRECTION_MANAGER, 3),
    "sol-enabled": (REDIRECTION_MANAGER, 6),
    "sol-disabled": (REDIRECTION_MANAGER, 7),
    "kvm-enabled": (REDIRECTION_MANAGER, 10),
    "kvm-disabled": (REDIRECTION_MANAGER, 11),
    "time-set": (NETWORK_TIME, 0),
    "network-settings-changed": (NETWORK_ADMINISTRATION, 0),  # TCP/IP parameters set
    "kvm-opt-in-enabled": (KVM, 0),
    "kvm-opt-in-disabled": (KVM, 1),
    "kvm-password-changed": (KVM, 2),
    "opt-in-policy-changed": (USER_OPT_IN, 0),
    "opt-in-received": (USER_OPT_IN, 1),  # consent code sent
}
#: RequestPowerStateChange PowerState -> Remote Control event: 0 power up, 1 power down,
#: 2 power cycle, 3 reset, 5 graceful power down, 6 graceful reset, 9 NMI.
_POWER_EVENTS = {2: 0, 5: 2, 6: 2, 8: 1, 9: 1, 10: 3, 11: 9, 12: 5, 13: 5, 14: 6, 15: 2, 16: 2}


def audit_code(event: DeviceEvent) -> tuple[int, int] | None:
    """The (application, event) IDs of an audited device event; ``None``: not audited."""
    if event.kind == "power-request":
        return REMOTE_CONTROL, _POWER_EVENTS.get(int(event.detail or 0), 0)
    return AUDIT_CODES.get(event.kind)


def audit_record(ctx: Context, event: DeviceEvent, *, address: str) -> bytes:
    """One big-endian audit-log record (HTTP-digest initiator ``admin``)."""
    code = audit_code(event)
    if code is None:
        raise ValueError(f"{event.kind} is not an audited event")
    app_id, event_id = code
    user = b"admin"
    net = address.encode()
    extended = event.detail.encode()[:32]
    return (
        struct.pack(">HHB", app_id, event_id, 0)
        + bytes([len(user)])
        + user
        + struct.pack(">IB", wall_of(ctx, event.at), 0)
        + bytes([len(net)])
        + net
        + bytes([len(extended)])
        + extended
    )


def _audit_events(dev: DeviceState) -> list[DeviceEvent]:
    return [e for e in dev.events if audit_code(e) is not None]


def _iso(unix: int) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_log(dev: DeviceState, ctx: Context) -> list[Properties]:
    events = _audit_events(dev)
    count = len(events)
    return [
        {
            "AuditState": 16,
            "CurrentNumberOfRecords": count,
            "ElementName": "Intel(r) AMT Audit Log",
            "EnabledState": 2,
            "MaxAllowedAuditors": 1,
            "MaxNumberOfRecords": 0,
            "Name": "Intel(r) AMT:Audit Log",
            "OverwritePolicy": 2,
            "PercentageFree": max(0, 100 - count // 10),
            "RequestedState": 2,
            "StoragePolicy": 1,
            "TimeOfLastRecord": CimDateTime(
                text=_iso(wall_of(ctx, events[-1].at) if events else 0)
            ),
        }
    ]


def read_audit(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    start = max(1, int_arg(body, "StartIndex"))
    events = _audit_events(dev)
    chunk = events[start - 1 : start - 1 + 10]
    address = dev.identity.address
    # The capture lists these four out of alphabetical order; keep its order.
    return {
        "TotalRecordCount": len(events),
        "RecordsReturned": len(chunk),
        "EventRecords": [
            base64.b64encode(audit_record(ctx, e, address=address)).decode() for e in chunk
        ],
        "ReturnValue": 0,
    }
