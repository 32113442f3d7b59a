"""Row leases with epoch fencing, for controllers acting on nodes.

A lease is free when it has no owner or its expiry has passed. Claiming is one conditional
UPDATE that also bumps ``lease_epoch``; the epoch is the fencing token every later write of the
holder must present (:func:`renew`, :func:`release`, :func:`check_fence`). A controller that
stalled past its expiry finds its lease expired or its epoch stale and gets
:class:`LeaseLostError`. The heal controller claims its batch with :func:`claim_batch`: one
UPDATE whose rows, on PostgreSQL, are picked with ``FOR UPDATE SKIP LOCKED`` so controllers do
not queue behind each other; SQLite (one writer at a time) needs no row locks and SQLAlchemy
omits the clause there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from mewarden.errors import LeaseLostError, NodeNotFoundError
from mewarden.state import schema as t
from mewarden.state.store import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A held lease: which node, who holds it, and the fencing epoch."""

    node: str
    owner: str
    epoch: int


def _free(now: sa.ColumnElement[object] | object) -> sa.ColumnElement[bool]:
    return sa.or_(t.nodes.c.lease_owner.is_(None), t.nodes.c.lease_expires < now)


def claim(store: Store, node: str, owner: str, ttl: timedelta) -> Lease | None:
    """Take the lease of ``node`` if it is free; None when someone else holds it."""
    now = store.clock()
    statement = (
        t.nodes.update()
        .where(t.nodes.c.name == node, _free(now))
        .values(lease_owner=owner, lease_expires=now + ttl, lease_epoch=t.nodes.c.lease_epoch + 1)
        .returning(t.nodes.c.lease_epoch)
    )
    with store.engine.begin() as conn:
        epoch = conn.execute(statement).scalar()
        if epoch is None:
            exists = conn.execute(sa.select(t.nodes.c.id).where(t.nodes.c.name == node)).first()
            if exists is None:
                raise NodeNotFoundError(f"no node named {node!r}")
            return None
    store.record("lease.claim", node, owner=owner, epoch=epoch)
    return Lease(node=node, owner=owner, epoch=int(epoch))


def claim_any(store: Store, owner: str, ttl: timedelta) -> Lease | None:
    """Take the lease of any one free node (SKIP LOCKED on PostgreSQL); None when none is free."""
    now = store.clock()
    pick = (
        sa.select(t.nodes.c.id)
        .where(_free(now))
        .order_by(t.nodes.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        t.nodes.update()
        .where(t.nodes.c.id == pick, _free(now))
        .values(lease_owner=owner, lease_expires=now + ttl, lease_epoch=t.nodes.c.lease_epoch + 1)
        .returning(t.nodes.c.name, t.nodes.c.lease_epoch)
    )
    with store.engine.begin() as conn:
        row = conn.execute(statement).first()
    if row is None:
        return None
    return Lease(node=row[0], owner=owner, epoch=int(row[1]))


def _named(conn: sa.Connection, names: Sequence[str]) -> sa.ColumnElement[bool]:
    """``nodes.name`` is one of ``names``, as one bound parameter whatever their number."""
    if conn.dialect.name == "postgresql":
        array = sa.bindparam("claim_names", list(names), type_=postgresql.ARRAY(sa.String()))
        return t.nodes.c.name == sa.any_(array)
    listed: sa.Select[tuple[object]] = sa.select(sa.column("value")).select_from(
        sa.func.json_each(sa.bindparam("claim_names", json.dumps(list(names))))
    )
    return t.nodes.c.name.in_(listed.scalar_subquery())


def claim_batch(
    store: Store, names: Sequence[str], owner: str, ttl: timedelta, *, limit: int | None = None
) -> list[Lease]:
    """Take the free leases among ``names`` (at most ``limit``) in one conditional UPDATE.

    Never-held nodes go first, then expired ones. On PostgreSQL the rows are picked by a
    ``FOR UPDATE SKIP LOCKED`` subquery, so replicas claiming at the same time split the nodes
    instead of queueing; SQLite's single writer makes the plain conditional UPDATE enough.
    The ``lease.claim`` events are written in the same transaction.
    """
    if not names:
        return []
    now = store.clock()
    with store.engine.begin() as conn:
        pick = (
            sa.select(t.nodes.c.id)
            .where(_named(conn, names), _free(now))
            .order_by(t.nodes.c.lease_owner.is_not(None), t.nodes.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            t.nodes.update()
            .where(t.nodes.c.id.in_(pick.scalar_subquery()), _free(now))
            .values(
                lease_owner=owner, lease_expires=now + ttl, lease_epoch=t.nodes.c.lease_epoch + 1
            )
            .returning(t.nodes.c.name, t.nodes.c.lease_epoch)
        )
        got = [Lease(node=str(n), owner=owner, epoch=int(e)) for n, e in conn.execute(statement)]
        if got:
            conn.execute(t.events.insert(), [_claim_event(store, now, lease) for lease in got])
    return sorted(got, key=lambda lease: lease.node)


def _claim_event(store: Store, now: datetime, lease: Lease) -> dict[str, object]:
    detail = json.dumps({"epoch": lease.epoch, "owner": lease.owner}, sort_keys=True)
    return {
        "at": now,
        "node": lease.node,
        "actor": store.actor,
        "kind": "lease.claim",
        "detail": detail,
    }


def _held(lease: Lease) -> sa.ColumnElement[bool]:
    return sa.and_(
        t.nodes.c.name == lease.node,
        t.nodes.c.lease_owner == lease.owner,
        t.nodes.c.lease_epoch == lease.epoch,
    )


def renew(store: Store, lease: Lease, ttl: timedelta) -> None:
    """Extend a held lease; LeaseLostError when the epoch or owner no longer match."""
    now = store.clock()
    statement = (
        t.nodes.update()
        .where(_held(lease), t.nodes.c.lease_expires >= now)
        .values(lease_expires=now + ttl)
    )
    with store.engine.begin() as conn:
        if conn.execute(statement).rowcount != 1:
            raise LeaseLostError(f"lease on node {lease.node!r} was lost (epoch {lease.epoch})")


def release(store: Store, lease: Lease) -> None:
    """Give a lease back; LeaseLostError if it was already taken over."""
    statement = t.nodes.update().where(_held(lease)).values(lease_owner=None, lease_expires=None)
    with store.engine.begin() as conn:
        if conn.execute(statement).rowcount != 1:
            raise LeaseLostError(f"lease on node {lease.node!r} was lost (epoch {lease.epoch})")


def check_fence(conn: sa.Connection, lease: Lease, *, now: datetime | None = None) -> None:
    """Inside a caller's transaction: fail unless ``lease`` is still the current holder.

    With ``now`` (every write that leads to an action passes it) the lease must also not have
    expired: past its expiry another controller may claim the node at any moment.
    """
    held = _held(lease)
    if now is not None:
        held = sa.and_(held, t.nodes.c.lease_expires >= now)
    row = conn.execute(sa.select(t.nodes.c.id).where(held).with_for_update()).first()
    if row is None:
        raise LeaseLostError(f"lease on node {lease.node!r} was lost (epoch {lease.epoch})")
