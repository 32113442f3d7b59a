"""Fleet status over the whole org in three queries (nodes, credentials, latest documents)."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

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


def fleet_status(store: Store) -> list[NodeStatus]:
    """Every node's compliance verdict, by node name."""
    nodes = store.nodes()
    query = (
        sa.select(t.nodes.c.name)
        .join(t.credentials, t.credentials.c.node_id == t.nodes.c.id)
        .where(t.credentials.c.purpose == Purpose.AMT_ADMIN.value)
    )
    with store.engine.connect() as conn:
        vaulted = set(conn.execute(query).scalars())
        latest = _latest_documents(conn)
    return [
        node_status(
            node,
            Observed(has_admin_credential=node.name in vaulted, latest=latest.get(node.name, {})),
        )
        for node in nodes
    ]
