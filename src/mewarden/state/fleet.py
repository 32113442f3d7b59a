"""Fleet status over the whole org in three queries (nodes, credentials, latest documents)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from mewarden.policy.compliance import Rules
from mewarden.state import schema as t
from mewarden.state.models import Document, DocumentKind, Purpose, as_utc
from mewarden.state.status import NodeStatus, Observed, node_status
from mewarden.state.store import Store


def _latest_documents(conn: sa.Connection) -> dict[str, dict[DocumentKind, Document]]:
    docs = t.node_documents
    newest = (
        sa.select(sa.func.max(docs.c.id).label("id"))
        .group_by(docs.c.node_id, docs.c.kind)
        .subquery()
    )
    query = (
        sa.select(docs, t.nodes.c.name)
        .join(newest, newest.c.id == docs.c.id)
        .join(t.nodes, t.nodes.c.id == docs.c.node_id)
    )
    found: dict[str, dict[DocumentKind, Document]] = defaultdict(dict)
    for row in conn.execute(query).mappings():
        kind = DocumentKind(row["kind"])
        found[row["name"]][kind] = Document(
            id=row["id"],
            node=row["name"],
            kind=kind,
            source=row["source"],
            created_at=as_utc(row["created_at"]),
            sha256=row["sha256"],
            body=row["body"],
        )
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSnapshot:
    """The verdicts and the newest document of each kind they were made from."""

    rows: list[NodeStatus]
    latest: dict[str, dict[DocumentKind, Document]]


def fleet_status(
    store: Store, *, rules: Rules | None = None, names: set[str] | None = None
) -> list[NodeStatus]:
    """Every node's compliance verdict (or those in ``names``), by node name, at store.clock().

    ``rules`` default to the org's settings (:func:`mewarden.state.evidence.load_rules`).
    """
    return fleet_snapshot(store, rules=rules, names=names).rows


def fleet_snapshot(
    store: Store, *, rules: Rules | None = None, names: set[str] | None = None
) -> FleetSnapshot:
    """:func:`fleet_status` with the documents it read."""
    from mewarden.state.evidence import load_rules

    chosen = rules if rules is not None else load_rules(store)
    now = store.clock()
    nodes = [n for n in store.nodes() if names is None or n.name in names]
    query = (
        sa.select(t.nodes.c.name)
        .join(t.credentials, t.credentials.c.node_id == t.nodes.c.id)
        .where(t.credentials.c.purpose == Purpose.AMT_ADMIN.value)
    )
    with store.engine.connect() as conn:
        vaulted = set(conn.execute(query).scalars())
        latest = _latest_documents(conn)
    rows = [
        node_status(
            node,
            Observed(has_admin_credential=node.name in vaulted, latest=latest.get(node.name, {})),
            now=now,
            rules=chosen,
        )
        for node in nodes
    ]
    return FleetSnapshot(rows=rows, latest=latest)
