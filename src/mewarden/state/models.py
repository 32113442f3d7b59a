"""Value types of org state (pure)."""

from __future__ import annotations

import enum
import hashlib
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
