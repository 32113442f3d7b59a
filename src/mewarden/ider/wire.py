"""IDER messages on the redirection connection, both directions (pure: bytes in, values out).

Facts from reference amt.md §3.2 (MeshCentral ``amt-ider-module.js``): after the redirection
session is authenticated, every IDER message starts with an 8-byte header (type, two zero
bytes, an attribute byte, then a u32 little-endian sequence number counted per direction from
0, which must grow by exactly one). Console -> AMT: 0x40 open (rx timeout, tx timeout,
heartbeat, version), 0x42 close, 0x44/0x45 ping/pong, 0x47 reset-occurred reply, 0x48
DisableEnableFeatures (type, and for type 3 a u32 value: 0x01 | start mode), 0x51
CommandEndResponse (ATA register file with the sense), 0x54 DataToHost (register file, then
data). AMT -> console: 0x41 open reply (version, buffer sizes, IANA), 0x43 close, 0x46 reset
occurred (one mask byte), 0x49 features reply (type, u32 value), 0x4A error (3 bytes), 0x4B
heartbeat, 0x50 CommandWritten (the ATA register file and the 12-byte packet CDB; bit 0x10 of
the drive-select byte selects the CD), 0x53 DataFromHost (writes; never used read-only).

The register file in 0x51 and 0x54 is what the drive would put in its ATA registers: the
interrupt reason (3: command complete, 2: data to host), the drive select (0xA0 floppy, 0xB0
CD), the status (0x50 ready, 0x51 error, 0x58 data request) and, on an error, the ATAPI error
register (sense key << 4) and the sense key, ASC and ASCQ.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

HEADER = 8
MAX_READ_BUFFER = 8192
"""Largest buffer AMT may announce (bytes per DataToHost); more is a protocol error."""


class IderMessage(enum.IntEnum):
    """IDER message types."""

    OPEN = 0x40
    OPEN_REPLY = 0x41
    CLOSE = 0x42
    CLOSE_REPLY = 0x43
    PING = 0x44
    PONG = 0x45
    RESET_OCCURRED = 0x46
    RESET_OCCURRED_REPLY = 0x47
    FEATURES = 0x48
    FEATURES_REPLY = 0x49
    ERROR = 0x4A
    HEARTBEAT = 0x4B
    COMMAND_WRITTEN = 0x50
    COMMAND_END = 0x51
    GET_DATA_FROM_HOST = 0x52
    DATA_FROM_HOST = 0x53
    DATA_TO_HOST = 0x54


class FeatureRegister(enum.IntEnum):
    """DisableEnableFeatures types."""

    REGS_AVAIL = 1
    REGS_STATUS = 2
    REGS_TOGGLE = 3


class StartMode(enum.IntEnum):
    """When AMT connects the IDER devices to the host (REGS_TOGGLE value, with bit 0x01)."""

    ON_REBOOT = 0x08
    GRACEFUL = 0x10
    NOW = 0x18


DEVICE_FLOPPY = 0xA0
DEVICE_CD = 0xB0
COMPLETED = 0x02
DMA = 0x01
STATUS_READY = 0x50
STATUS_ERROR = 0x51
STATUS_DATA = 0x58


class IderWireError(ValueError):
    """Bytes that are not a well-formed IDER message."""


def header(kind: IderMessage, sequence: int, attributes: int = 0) -> bytes:
    return bytes([kind, 0, 0, attributes]) + struct.pack("<I", sequence & 0xFFFFFFFF)


def message_length(buffer: bytes | bytearray) -> int | None:
    """Bytes of the first message in ``buffer`` (either direction), None: need more bytes."""
    if len(buffer) < HEADER:
        return None
    kind = buffer[0]
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed
    if kind == IderMessage.OPEN_REPLY:
        return None if len(buffer) < 30 else 30 + buffer[29]
    if kind == IderMessage.FEATURES:
        return None if len(buffer) < 9 else (13 if buffer[8] == FeatureRegister.REGS_TOGGLE else 9)
    if kind == IderMessage.DATA_FROM_HOST:
        return None if len(buffer) < 14 else 14 + int(struct.unpack_from("<H", buffer, 9)[0])
    if kind == IderMessage.DATA_TO_HOST:
        return None if len(buffer) < 11 else 34 + int(struct.unpack_from("<H", buffer, 9)[0])
    raise IderWireError(f"unknown IDER message type {kind:#04x}")


_FIXED: dict[int, int] = {
    IderMessage.OPEN: 18,
    IderMessage.CLOSE: 8,
    IderMessage.CLOSE_REPLY: 8,
    IderMessage.PING: 8,
    IderMessage.PONG: 8,
    IderMessage.RESET_OCCURRED: 9,
    IderMessage.RESET_OCCURRED_REPLY: 8,
    IderMessage.FEATURES_REPLY: 13,
    IderMessage.ERROR: 11,
    IderMessage.HEARTBEAT: 8,
    IderMessage.COMMAND_WRITTEN: 28,
    IderMessage.COMMAND_END: 31,
    IderMessage.GET_DATA_FROM_HOST: 31,
}


def sequence_of(raw: bytes) -> int:
    return int(struct.unpack_from("<I", raw, 4)[0])


# --- console -> AMT ---------------------------------------------------------------------------


def open_session(
    sequence: int, *, rx_timeout_ms: int = 30000, tx_timeout_ms: int = 0, heartbeat_ms: int = 20000
) -> bytes:
    body = struct.pack("<HHHI", rx_timeout_ms, tx_timeout_ms, heartbeat_ms, 1)
    return header(IderMessage.OPEN, sequence) + body


def features(sequence: int, register: FeatureRegister, value: int | None = None) -> bytes:
    body = bytes([register]) + (struct.pack("<I", value) if value is not None else b"")
    return header(IderMessage.FEATURES, sequence) + body


def command_end(
    sequence: int, device: int, *, sense: tuple[int, int, int] | None, dma: bool = False
) -> bytes:
    """CommandEndResponse: good status, or CHECK CONDITION with (key, asc, ascq)."""
    regs = bytearray(23)
    regs[14], regs[18] = 3, device
    if sense is None:
        regs[12], regs[19] = 0xC5, STATUS_READY
    else:
        key, asc, ascq = sense
        regs[12], regs[13], regs[19] = 0x87, (key << 4) & 0xFF, STATUS_ERROR
        regs[20], regs[21], regs[22] = key, asc, ascq
    return header(IderMessage.COMMAND_END, sequence, COMPLETED | (DMA if dma else 0)) + regs


def data_to_host(
    sequence: int, device: int, data: bytes, *, completed: bool, dma: bool = False
) -> bytes:
    """DataToHost: one piece of a command's data; the last piece also carries good status."""
    size = len(data)
    regs = bytearray(26)
    struct.pack_into("<H", regs, 1, size)
    regs[4], regs[6] = (0xB4 if dma else 0xB5), 2
    struct.pack_into("<H", regs, 8, 0 if dma else size)
    regs[10], regs[11] = device, STATUS_DATA
    if completed:
        regs[12], regs[14], regs[18], regs[19] = 0x85, 3, device, STATUS_READY
    attributes = (COMPLETED if completed else 0) | (DMA if dma else 0)
    return header(IderMessage.DATA_TO_HOST, sequence, attributes) + bytes(regs) + data


# --- AMT -> console ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenReply:
    major: int
    minor: int
    read_buffer: int
    write_buffer: int
    protocol: int
    iana: int


def open_reply(
    sequence: int, *, major: int = 1, minor: int = 0, read_buffer: int = MAX_READ_BUFFER
) -> bytes:
    body = bytearray(22)
    body[0], body[1], body[2], body[3] = major, minor, 16, 1
    struct.pack_into("<HH", body, 8, read_buffer, MAX_READ_BUFFER)
    struct.pack_into("<I", body, 17, 343)
    return header(IderMessage.OPEN_REPLY, sequence) + bytes(body)


def parse_open_reply(raw: bytes) -> OpenReply:
    read_buffer, write_buffer = struct.unpack_from("<HH", raw, 16)
    reply = OpenReply(
        major=raw[8],
        minor=raw[9],
        read_buffer=read_buffer,
        write_buffer=write_buffer,
        protocol=raw[21],
        iana=int(struct.unpack_from("<I", raw, 25)[0]),
    )
    if reply.protocol != 0 or not 0 < reply.read_buffer <= MAX_READ_BUFFER:
        raise IderWireError(
            f"IDER open reply: protocol {reply.protocol}, read buffer {reply.read_buffer}"
        )
    return reply


def features_reply(sequence: int, register: FeatureRegister, value: int) -> bytes:
    return (
        header(IderMessage.FEATURES_REPLY, sequence) + bytes([register]) + struct.pack("<I", value)
    )


def parse_features_reply(raw: bytes) -> tuple[int, int]:
    return raw[8], int(struct.unpack_from("<I", raw, 9)[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A packet command the host wrote to an IDER device."""

    device: int
    cdb: bytes
    dma: bool

    @property
    def cd(self) -> bool:
        return self.device == DEVICE_CD


def command_written(sequence: int, command: Command) -> bytes:
    regs = bytearray(20)
    regs[1] = DMA if command.dma else 0
    regs[6] = command.device | (0x10 if command.cd else 0)
    regs[7] = 0xA0  # ATA PACKET
    return (
        header(IderMessage.COMMAND_WRITTEN, sequence)
        + bytes(regs[:8])
        + command.cdb.ljust(12, b"\0")
    )


def parse_command(raw: bytes) -> Command:
    device = DEVICE_CD if raw[14] & 0x10 else DEVICE_FLOPPY
    return Command(device=device, cdb=bytes(raw[16:28]), dma=bool(raw[9] & DMA))


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """What AMT relays back to the host for one DataToHost / CommandEndResponse."""

    data: bytes
    completed: bool
    sense: tuple[int, int, int] | None


def parse_completion(raw: bytes) -> Completion:
    """DataToHost or CommandEndResponse, as the device side (the emulator) reads them."""
    if raw[0] == IderMessage.DATA_TO_HOST:
        size = struct.unpack_from("<H", raw, 9)[0]
        return Completion(
            data=bytes(raw[34 : 34 + size]), completed=bool(raw[3] & COMPLETED), sense=None
        )
    if raw[27] == STATUS_ERROR:
        return Completion(data=b"", completed=True, sense=(raw[28], raw[29], raw[30]))
    return Completion(data=b"", completed=True, sense=None)


def reset_occurred(sequence: int, mask: int = 0x01) -> bytes:
    return header(IderMessage.RESET_OCCURRED, sequence) + bytes([mask])


def simple(kind: IderMessage, sequence: int) -> bytes:
    """An 8-byte message (close, ping, pong, heartbeat, reset reply)."""
    return header(kind, sequence)
