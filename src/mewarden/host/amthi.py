"""AMT host interface (AMTHI, also called PTHI) messages over MEI.

Pure. Framing per the reference (``live-me-and-network.md`` A3, ``amt.md`` 1.12): requests carry
a 12-byte header {u8 major=1, u8 minor=1, u16 reserved, u32 command, u32 length}; a response
repeats it with ``command | 0x00800000`` and starts its payload with a u32 status. ``length``
counts the status word plus the payload, so a response is ``12 + length`` bytes. Little-endian.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
import uuid
from dataclasses import dataclass

from mewarden.errors import AmthiStatusError, HostDataError

AMTHI_UUID = uuid.UUID("12f80028-b4b7-4b2d-aca8-46e0ff65814c")

_HEADER = struct.Struct("<BBHII")
_STATUS = struct.Struct("<I")
_RESPONSE_BIT = 0x00800000
_BIOS_VERSION_LEN = 65
_VERSION_STRING_LEN = 20
_VERSION_ENTRY = struct.Struct(f"<H{_VERSION_STRING_LEN}sH{_VERSION_STRING_LEN}s")
_LAN_SETTINGS = struct.Struct("<IIIBB6s")


class AmthiCommand(enum.IntEnum):
    """PTHI command codes (rpc-go ``pkg/pthi/types.go`` names)."""

    GET_AMT_STATE = 0x01000001
    GET_PROVISIONING_MODE = 0x04000008
    UNPROVISION = 0x04000010
    GET_PROVISIONING_STATE = 0x04000011
    GET_CODE_VERSIONS = 0x0400001A
    ENUMERATE_HASH_HANDLES = 0x0400002C
    GET_CERTHASH_ENTRY = 0x0400002D
    GET_PKI_FQDN_SUFFIX = 0x04000036
    GET_REMOTE_ACCESS_CONNECTION_STATUS = 0x04000046
    GET_LAN_INTERFACE_SETTINGS = 0x04000048
    GET_UUID = 0x0400005C
    GET_LOCAL_SYSTEM_ACCOUNT = 0x04000067
    GET_CONTROL_MODE = 0x0400006B


class ProvisioningState(enum.IntEnum):
    """GET_PROVISIONING_STATE result."""

    PRE = 0
    IN = 1
    POST = 2


class ControlMode(enum.IntEnum):
    """GET_CONTROL_MODE result."""

    NONE = 0
    CCM = 1
    ACM = 2


class AmthiStatus(enum.IntEnum):
    """The response status word (0 is success; lms ``StatusCodeDefinitions.h`` names)."""

    SUCCESS = 0
    INTERNAL_ERROR = 0x1
    NOT_READY = 0x2
    INVALID_AMT_MODE = 0x3
    INVALID_MESSAGE_LENGTH = 0x4
    NOT_PERMITTED = 0x10
    MAX_LIMIT_REACHED = 0x17
    AUTHENTICATION_FAILED = 0x19
    INVALID_PROVISIONING_STATE = 0x20
    INVALID_PARAMETER = 0x24
    FLASH_WRITE_LIMIT_EXCEEDED = 0x26
    RNG_GENERATION_IN_PROGRESS = 0x2F
    RNG_NOT_READY = 0x30
    CERTIFICATE_NOT_READY = 0x31
    DISABLED_BY_POLICY = 0x400
    INVALID_HANDLE = 0x805
    INVALID_PASSWORD = 0x806
    DATA_MISSING = 0x809
    NOT_FOUND = 0x814
    BLOCKING_COMPONENT = 0x81C


def status_name(status: int) -> str:
    """``NOT_PERMITTED`` for 0x10; the hex value for a code without a name."""
    try:
        return AmthiStatus(status).name
    except ValueError:
        return f"{status:#x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeVersions:
    """GET_CODE_VERSIONS: the BIOS version string and (description, version) pairs."""

    bios_version: str
    versions: tuple[tuple[str, str], ...]

    def get(self, description: str) -> str | None:
        """The version string for ``description`` ("AMT", "Sku", "Build Number", ...)."""
        for name, value in self.versions:
            if name == description:
                return value
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LanSettings:
    """GetLANInterfaceSettings for one interface."""

    enabled: bool
    ipv4_address: str
    dhcp_enabled: bool
    dhcp_mode: int
    link_up: bool
    mac_address: str


def build_request(command: AmthiCommand, payload: bytes = b"") -> bytes:
    """A request for ``command`` with ``payload``."""
    return _HEADER.pack(1, 1, 0, command, len(payload)) + payload


def build_lan_settings_request(interface_index: int = 0) -> bytes:
    """GetLANInterfaceSettings for interface ``interface_index`` (0 wired, 1 wireless)."""
    return build_request(
        AmthiCommand.GET_LAN_INTERFACE_SETTINGS, struct.pack("<I", interface_index)
    )


def parse_response(command: AmthiCommand, response: bytes) -> bytes:
    """Check a response's header and status; return the payload after the status word."""
    if len(response) < _HEADER.size + _STATUS.size:
        raise HostDataError(f"AMTHI response too short ({len(response)} bytes)")
    major, minor, _reserved, code, length = _HEADER.unpack_from(response)
    if (major, minor) != (1, 1):
        raise HostDataError(f"AMTHI response has version {major}.{minor}, expected 1.1")
    if code != command | _RESPONSE_BIT:
        raise HostDataError(f"AMTHI response is for command {code:#010x}, not {command.name}")
    if _HEADER.size + length != len(response) or length < _STATUS.size:
        raise HostDataError(
            f"AMTHI response length field {length} does not match {len(response)} bytes"
        )
    (status,) = _STATUS.unpack_from(response, _HEADER.size)
    if status != AmthiStatus.SUCCESS:
        raise AmthiStatusError(
            f"AMTHI {command.name} returned status {status:#x} ({status_name(status)})",
            status=status,
        )
    return response[_HEADER.size + _STATUS.size :]


def _c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


def parse_code_versions(response: bytes) -> CodeVersions:
    """Parse GET_CODE_VERSIONS: 65-byte BIOS version, u32 count, count x 44-byte entries."""
    payload = parse_response(AmthiCommand.GET_CODE_VERSIONS, response)
    head = _BIOS_VERSION_LEN + 4
    if len(payload) < head:
        raise HostDataError("AMTHI code versions payload is truncated")
    bios = _c_string(payload[:_BIOS_VERSION_LEN])
    (count,) = struct.unpack_from("<I", payload, _BIOS_VERSION_LEN)
    if head + count * _VERSION_ENTRY.size > len(payload):
        raise HostDataError(f"AMTHI code versions claims {count} entries but is truncated")
    pairs: list[tuple[str, str]] = []
    for index in range(count):
        dlen, desc, vlen, ver = _VERSION_ENTRY.unpack_from(
            payload, head + index * _VERSION_ENTRY.size
        )
        pairs.append((_c_string(desc[:dlen]), _c_string(ver[:vlen])))
    return CodeVersions(bios_version=bios.strip(), versions=tuple(pairs))


def _u32_payload(command: AmthiCommand, response: bytes) -> int:
    payload = parse_response(command, response)
    if len(payload) < 4:
        raise HostDataError(f"AMTHI {command.name} payload is truncated")
    value: int = struct.unpack_from("<I", payload)[0]
    return value


def parse_provisioning_state(response: bytes) -> ProvisioningState | int:
    """Parse GET_PROVISIONING_STATE (u32: 0 pre, 1 in, 2 post)."""
    value = _u32_payload(AmthiCommand.GET_PROVISIONING_STATE, response)
    try:
        return ProvisioningState(value)
    except ValueError:
        return value


def parse_control_mode(response: bytes) -> ControlMode | int:
    """Parse GET_CONTROL_MODE (u32: 0 none, 1 CCM, 2 ACM)."""
    value = _u32_payload(AmthiCommand.GET_CONTROL_MODE, response)
    try:
        return ControlMode(value)
    except ValueError:
        return value


def parse_uuid(response: bytes) -> uuid.UUID:
    """Parse GET_UUID: 16 bytes in SMBIOS order (first three fields little-endian)."""
    payload = parse_response(AmthiCommand.GET_UUID, response)
    if len(payload) < 16:
        raise HostDataError("AMTHI GET_UUID payload is truncated")
    return uuid.UUID(bytes_le=bytes(payload[:16]))


def parse_lan_settings(response: bytes) -> LanSettings:
    """Parse GetLANInterfaceSettings: u32 enabled, u32 IPv4, u32 DHCP, u8 mode, u8 link, MAC."""
    payload = parse_response(AmthiCommand.GET_LAN_INTERFACE_SETTINGS, response)
    if len(payload) < _LAN_SETTINGS.size:
        raise HostDataError("AMTHI LAN settings payload is truncated")
    enabled, ipv4, dhcp, mode, link, mac = _LAN_SETTINGS.unpack_from(payload)
    return LanSettings(
        enabled=bool(enabled),
        ipv4_address=str(ipaddress.IPv4Address(ipv4)),
        dhcp_enabled=bool(dhcp),
        dhcp_mode=mode,
        link_up=bool(link),
        mac_address=":".join(f"{b:02x}" for b in mac),
    )
