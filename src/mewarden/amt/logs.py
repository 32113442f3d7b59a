"""Event log (``AMT_MessageLog``) and audit log (``AMT_AuditLog``) reading and record decoding.

Layouts (reference §1.6): an event record is 21 bytes little-endian (u32 TimeStamp, then
DeviceAddress, EventSensorType, EventType, EventOffset, EventSourceType, EventSeverity,
SensorNumber, Entity, EntityInstance, 8 bytes EventData). An audit record is big-endian:
u16 AuditAppID, u16 EventID, u8 InitiatorType + initiator data, u32 unix time, u8
MCLocationType, u8 length + network address, u8 length + extended data.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from mewarden.amt.session import Session, invoke
from mewarden.errors import WsmanError
from mewarden.wsman.resources import AuditApp, AuditInitiator

EVENT_RECORD_SIZE = 21
MAX_READ_RECORDS = 390
"""Intel's library caps MaxReadRecords at 390 (AMT can return 400)."""
MAX_LOG_CALLS = 64
"""Bound on GetRecords/ReadRecords round trips for one log read."""

_EVENT = struct.Struct("<IBBBBBBBBB8s")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """One decoded ``AMT_MessageLog`` record (IPMI PET-like)."""

    timestamp: int
    device_address: int
    event_sensor_type: int
    event_type: int
    event_offset: int
    event_source_type: int
    event_severity: int
    sensor_number: int
    entity: int
    entity_instance: int
    event_data: bytes


def decode_event_record(raw: bytes) -> EventRecord:
    """Decode one 21-byte event record."""
    if len(raw) != EVENT_RECORD_SIZE:
        raise WsmanError(f"an event record has {len(raw)} bytes, expected {EVENT_RECORD_SIZE}")
    fields = _EVENT.unpack(raw)
    return EventRecord(
        timestamp=fields[0],
        device_address=fields[1],
        event_sensor_type=fields[2],
        event_type=fields[3],
        event_offset=fields[4],
        event_source_type=fields[5],
        event_severity=fields[6],
        sensor_number=fields[7],
        entity=fields[8],
        entity_instance=fields[9],
        event_data=fields[10],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One decoded ``AMT_AuditLog`` record."""

    app_id: AuditApp | int
    event_id: int
    initiator_type: AuditInitiator | int
    initiator: str
    timestamp: int
    mc_location_type: int
    net_address: str
    extended_data: bytes


class _Reader:
    """A bounds-checked big-endian cursor (a short record raises, never reads past the end)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise WsmanError(f"an audit record ends early (needs {self.pos + count} bytes)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def counted(self) -> bytes:
        return self.take(self.u8())


def _app(value: int) -> AuditApp | int:
    try:
        return AuditApp(value)
    except ValueError:
        return value


def _initiator_type(value: int) -> AuditInitiator | int:
    try:
        return AuditInitiator(value)
    except ValueError:
        return value


def _initiator(reader: _Reader, kind: int) -> str:
    if kind == AuditInitiator.HTTP_DIGEST:
        return reader.counted().decode("utf-8", "replace")
    if kind == AuditInitiator.KERBEROS:
        reader.take(4)  # user-in-domain field
        return reader.counted().hex()  # the SID, as hex
    return ""


def decode_audit_record(raw: bytes) -> AuditRecord:
    """Decode one audit record."""
    reader = _Reader(raw)
    app_id = reader.u16()
    event_id = reader.u16()
    kind = reader.u8()
    initiator = _initiator(reader, kind)
    timestamp = reader.u32()
    location = reader.u8()
    address = reader.counted().decode("utf-8", "replace")
    extended = reader.counted()
    return AuditRecord(
        app_id=_app(app_id),
        event_id=event_id,
        initiator_type=_initiator_type(kind),
        initiator=initiator,
        timestamp=timestamp,
        mc_location_type=location,
        net_address=address,
        extended_data=extended,
    )


def b64(text: str) -> bytes:
    """Decode a base64 record, with a one-line error."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WsmanError("a log record is not valid base64") from None


async def read_event_log(session: Session, *, limit: int = 10_000) -> tuple[EventRecord, ...]:
    """PositionToFirstRecord, then GetRecords until NoMoreRecords (or ``limit`` records)."""
    first = await invoke(session, "AMT_MessageLog", "PositionToFirstRecord", idempotent=True)
    iteration = first.text("IterationIdentifier")
    records: list[EventRecord] = []
    for _ in range(MAX_LOG_CALLS):
        out = await invoke(
            session,
            "AMT_MessageLog",
            "GetRecords",
            (("IterationIdentifier", iteration), ("MaxReadRecords", MAX_READ_RECORDS)),
            idempotent=True,
        )
        records.extend(decode_event_record(b64(t)) for t in out.texts("RecordArray") if t)
        iteration = out.text("IterationIdentifier", iteration)
        if out.boolean("NoMoreRecords", True) or len(records) >= limit:
            break
    return tuple(records[:limit])


async def read_audit_log(session: Session, *, limit: int = 10_000) -> tuple[AuditRecord, ...]:
    """ReadRecords from index 1 until TotalRecordCount records were read (or ``limit``)."""
    records: list[AuditRecord] = []
    index = 1
    for _ in range(MAX_LOG_CALLS):
        out = await invoke(
            session, "AMT_AuditLog", "ReadRecords", (("StartIndex", index),), idempotent=True
        )
        batch = [decode_audit_record(b64(t)) for t in out.texts("EventRecords") if t]
        records.extend(batch)
        total = out.integer("TotalRecordCount", 0) or 0
        index += len(batch)
        if not batch or index > total or len(records) >= limit:
            break
    return tuple(records[:limit])
