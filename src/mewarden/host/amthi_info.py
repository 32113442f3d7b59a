"""AMTHI messages for ``host amt-info``, activation and local deactivation (pure).

Reply layouts per reference ``amt.md`` §1.13 (little-endian, after the 16-byte response header
that :func:`mewarden.host.amthi.parse_response` checks). An AMT_ANSI_STRING is a u16 length and
that many bytes; a trailing NUL inside the length is dropped (whether firmware counts one is not
confirmed). Both sides of the wire live here: the parsers for mewarden and the builders the
emulator answers with, so a disagreement shows up in one place.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from mewarden.errors import HostDataError
from mewarden.host.amthi import AmthiCommand, build_request, parse_response
from mewarden.secret import Secret

LOCAL_ACCOUNT_FIELD = 33
"""User name and password are each a NUL-padded char[33]."""
HASH_BYTES = 64
MAX_HASH_HANDLES = 33
_U32 = struct.Struct("<I")
_HASH_ENTRY = struct.Struct(f"<II{HASH_BYTES}sB")
_REMOTE_ACCESS = struct.Struct("<III")
_RESPONSE_BIT = 0x00800000


class HashAlgorithm(enum.IntEnum):
    """The certificate hash entry's algorithm byte (rpc-go numbering; lms calls 3 SHA512)."""

    MD5 = 0
    SHA1 = 1
    SHA256 = 2
    SHA384 = 3
    SHA224 = 4
    SHA512 = 5


HASH_LENGTHS = {
    HashAlgorithm.MD5: 16,
    HashAlgorithm.SHA1: 20,
    HashAlgorithm.SHA256: 32,
    HashAlgorithm.SHA384: 48,
    HashAlgorithm.SHA224: 28,
    HashAlgorithm.SHA512: 64,
}


class RemoteAccessNetwork(enum.IntEnum):
    DIRECT = 0
    VPN = 1
    OUTSIDE_ENTERPRISE = 2
    UNKNOWN = 3


class RemoteAccessStatus(enum.IntEnum):
    NOT_CONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class CertHashEntry:
    """One trusted root certificate hash in firmware."""

    handle: int
    name: str
    algorithm: HashAlgorithm | int
    hash_hex: str
    is_default: bool
    is_active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteAccess:
    """GetRemoteAccessConnectionStatus (CIRA)."""

    network: RemoteAccessNetwork | int
    status: RemoteAccessStatus | int
    trigger: int
    mps_hostname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalAccount:
    """The OS admin account firmware hands the host for local WS-MAN (the password is secret)."""

    username: str
    password: Secret = field(repr=False)


def _enum(kind: type[enum.IntEnum], value: int) -> int:
    try:
        return kind(value)
    except ValueError:
        return value


def _ansi_string(payload: bytes, offset: int, what: str) -> tuple[str, int]:
    if offset + 2 > len(payload):
        raise HostDataError(f"AMTHI {what}: string length is truncated")
    (length,) = struct.unpack_from("<H", payload, offset)
    end = offset + 2 + length
    if end > len(payload):
        raise HostDataError(f"AMTHI {what}: string of {length} bytes is truncated")
    raw = payload[offset + 2 : end].split(b"\0", 1)[0]
    return raw.decode("ascii", errors="replace"), end


def ansi_string(text: str) -> bytes:
    """An AMT_ANSI_STRING (no NUL inside the length)."""
    raw = text.encode("ascii")
    return struct.pack("<H", len(raw)) + raw


def build_hash_entry_request(handle: int) -> bytes:
    return build_request(AmthiCommand.GET_CERTHASH_ENTRY, _U32.pack(handle))


def build_local_account_request() -> bytes:
    """GetLocalSystemAccount carries 40 zero bytes (Length 40)."""
    return build_request(AmthiCommand.GET_LOCAL_SYSTEM_ACCOUNT, bytes(40))


def parse_dns_suffix(response: bytes) -> str:
    """GetDNSSuffix (the PKI DNS suffix, empty when none is configured)."""
    payload = parse_response(AmthiCommand.GET_PKI_FQDN_SUFFIX, response)
    if not payload:
        return ""
    return _ansi_string(payload, 0, "GetDNSSuffix")[0]


def parse_hash_handles(response: bytes) -> tuple[int, ...]:
    """EnumerateHashHandles: u32 count, count x u32."""
    payload = parse_response(AmthiCommand.ENUMERATE_HASH_HANDLES, response)
    if len(payload) < 4:
        raise HostDataError("AMTHI EnumerateHashHandles payload is truncated")
    (count,) = _U32.unpack_from(payload)
    if count > MAX_HASH_HANDLES or 4 + 4 * count > len(payload):
        raise HostDataError(f"AMTHI EnumerateHashHandles claims {count} handles")
    return struct.unpack_from(f"<{count}I", payload, 4)


def parse_hash_entry(handle: int, response: bytes) -> CertHashEntry:
    """GetCertHashEntry: u32 default, u32 active, 64-byte hash, u8 algorithm, name."""
    payload = parse_response(AmthiCommand.GET_CERTHASH_ENTRY, response)
    if len(payload) < _HASH_ENTRY.size:
        raise HostDataError("AMTHI GetCertHashEntry payload is truncated")
    default, active, digest, algorithm = _HASH_ENTRY.unpack_from(payload)
    name, _ = _ansi_string(payload, _HASH_ENTRY.size, "GetCertHashEntry")
    known = _enum(HashAlgorithm, algorithm)
    length = HASH_LENGTHS.get(known, HASH_BYTES) if isinstance(known, HashAlgorithm) else 64
    return CertHashEntry(
        handle=handle,
        name=name,
        algorithm=known,
        hash_hex=digest[:length].hex(),
        is_default=bool(default),
        is_active=bool(active),
    )


def parse_remote_access(response: bytes) -> RemoteAccess:
    """GetRemoteAccessConnectionStatus: network, status, trigger, MPS host name."""
    payload = parse_response(AmthiCommand.GET_REMOTE_ACCESS_CONNECTION_STATUS, response)
    if len(payload) < _REMOTE_ACCESS.size:
        raise HostDataError("AMTHI GetRemoteAccessConnectionStatus payload is truncated")
    network, status, trigger = _REMOTE_ACCESS.unpack_from(payload)
    hostname = ""
    if len(payload) > _REMOTE_ACCESS.size:
        hostname, _ = _ansi_string(payload, _REMOTE_ACCESS.size, "remote access")
    return RemoteAccess(
        network=_enum(RemoteAccessNetwork, network),
        status=_enum(RemoteAccessStatus, status),
        trigger=trigger,
        mps_hostname=hostname,
    )


def parse_local_account(response: bytes) -> LocalAccount:
    """GetLocalSystemAccount: two NUL-padded char[33] (byte 32 of each forced to NUL)."""
    payload = parse_response(AmthiCommand.GET_LOCAL_SYSTEM_ACCOUNT, response)
    if len(payload) < 2 * LOCAL_ACCOUNT_FIELD:
        raise HostDataError("AMTHI GetLocalSystemAccount payload is truncated")
    user = payload[: LOCAL_ACCOUNT_FIELD - 1].split(b"\0", 1)[0]
    password = payload[LOCAL_ACCOUNT_FIELD : 2 * LOCAL_ACCOUNT_FIELD - 1].split(b"\0", 1)[0]
    if not user or not password:
        raise HostDataError("AMTHI GetLocalSystemAccount returned an empty account")
    return LocalAccount(
        username=user.decode("ascii", errors="replace"),
        password=Secret(password.decode("ascii", errors="replace")),
    )


def parse_status_only(command: AmthiCommand, response: bytes) -> None:
    """A reply that is only a status (Unprovision): raises on a non-zero status."""
    parse_response(command, response)


# --- the firmware side (the emulator builds its replies with these) ---------------------------


def build_reply(command: int, status: int, payload: bytes = b"") -> bytes:
    """A response: header with ``command | 0x00800000``, Length = 4 + payload, status, payload."""
    body = _U32.pack(status) + payload
    return struct.pack("<BBHII", 1, 1, 0, command | _RESPONSE_BIT, len(body)) + body


def hash_entry_payload(
    *, digest: bytes, algorithm: int, name: str, is_default: bool, is_active: bool
) -> bytes:
    return _HASH_ENTRY.pack(int(is_default), int(is_active), digest, algorithm) + ansi_string(name)


def local_account_payload(username: str, password: str) -> bytes:
    return username.encode().ljust(LOCAL_ACCOUNT_FIELD, b"\0") + password.encode().ljust(
        LOCAL_ACCOUNT_FIELD, b"\0"
    )


def remote_access_payload(network: int, status: int, trigger: int, hostname: str) -> bytes:
    return _REMOTE_ACCESS.pack(network, status, trigger) + ansi_string(hostname)
