"""Turning node rows into values and back (helpers of :mod:`mewarden.state.store`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from mewarden.state import schema as t
from mewarden.state.models import (
    Document,
    DocumentKind,
    Lifecycle,
    Node,
    NodeSpec,
    Policy,
    as_utc,
    resolve_policy,
)


def opt(policy: Policy | None) -> str | None:
    """A policy as stored (None: inherit)."""
    return policy.value if policy is not None else None


def policy_of(value: str | None) -> Policy | None:
    """A stored policy back as the enum."""
    return Policy(value) if value else None


def node_values(spec: NodeSpec, group_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "name": spec.name,
        "group_id": group_id,
        "policy": opt(spec.policy),
        "lifecycle": Lifecycle.REGISTERED.value,
        "amt_host": spec.amt_host,
        "amt_port": spec.amt_port,
        "amt_tls": spec.amt_tls,
        "amt_username": spec.amt_username,
        "macs": json.dumps(sorted({m.lower() for m in spec.macs})),
        "agent_address": spec.agent_address,
        "version": 1,
        "lease_epoch": 0,
        "created_at": now,
        "updated_at": now,
    }


def spec_detail(spec: NodeSpec) -> dict[str, Any]:
    return {
        "group": spec.group,
        "policy": opt(spec.policy),
        "amt_host": spec.amt_host,
        "amt_port": spec.amt_port,
        "amt_tls": spec.amt_tls,
    }


def node_query() -> sa.Select[Any]:
    return sa.select(
        t.nodes,
        t.groups.c.name.label("group_name"),
        t.groups.c.policy.label("group_policy"),
        t.tls_pins.c.sha256.label("pin"),
    ).select_from(
        t.nodes.outerjoin(t.groups, t.groups.c.id == t.nodes.c.group_id).outerjoin(
            t.tls_pins, t.tls_pins.c.node_id == t.nodes.c.id
        )
    )


def node_from_row(row: sa.Row[Any], org_default: Policy) -> Node:
    m = row._mapping
    own = policy_of(m["policy"])
    effective, source = resolve_policy(own, policy_of(m["group_policy"]), org_default)
    return Node(
        name=m["name"],
        group=m["group_name"],
        policy=own,
        effective_policy=effective,
        policy_source=source,
        lifecycle=Lifecycle(m["lifecycle"]),
        amt_host=m["amt_host"],
        amt_port=m["amt_port"],
        amt_tls=bool(m["amt_tls"]),
        amt_username=m["amt_username"],
        macs=tuple(json.loads(m["macs"])),
        agent_address=m["agent_address"],
        tls_pin=m["pin"],
        version=m["version"],
        lease_owner=m["lease_owner"],
        lease_epoch=m["lease_epoch"],
        maintenance=bool(m["maintenance"]),
        desired_power_on=m["power_intent"] != "off",
        created_at=as_utc(m["created_at"]),
        updated_at=as_utc(m["updated_at"]),
    )


def document_from_row(row: sa.RowMapping) -> Document:
    return Document(
        id=row["id"],
        node=row["name"],
        kind=DocumentKind(row["kind"]),
        source=row["source"],
        created_at=as_utc(row["created_at"]),
        sha256=row["sha256"],
        body=row["body"],
    )
