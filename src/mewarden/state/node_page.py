"""Paged, filtered and sorted node listings and fleet counts for ``mewarden serve``, in SQL, so
a page of 50 out of 10,000 nodes reads 50 rows (plus one count)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mewarden.errors import BadInputError
from mewarden.state import schema as t
from mewarden.state.models import Node, Policy
from mewarden.state.rows import node_from_row, node_query
from mewarden.state.store import Store

SORTS = ("name", "-name", "policy", "-policy", "lifecycle", "-lifecycle", "updated", "-updated")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFilter:
    """What the node list shows: a name/host search, exact filters, a sort and a page."""

    search: str = ""
    policy: str = ""
    group: str = ""
    lifecycle: str = ""
    maintenance: bool | None = None
    sort: str = "name"
    offset: int = 0
    limit: int = 50

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise BadInputError(f"unknown sort {self.sort!r} (expected one of: {', '.join(SORTS)})")
        if not 1 <= self.limit <= 1000 or self.offset < 0:
            raise BadInputError("limit must be 1-1000 and offset at least 0")


def _effective(default: str) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(t.nodes.c.policy, t.groups.c.policy, sa.literal(default))


def _where(query: sa.Select[Any], f: NodeFilter, default: str) -> sa.Select[Any]:
    if f.search:
        like = "%" + f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                t.nodes.c.name.ilike(like, escape="\\"),
                t.nodes.c.amt_host.ilike(like, escape="\\"),
            )
        )
    if f.policy:
        query = query.where(_effective(default) == f.policy)
    if f.group:
        query = query.where(t.groups.c.name == f.group)
    if f.lifecycle:
        query = query.where(t.nodes.c.lifecycle == f.lifecycle)
    if f.maintenance is not None:
        query = query.where(t.nodes.c.maintenance == f.maintenance)
    return query


def _order(f: NodeFilter, default: str) -> list[sa.ColumnElement[Any]]:
    column = {
        "name": t.nodes.c.name,
        "policy": _effective(default),
        "lifecycle": t.nodes.c.lifecycle,
        "updated": t.nodes.c.updated_at,
    }[f.sort.lstrip("-")]
    first = column.desc() if f.sort.startswith("-") else column.asc()
    return [first, t.nodes.c.name.asc()]


def node_page(store: Store, f: NodeFilter) -> tuple[int, list[Node]]:
    """(how many nodes match, the page of them)."""
    with store.engine.connect() as conn:
        default = store.default_policy(conn).value
        counted = _where(
            sa.select(sa.func.count()).select_from(
                t.nodes.outerjoin(t.groups, t.groups.c.id == t.nodes.c.group_id)
            ),
            f,
            default,
        )
        total = int(conn.execute(counted).scalar_one())
        query = _where(node_query(), f, default).order_by(*_order(f, default))
        rows = conn.execute(query.offset(f.offset).limit(f.limit)).all()
    return total, [node_from_row(row, Policy(default)) for row in rows]


def fleet_counts(store: Store) -> dict[str, dict[str, int]]:
    """Nodes by effective policy, lifecycle and maintenance (three GROUP BY queries)."""
    joined = t.nodes.outerjoin(t.groups, t.groups.c.id == t.nodes.c.group_id)
    with store.engine.connect() as conn:
        default = store.default_policy(conn).value
        out: dict[str, dict[str, int]] = {}
        for key, column in (
            ("policy", _effective(default)),
            ("lifecycle", t.nodes.c.lifecycle),
            ("maintenance", t.nodes.c.maintenance),
        ):
            query = sa.select(column, sa.func.count()).select_from(joined).group_by(column)
            out[key] = {str(k).lower(): int(n) for k, n in conn.execute(query).all()}
    return out


def event_page(
    store: Store,
    *,
    node: str = "",
    kind: str = "",
    actor: str = "",
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Events newest first (``before_id`` pages back; ``after_id`` gives newer ones)."""
    query = sa.select(t.events).order_by(t.events.c.id.desc()).limit(limit)
    if node:
        query = query.where(t.events.c.node == node)
    if kind:
        query = query.where(t.events.c.kind.startswith(kind, autoescape=True))
    if actor:
        query = query.where(t.events.c.actor == actor)
    if before_id is not None:
        query = query.where(t.events.c.id < before_id)
    if after_id is not None:
        query = query.where(t.events.c.id > after_id)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings().all()]


def latest_event_id(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(t.events.c.id))).scalar() or 0)


def group_names(store: Store) -> list[str]:
    """Every group's name (for filter menus: no per-group node counts)."""
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(t.groups.c.name).order_by(t.groups.c.name)).scalars())
