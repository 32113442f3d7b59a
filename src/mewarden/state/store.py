"""The store API: every read and write of org state (the only SQL in mewarden).

Each public method is one short transaction. Every change appends an audit event in the same
transaction, so the audit trail and the state never disagree. Read-modify-write updates of a
node go through a compare-and-set on its ``version`` and retry, so concurrent writers (several
CLIs, several controllers on PostgreSQL) never lose each other's update.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mewarden.crypto.vault import OrgKey
from mewarden.errors import DuplicateError, NodeNotFoundError, StateError
from mewarden.state import schema as t
from mewarden.state.credentials import CredentialStore
from mewarden.state.models import (
    DEFAULT_POLICY,
    Document,
    DocumentKind,
    Event,
    Group,
    Lifecycle,
    Node,
    NodeSpec,
    Policy,
    as_utc,
    check_group_name,
    check_mac,
    content_hash,
)
from mewarden.state.rows import (
    document_from_row,
    node_from_row,
    node_query,
    node_values,
    opt,
    policy_of,
    spec_detail,
)
from mewarden.state.store_base import KEY_ID, Clock, is_key_id, utc_now
from mewarden.state.store_base import node_id as _node_id

__all__ = ["Clock", "Store", "utc_now"]

_CAS_ATTEMPTS = 50
_DEFAULT_POLICY = "default_policy"


class Store(CredentialStore):
    """Org state on one engine, acting as ``actor`` (recorded in every event)."""

    # --- org settings and key binding ------------------------------------------------------

    def initialize(self, org_key: OrgKey) -> None:
        """Bind a freshly migrated database to ``org_key`` (refuses a second time)."""
        with self._tx() as conn:
            if conn.execute(sa.select(t.org_settings.c.value).where(is_key_id())).first():
                raise DuplicateError("this org database is already initialized")
            conn.execute(
                t.org_settings.insert(),
                [
                    {"key": KEY_ID, "value": org_key.key_id},
                    {"key": _DEFAULT_POLICY, "value": DEFAULT_POLICY.value},
                ],
            )
            self._event(conn, "org.init", None, {"key_id": org_key.key_id})

    def default_policy(self, conn: sa.Connection | None = None) -> Policy:
        """The org-wide default policy (ignore unless changed)."""
        query = sa.select(t.org_settings.c.value).where(t.org_settings.c.key == _DEFAULT_POLICY)
        if conn is None:
            with self._tx() as own:
                value = own.execute(query).scalar()
        else:
            value = conn.execute(query).scalar()
        return Policy(value) if value else DEFAULT_POLICY

    # --- groups ------------------------------------------------------------------------------

    def add_group(self, name: str, policy: Policy | None = None) -> None:
        """Create a group; DuplicateError when the name is taken."""
        check_group_name(name)
        try:
            with self._tx() as conn:
                conn.execute(
                    t.groups.insert().values(name=name, policy=opt(policy), created_at=self.clock())
                )
                self._event(conn, "group.add", None, {"group": name, "policy": opt(policy)})
        except IntegrityError:
            raise DuplicateError(f"group {name!r} already exists") from None

    def set_group_policy(self, name: str, policy: Policy | None) -> None:
        """Change a group's policy (None: inherit the org default)."""
        with self._tx() as conn:
            done = conn.execute(
                t.groups.update().where(t.groups.c.name == name).values(policy=opt(policy))
            )
            if done.rowcount != 1:
                raise StateError(f"no group named {name!r}")
            self._event(conn, "group.set-policy", None, {"group": name, "policy": opt(policy)})

    def remove_group(self, name: str) -> None:
        """Delete an empty group."""
        with self._tx() as conn:
            group_id = _group_id(conn, name)
            used = conn.execute(
                sa.select(sa.func.count()).where(t.nodes.c.group_id == group_id)
            ).scalar_one()
            if used:
                raise StateError(f"group {name!r} still has {used} node(s)")
            conn.execute(t.groups.delete().where(t.groups.c.id == group_id))
            self._event(conn, "group.remove", None, {"group": name})

    def list_groups(self) -> list[Group]:
        """Every group with its node count."""
        count = sa.func.count(t.nodes.c.id)
        query = (
            sa.select(t.groups.c.name, t.groups.c.policy, count)
            .select_from(t.groups.outerjoin(t.nodes, t.nodes.c.group_id == t.groups.c.id))
            .group_by(t.groups.c.id, t.groups.c.name, t.groups.c.policy)
            .order_by(t.groups.c.name)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [Group(name=r[0], policy=policy_of(r[1]), nodes=int(r[2])) for r in rows]

    # --- nodes ---------------------------------------------------------------------------------

    def add_node(self, spec: NodeSpec) -> Node:
        """Register a node; DuplicateError when the name exists, StateError for unknown group."""
        now = self.clock()
        try:
            with self._tx() as conn:
                group_id = _group_id(conn, spec.group) if spec.group else None
                conn.execute(t.nodes.insert().values(**node_values(spec, group_id, now)))
                self._event(conn, "node.add", spec.name, spec_detail(spec))
        except IntegrityError:
            raise DuplicateError(f"node {spec.name!r} already exists") from None
        return self.node(spec.name)

    def add_nodes(self, specs: list[NodeSpec]) -> None:
        """Register many nodes in one transaction: all of them or, on any error, none."""
        now = self.clock()
        current = ""
        try:
            with self._tx() as conn:
                group_ids = {g: _group_id(conn, g) for g in {s.group for s in specs if s.group}}
                for spec in specs:
                    current = spec.name
                    group_id = group_ids[spec.group] if spec.group else None
                    conn.execute(t.nodes.insert().values(**node_values(spec, group_id, now)))
                    self._event(conn, "node.add", spec.name, spec_detail(spec))
        except IntegrityError:
            raise DuplicateError(f"node {current!r} already exists; nothing imported") from None

    def node(self, name: str) -> Node:
        """One node by name; NodeNotFoundError otherwise."""
        with self._tx() as conn:
            row = conn.execute(node_query().where(t.nodes.c.name == name)).first()
            if row is None:
                raise NodeNotFoundError(f"no node named {name!r}")
            return node_from_row(row, self.default_policy(conn))

    def nodes(self) -> list[Node]:
        """Every node, by name."""
        with self._tx() as conn:
            default = self.default_policy(conn)
            rows = conn.execute(node_query().order_by(t.nodes.c.name)).all()
        return [node_from_row(row, default) for row in rows]

    def update_node(
        self, name: str, change: Callable[[Node], Mapping[str, Any]], kind: str
    ) -> Node:
        """Apply ``change`` (current node → column values) with compare-and-set on version."""
        for _ in range(_CAS_ATTEMPTS):
            current = self.node(name)
            values = dict(change(current))
            with self._tx() as conn:
                done = conn.execute(
                    t.nodes.update()
                    .where(t.nodes.c.name == name, t.nodes.c.version == current.version)
                    .values(**values, version=current.version + 1, updated_at=self.clock())
                )
                if done.rowcount == 1:
                    self._event(conn, kind, name, _jsonable(values))
                    break
        else:
            raise StateError(f"node {name!r} kept changing under us; try again")
        return self.node(name)

    def set_policy(self, name: str, policy: Policy | None) -> Node:
        """Set (or with None, clear to inherit) a node's own policy."""
        return self.update_node(name, lambda _n: {"policy": opt(policy)}, "node.set-policy")

    def set_group(self, name: str, group: str | None) -> Node:
        """Move a node to ``group`` (None: no group)."""
        with self._tx() as conn:
            group_id = _group_id(conn, group) if group else None
        return self.update_node(name, lambda _n: {"group_id": group_id}, "node.set-group")

    def add_mac(self, name: str, mac: str) -> Node:
        """Add a MAC address to a node's list (a read-modify-write, safe under concurrency)."""
        normalized = check_mac(mac)

        def change(node: Node) -> dict[str, Any]:
            macs = sorted({*node.macs, normalized})
            return {"macs": json.dumps(macs)}

        return self.update_node(name, change, "node.add-mac")

    def set_lifecycle(self, name: str, lifecycle: Lifecycle) -> Node:
        """Move a node to ``lifecycle``."""
        return self.update_node(name, lambda _n: {"lifecycle": lifecycle.value}, "node.lifecycle")

    def remove_node(self, name: str) -> None:
        """Delete a node with its documents, credentials and pin (its events stay)."""
        with self._tx() as conn:
            node_id = _node_id(conn, name)
            for table in (t.node_documents, t.credentials, t.tls_pins):
                conn.execute(table.delete().where(table.c.node_id == node_id))
            conn.execute(t.nodes.delete().where(t.nodes.c.id == node_id))
            self._event(conn, "node.remove", name, {})

    # --- documents, pins, events ------------------------------------------------------------

    def attach_document(self, name: str, kind: DocumentKind, source: str, body: str) -> Document:
        """Append a metadata document to a node (never replaces an earlier one)."""
        digest = content_hash(body)
        with self._tx() as conn:
            node_id = _node_id(conn, name)
            now = self.clock()
            inserted = conn.execute(
                t.node_documents.insert().values(
                    node_id=node_id,
                    kind=kind.value,
                    source=source,
                    created_at=now,
                    sha256=digest,
                    body=body,
                )
            )
            key = inserted.inserted_primary_key
            doc_id = int(key[0]) if key is not None else 0
            self._event(conn, "node.document", name, {"kind": kind.value, "sha256": digest})
        return Document(
            id=doc_id, node=name, kind=kind, source=source, created_at=now, sha256=digest, body=body
        )

    def documents(self, name: str, kind: DocumentKind | None = None) -> list[Document]:
        """A node's documents, oldest first."""
        query = (
            sa.select(t.node_documents, t.nodes.c.name)
            .join(t.nodes, t.nodes.c.id == t.node_documents.c.node_id)
            .where(t.nodes.c.name == name)
            .order_by(t.node_documents.c.id)
        )
        if kind is not None:
            query = query.where(t.node_documents.c.kind == kind.value)
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [document_from_row(row) for row in rows]

    def pin_tls(self, name: str, sha256: str) -> None:
        """Record (or replace) the SHA-256 fingerprint of a node's AMT TLS certificate."""
        with self._tx() as conn:
            node_id = _node_id(conn, name)
            conn.execute(t.tls_pins.delete().where(t.tls_pins.c.node_id == node_id))
            conn.execute(
                t.tls_pins.insert().values(node_id=node_id, sha256=sha256, pinned_at=self.clock())
            )
            self._event(conn, "node.tls-pin", name, {"sha256": sha256})

    def record(self, kind: str, node: str | None = None, **detail: Any) -> None:
        """Append an audit event (decisions and actions not tied to another write)."""
        with self._tx() as conn:
            self._event(conn, kind, node, detail)

    def events(
        self, *, node: str | None = None, since: datetime | None = None, limit: int = 10_000
    ) -> list[Event]:
        """Audit events, oldest first, optionally for one node and/or since a time."""
        query = sa.select(t.events).order_by(t.events.c.id).limit(limit)
        if node is not None:
            query = query.where(t.events.c.node == node)
        if since is not None:
            # SQLite keeps timestamps as zone-less UTC text: compare in UTC, whatever the offset
            query = query.where(t.events.c.at >= as_utc(since))
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Event(
                id=r["id"],
                at=as_utc(r["at"]),
                node=r["node"],
                actor=r["actor"],
                kind=r["kind"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]


# --- helpers -------------------------------------------------------------------------------------


def _group_id(conn: sa.Connection, name: str) -> int:
    found = conn.execute(sa.select(t.groups.c.id).where(t.groups.c.name == name)).scalar()
    if found is None:
        raise StateError(f"no group named {name!r}")
    return int(found)


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | bool | None) else str(v) for k, v in values.items()}
