"""Row leases with epoch fencing, for controllers acting on nodes.

A lease is free when it has no owner or its expiry has passed. Claiming is one conditional
UPDATE that also bumps ``lease_epoch``; the epoch is the fencing token every later write of the
holder must present (:func:`renew`, :func:`release`, :func:`check_fence`). A controller that
stalled past its expiry finds its epoch stale and gets :class:`LeaseLostError`. On PostgreSQL
the claim of "any free node" picks its row with ``FOR UPDATE SKIP LOCKED`` so controllers do not
queue behind each other; SQLite (one writer at a time) needs no row locks and SQLAlchemy omits
the clause there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

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


def check_fence(conn: sa.Connection, lease: Lease) -> None:
    """Inside a caller's transaction: fail unless ``lease`` is still the current holder."""
    row = conn.execute(sa.select(t.nodes.c.id).where(_held(lease)).with_for_update()).first()
    if row is None:
        raise LeaseLostError(f"lease on node {lease.node!r} was lost (epoch {lease.epoch})")
