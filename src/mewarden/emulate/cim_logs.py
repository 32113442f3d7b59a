"""Event log (AMT_MessageLog) and audit log (AMT_AuditLog) classes and record encoders (pure)."""

from __future__ import annotations

import base64
import datetime
import struct

from lxml import etree

from mewarden.emulate.cimbase import Context, Properties, int_arg
from mewarden.emulate.model import DeviceEvent, DeviceState
from mewarden.emulate.soap import CimDateTime, invalid_representation

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


_AUDIT_CODES = {
    "power-request": (17, 0),
    "boot-settings-changed": (17, 2),
    "opt-in-received": (32, 0),
}


def audit_record(ctx: Context, event: DeviceEvent, *, address: str) -> bytes:
    """One big-endian audit-log record (HTTP-digest initiator ``admin``)."""
    app_id, event_id = _AUDIT_CODES[event.kind]
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
    return [e for e in dev.events if e.kind in _AUDIT_CODES]


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
