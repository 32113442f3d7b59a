"""The emulated firmware's AMTHI (PTHI) client: one request in, one reply out (pure).

Answers what ``host probe``, ``host amt-info``, activation and local deactivation ask, with the
layouts of :mod:`mewarden.host.amthi_info` (reference ``amt.md`` §1.12-§1.13). An unknown
command gets status INVALID_PARAMETER; a request whose Length disagrees with its size gets
INVALID_MESSAGE_LENGTH; fewer than 12 bytes get no answer (``None``: the endpoint drops it).
"""

from __future__ import annotations

import ipaddress
import struct
import uuid
from collections.abc import Callable

from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode
from mewarden.host.amthi import AmthiCommand, AmthiStatus
from mewarden.host.amthi_info import (
    HashAlgorithm,
    build_reply,
    hash_entry_payload,
    local_account_payload,
    remote_access_payload,
)

_HEADER = struct.Struct("<BBHII")
_VERSION_ENTRY = struct.Struct("<H20sH20s")
_U32 = struct.Struct("<I")
Reply = tuple[int, bytes]


def _versions(dev: DeviceState) -> bytes:
    ident = dev.identity
    pairs = (
        ("Flash", ident.amt_version),
        ("Netstack", ident.amt_version),
        ("AMTApps", ident.amt_version),
        ("AMT", ident.amt_version),
        ("Sku", ident.sku),
        ("VendorID", "8086"),
        ("Build Number", ident.build_number),
        ("Recovery Version", ident.amt_version),
        ("Legacy Mode", "False"),
    )
    body = b"EMULATED BIOS 1.0".ljust(65, b"\0") + _U32.pack(len(pairs))
    for name, value in pairs:
        raw_name, raw_value = name.encode(), value.encode()
        body += _VERSION_ENTRY.pack(len(raw_name), raw_name, len(raw_value), raw_value)
    return body


def _provisioning_state(dev: DeviceState) -> int:
    return 0 if dev.control_mode is ControlMode.PRE_PROVISIONING else 2


def _lan(dev: DeviceState, payload: bytes) -> Reply:
    if len(payload) != 4:
        return AmthiStatus.INVALID_MESSAGE_LENGTH, b""
    if _U32.unpack(payload)[0] != 0:
        return AmthiStatus.NOT_FOUND, b""  # no wireless interface
    mac = bytes(int(part, 16) for part in dev.identity.mac.replace(":", "-").split("-"))
    address = int(ipaddress.IPv4Address(dev.identity.address))
    return AmthiStatus.SUCCESS, struct.pack("<IIIBB6s", 1, address, 1, 1, 1, mac)


def _hash_entry(dev: DeviceState, payload: bytes) -> Reply:
    roots = dev.host_setup.trust.roots()
    if len(payload) != 4:
        return AmthiStatus.INVALID_MESSAGE_LENGTH, b""
    (handle,) = _U32.unpack(payload)
    if not 0 < handle <= len(roots):
        return AmthiStatus.INVALID_HANDLE, b""
    root = roots[handle - 1]
    return AmthiStatus.SUCCESS, hash_entry_payload(
        digest=root.sha256.ljust(64, b"\0"),
        algorithm=HashAlgorithm.SHA256,
        name=root.name,
        is_default=root.is_default,
        is_active=root.is_active,
    )


def _unprovision(dev: DeviceState, now: float) -> Reply:
    """Local deactivation without a password: client control mode only."""
    if dev.control_mode is ControlMode.PRE_PROVISIONING:
        return AmthiStatus.INVALID_PROVISIONING_STATE, b""
    if dev.control_mode is ControlMode.ADMIN:
        return AmthiStatus.NOT_PERMITTED, b""
    dev.unprovision(now)
    return AmthiStatus.SUCCESS, b""


def _simple(dev: DeviceState) -> dict[int, Callable[[], Reply]]:
    setup = dev.host_setup
    count = len(setup.trust.roots())
    return {
        AmthiCommand.GET_CODE_VERSIONS: lambda: (0, _versions(dev)),
        AmthiCommand.GET_PROVISIONING_STATE: lambda: (0, _U32.pack(_provisioning_state(dev))),
        AmthiCommand.GET_CONTROL_MODE: lambda: (0, _U32.pack(int(dev.control_mode))),
        AmthiCommand.GET_PROVISIONING_MODE: lambda: (0, _U32.pack(1)),
        AmthiCommand.GET_UUID: lambda: (0, uuid.UUID(dev.identity.uuid).bytes_le),
        AmthiCommand.GET_PKI_FQDN_SUFFIX: lambda: (0, _ansi(setup.trust.pki_dns_suffix)),
        AmthiCommand.ENUMERATE_HASH_HANDLES: lambda: (
            0,
            _U32.pack(count) + b"".join(_U32.pack(i + 1) for i in range(count)),
        ),
        AmthiCommand.GET_REMOTE_ACCESS_CONNECTION_STATUS: lambda: (
            0,
            remote_access_payload(3, 0, 0, ""),
        ),
        AmthiCommand.GET_LOCAL_SYSTEM_ACCOUNT: lambda: (
            0,
            local_account_payload(setup.local_user, setup.local_password),
        ),
    }


def _ansi(text: str) -> bytes:
    raw = text.encode("ascii")
    return struct.pack("<H", len(raw)) + raw


def answer(dev: DeviceState, request: bytes, now: float) -> bytes | None:
    """The reply to one AMTHI request (``None``: too short to answer)."""
    if len(request) < _HEADER.size:
        return None
    major, minor, _, command, length = _HEADER.unpack_from(request)
    payload = request[_HEADER.size :]
    if (major, minor) != (1, 1) or length != len(payload):
        return build_reply(command, AmthiStatus.INVALID_MESSAGE_LENGTH)
    status, body = _dispatch(dev, command, payload, now)
    return build_reply(command, status, body if status == 0 else b"")


def _dispatch(dev: DeviceState, command: int, payload: bytes, now: float) -> Reply:
    if command == AmthiCommand.GET_LAN_INTERFACE_SETTINGS:
        return _lan(dev, payload)
    if command == AmthiCommand.GET_CERTHASH_ENTRY:
        return _hash_entry(dev, payload)
    if command == AmthiCommand.UNPROVISION:
        return _unprovision(dev, now)
    simple = _simple(dev).get(command)
    if simple is None:
        return AmthiStatus.INVALID_PARAMETER, b""
    return simple()
