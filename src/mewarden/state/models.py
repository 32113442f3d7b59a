"""Value types of org state (pure)."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mewarden.errors import BadInputError


class Policy(enum.StrEnum):
    """What the org does with a node's ME."""

    USE = "use"
    NEUTRALIZE = "neutralize"
    IGNORE = "ignore"


DEFAULT_POLICY = Policy.IGNORE


class Lifecycle(enum.StrEnum):
    """Where a node is in its life in org state."""

    REGISTERED = "registered"
    ENROLLED = "enrolled"
    RETIRED = "retired"


class DocumentKind(enum.StrEnum):
    """Typed metadata documents attached to a node (append-only)."""

    FIRMWARE_INSPECT = "firmware-inspect"
    FIRMWARE_NEUTRALIZE = "firmware-neutralize"
    HOST_PROBE = "host-probe"
    AMT_IDENTITY = "amt-identity"
    CONSOLE_CAPTURE = "console-capture"
    """What a quarantined node's console showed (SOL tail, KVM screenshot), from heal."""


class Purpose(enum.StrEnum):
    """What a stored credential is for (part of its associated data)."""

    AMT_ADMIN = "amt-admin"


def parse_policy(text: str) -> Policy:
    """A policy name, or a one-line BadInputError listing the valid ones."""
    try:
        return Policy(text.strip().lower())
    except ValueError:
        valid = ", ".join(p.value for p in Policy)
        raise BadInputError(f"unknown policy {text!r} (expected one of: {valid})") from None


# column widths of the schema (state/schema.py): longer values are bad input, not a DB error
NAME_MAX = 128
HOST_MAX = 255
USERNAME_MAX = 64
_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def check_text(value: str, what: str, limit: int) -> str:
    """``value`` unless it is empty, longer than ``limit`` or holds control characters."""
    if not value.strip():
        raise BadInputError(f"{what} must not be empty")
    if len(value) > limit:
        raise BadInputError(f"{what} is {len(value)} characters long (at most {limit})")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise BadInputError(f"{what} {value[:40]!r} contains a control character")
    return value


def check_group_name(name: str) -> str:
    """A valid group name (same rules as node names)."""
    return check_text(name, "group name", NAME_MAX)


def check_mac(text: str) -> str:
    """A MAC address normalized to lower case with colons; BadInputError otherwise."""
    value = text.strip().lower()
    if not _MAC.match(value):
        raise BadInputError(f"{text[:40]!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    return value.replace("-", ":")


def check_port(value: object, what: str = "amt_port") -> int:
    """A TCP port number: an int (not a bool) from 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInputError(f"{what} {value!r} is not an integer")
    if not 1 <= value <= 65535:
        raise BadInputError(f"{what} {value} is out of range")
    return value


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything mewarden stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def content_hash(body: str) -> str:
    """SHA-256 hex of a document body (UTF-8)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """What a user gives to add a node."""

    name: str
    group: str | None = None
    policy: Policy | None = None
    amt_host: str | None = None
    amt_port: int | None = None
    amt_tls: bool = False
    amt_username: str | None = None
    macs: tuple[str, ...] = ()
    agent_address: str | None = None

    def __post_init__(self) -> None:
        """Refuse what the schema cannot hold, as one-line bad input (MACs are normalized)."""
        check_text(self.name, "node name", NAME_MAX)
        if self.group is not None:
            check_group_name(self.group)
        for value, what, limit in (
            (self.amt_host, "AMT host", HOST_MAX),
            (self.amt_username, "AMT user", USERNAME_MAX),
            (self.agent_address, "agent address", HOST_MAX),
        ):
            if value is not None:
                check_text(value, what, limit)
        if self.amt_port is not None:
            check_port(self.amt_port)
        object.__setattr__(self, "macs", tuple(check_mac(m) for m in self.macs))


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A node as stored, with its effective policy and where that policy came from."""

    name: str
    group: str | None
    policy: Policy | None
    effective_policy: Policy
    policy_source: str
    lifecycle: Lifecycle
    amt_host: str | None
    amt_port: int | None
    amt_tls: bool
    amt_username: str | None
    macs: tuple[str, ...]
    agent_address: str | None
    tls_pin: str | None
    version: int
    lease_owner: str | None
    lease_epoch: int
    created_at: datetime
    updated_at: datetime
    maintenance: bool = False
    """An operator works on the node: the heal controller leaves it alone."""
    desired_power_on: bool = True
    """False when the operator means the node to be off: never powered on by healing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A group of nodes sharing a default policy."""

    name: str
    policy: Policy | None
    nodes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """One append-only metadata document of a node."""

    id: int
    node: str
    kind: DocumentKind
    source: str
    created_at: datetime
    sha256: str
    body: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One audit record."""

    id: int
    at: datetime
    node: str | None
    actor: str
    kind: str
    detail: dict[str, object]


def resolve_policy(
    node_policy: Policy | None, group_policy: Policy | None, org_default: Policy
) -> tuple[Policy, str]:
    """Inheritance node → group → org default; returns the policy and where it came from."""
    if node_policy is not None:
        return node_policy, "node"
    if group_policy is not None:
        return group_policy, "group"
    return org_default, "org"
