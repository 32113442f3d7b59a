"""Org state of the heal controller: incidents per node, the kill switch, fenced writes.

Every incident write happens inside one transaction that first checks the writer's node lease
(:func:`mewarden.state.leases.check_fence`) and appends its audit events, so a controller whose
lease was taken over can neither overwrite the new holder's state nor record a decision it may
no longer carry out. A write that starts an action also passes its :class:`Admission`: in the
same transaction the fleet-wide in-flight count is taken and a token is taken from the shared
rate budget (``heal_budgets``, row-locked on PostgreSQL), so N replicas, or a controller that
restarts in a loop, share one budget. The kill switch is a row of ``org_settings``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from mewarden.errors import StateError
from mewarden.state import schema as t
from mewarden.state.leases import Lease, check_fence
from mewarden.state.models import as_utc
from mewarden.state.store import Store

PAUSED_KEY = "heal_paused"
_IN_CHUNK = 500
"""Names per ``IN (...)`` list, well below SQLite's bound-parameter limit."""

EventSpec = tuple[str, Mapping[str, Any]]

BucketTake = Callable[[float | None, float | None], tuple[float, float] | None]
"""(stored tokens, stored time; None: never used) -> the bucket after taking one token, or
None when it holds less than one. The arithmetic is the caller's (policy's token bucket)."""

SERIALIZING_BUCKET = "actions"
"""Every admission locks this row first, so in-flight counts and token takes of concurrent
replicas are serialized (PostgreSQL row lock; SQLite's write lock serializes anyway)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """Fleet-wide limits a new action must fit in, checked in its incident's transaction."""

    bucket: str
    """The rate budget the action spends (``actions`` or ``pxe``)."""
    take: BucketTake
    max_in_flight: int | None = None
    """Refuse when this many *other* nodes are already in an in-flight phase (None: no count)."""
    in_flight_phases: frozenset[str] = frozenset()


class _Refused(Exception):
    """Rolls an admission's transaction back; ``rule`` is ``max-in-flight`` or ``budget``."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def _fail(exc: OperationalError) -> StateError:
    first = str(exc.orig).splitlines()[0] if exc.orig is not None else "error"
    return StateError(f"org database error: {first}")


def _insert_events(
    conn: sa.Connection, store: Store, node: str | None, events: Sequence[EventSpec]
) -> None:
    now = store.clock()
    for kind, detail in events:
        conn.execute(
            t.events.insert().values(
                at=now,
                node=node,
                actor=store.actor,
                kind=kind,
                detail=json.dumps(dict(detail), sort_keys=True, default=str),
            )
        )


def load_incidents(store: Store, nodes: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Persisted heal state (decoded JSON body) by node name: of ``nodes``, or of every node."""
    table = t.heal_incidents
    query = sa.select(table.c.node, table.c.body)
    rows: list[tuple[Any, Any]] = []
    try:
        with store.engine.begin() as conn:
            if nodes is None:
                rows = [(r[0], r[1]) for r in conn.execute(query)]
            else:
                wanted = list(nodes)
                for at in range(0, len(wanted), _IN_CHUNK):
                    chunk = wanted[at : at + _IN_CHUNK]
                    rows += [
                        (r[0], r[1]) for r in conn.execute(query.where(table.c.node.in_(chunk)))
                    ]
    except OperationalError as exc:
        raise _fail(exc) from None
    return {str(name): json.loads(body) for name, body in rows}


def enrolled_times(store: Store, nodes: Sequence[str]) -> dict[str, datetime]:
    """When each of ``nodes`` last entered lifecycle ``enrolled`` (its ``node.lifecycle``
    event); nodes without such an event are missing from the answer."""
    ev = t.events
    query = (
        sa.select(ev.c.node, sa.func.max(ev.c.at))
        .where(ev.c.kind == "node.lifecycle", ev.c.detail.like('%"lifecycle": "enrolled"%'))
        .group_by(ev.c.node)
    )
    found: dict[str, datetime] = {}
    wanted = list(nodes)
    try:
        with store.engine.begin() as conn:
            for at in range(0, len(wanted), _IN_CHUNK):
                chunk = query.where(ev.c.node.in_(wanted[at : at + _IN_CHUNK]))
                found.update({str(n): as_utc(when) for n, when in conn.execute(chunk)})
    except OperationalError as exc:
        raise _fail(exc) from None
    return found


def load_phases(store: Store) -> dict[str, str]:
    """Every node's heal phase by name (no bodies: cheap enough for each controller pass)."""
    table = t.heal_incidents
    try:
        with store.engine.begin() as conn:
            rows = conn.execute(sa.select(table.c.node, table.c.phase)).all()
    except OperationalError as exc:
        raise _fail(exc) from None
    return {str(name): str(phase) for name, phase in rows}


def reset_incident(store: Store, node: str, *, body: Mapping[str, Any], reason: str) -> str | None:
    """An operator ends a node's incident (``node unquarantine``): store ``body``, drop the lease.

    Dropping the lease makes the holding controller lose it at its next renewal and reload the
    node's state when it claims it again, so its cached incident cannot overwrite this one.
    Returns the phase the node was in (None: it had no incident).
    """
    table = t.heal_incidents
    try:
        with store.engine.begin() as conn:
            before = conn.execute(sa.select(table.c.phase).where(table.c.node == node)).scalar()
            if before is None:
                return None
            conn.execute(
                t.nodes.update()
                .where(t.nodes.c.name == node)
                .values(lease_owner=None, lease_expires=None)
            )
            conn.execute(
                table.update()
                .where(table.c.node == node)
                .values(
                    phase="healthy",
                    body=json.dumps(dict(body), sort_keys=True),
                    updated_at=store.clock(),
                )
            )
            detail = {"from": str(before), "reason": reason}
            _insert_events(conn, store, node, [("heal.reset", detail)])
    except OperationalError as exc:
        raise _fail(exc) from None
    return str(before)


def write_incident(
    store: Store,
    lease: Lease,
    *,
    phase: str,
    body: Mapping[str, Any],
    events: Sequence[EventSpec] = (),
    admission: Admission | None = None,
) -> str | None:
    """Store ``body`` for the lease's node and append ``events``, only while the lease holds
    and, with ``admission``, only if the action fits the shared in-flight cap and rate budget.

    Returns None when written, or the admission rule that refused it (``max-in-flight`` or
    ``budget``; nothing written). Raises :class:`~mewarden.errors.LeaseLostError` (nothing
    written) when the lease expired or another controller took the node over.
    """
    encoded = json.dumps(dict(body), sort_keys=True)
    try:
        with store.engine.begin() as conn:
            now: datetime = store.clock()
            check_fence(conn, lease, now=now)
            if admission is not None:
                _admit(conn, lease.node, admission)
            _upsert_incident(conn, lease.node, phase, encoded, now)
            _insert_events(conn, store, lease.node, events)
    except _Refused as refused:
        return refused.rule
    except OperationalError as exc:
        raise _fail(exc) from None
    return None


def _upsert_incident(conn: sa.Connection, node: str, phase: str, body: str, now: datetime) -> None:
    table = t.heal_incidents
    done = conn.execute(
        table.update().where(table.c.node == node).values(phase=phase, body=body, updated_at=now)
    )
    if done.rowcount == 0:
        conn.execute(table.insert().values(node=node, phase=phase, body=body, updated_at=now))


def _admit(conn: sa.Connection, node: str, admission: Admission) -> None:
    """Inside the incident's transaction: count the flights, take the token (or refuse)."""
    first = _lock_bucket(conn, SERIALIZING_BUCKET)
    if admission.max_in_flight is not None:
        table = t.heal_incidents
        flying = conn.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.phase.in_(sorted(admission.in_flight_phases)), table.c.node != node)
        ).scalar_one()
        if int(flying) >= admission.max_in_flight:
            raise _Refused("max-in-flight")
    row = first if admission.bucket == SERIALIZING_BUCKET else _lock_bucket(conn, admission.bucket)
    taken = admission.take(*row)
    if taken is None:
        raise _Refused("budget")
    budgets = t.heal_budgets
    conn.execute(
        budgets.update()
        .where(budgets.c.name == admission.bucket)
        .values(tokens=taken[0], updated_at=taken[1])
    )


def _lock_bucket(conn: sa.Connection, name: str) -> tuple[float | None, float | None]:
    """The bucket's row, created (full) on first use, locked until the transaction ends."""
    budgets = t.heal_budgets
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(budgets).values(name=name).on_conflict_do_nothing())
    row = conn.execute(
        sa.select(budgets.c.tokens, budgets.c.updated_at)
        .where(budgets.c.name == name)
        .with_for_update()
    ).one()
    return (row[0], row[1])


def load_budgets(store: Store) -> dict[str, tuple[float | None, float | None]]:
    """The stored rate budgets by name: (tokens, updated_at), None when never used."""
    budgets = t.heal_budgets
    try:
        with store.engine.begin() as conn:
            rows = conn.execute(sa.select(budgets.c.name, budgets.c.tokens, budgets.c.updated_at))
            return {str(r[0]): (r[1], r[2]) for r in rows}
    except OperationalError as exc:
        raise _fail(exc) from None


def record_events(store: Store, node: str | None, events: Sequence[EventSpec]) -> None:
    """Append audit events that change no state (held-back actions, action outcomes)."""
    try:
        with store.engine.begin() as conn:
            _insert_events(conn, store, node, events)
    except OperationalError as exc:
        raise _fail(exc) from None


def paused(store: Store) -> dict[str, Any] | None:
    """The kill switch: None when healing may run, else who paused it, when and why."""
    query = sa.select(t.org_settings.c.value).where(t.org_settings.c.key == PAUSED_KEY)
    try:
        with store.engine.begin() as conn:
            value = conn.execute(query).scalar()
    except OperationalError as exc:
        raise _fail(exc) from None
    if value is None:
        return None
    decoded: dict[str, Any] = json.loads(value)
    return decoded


def set_paused(store: Store, *, reason: str) -> bool:
    """Engage the kill switch; False when it already was (nothing changed)."""
    value = json.dumps({"by": store.actor, "at": store.clock().isoformat(), "reason": reason})
    table = t.org_settings
    try:
        with store.engine.begin() as conn:
            exists = conn.execute(sa.select(table.c.key).where(table.c.key == PAUSED_KEY)).first()
            if exists is not None:
                return False
            conn.execute(table.insert().values(key=PAUSED_KEY, value=value))
            _insert_events(conn, store, None, [("heal.paused", {"reason": reason})])
    except OperationalError as exc:
        raise _fail(exc) from None
    return True


def clear_paused(store: Store) -> bool:
    """Release the kill switch; False when it was not engaged."""
    table = t.org_settings
    try:
        with store.engine.begin() as conn:
            done = conn.execute(table.delete().where(table.c.key == PAUSED_KEY))
            if done.rowcount == 0:
                return False
            _insert_events(conn, store, None, [("heal.resumed", {})])
    except OperationalError as exc:
        raise _fail(exc) from None
    return True


def renew_all(store: Store, owner: str, ttl: timedelta) -> dict[str, int]:
    """Extend every unexpired lease ``owner`` holds in one statement; returns node -> epoch.

    A lease the caller believes it holds but that is missing here (expired and taken over), or
    has another epoch, is lost: the caller must drop it.
    """
    now = store.clock()
    nodes = t.nodes
    statement = (
        nodes.update()
        .where(nodes.c.lease_owner == owner, nodes.c.lease_expires >= now)
        .values(lease_expires=now + ttl)
        .returning(nodes.c.name, nodes.c.lease_epoch)
    )
    try:
        with store.engine.begin() as conn:
            rows = conn.execute(statement).all()
    except OperationalError as exc:
        raise _fail(exc) from None
    return {str(name): int(epoch) for name, epoch in rows}


def record_heartbeat(store: Store, node: str, counter: int, *, at: float) -> bool:
    """Store an authenticated heartbeat if its counter is higher than the node's last one;
    False for a replay (or an old one overtaken). One atomic upsert, safe across replicas."""
    table = t.heal_heartbeats
    dialect = store.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = insert(table).values(node=node, counter=counter, at=at)
    upsert = row.on_conflict_do_update(
        index_elements=[table.c.node],
        set_={"counter": row.excluded.counter, "at": row.excluded.at},
        where=table.c.counter < row.excluded.counter,
    ).returning(table.c.counter)
    try:
        with store.engine.begin() as conn:
            return conn.execute(upsert).first() is not None
    except OperationalError as exc:
        raise _fail(exc) from None


def stale_heartbeats(store: Store, *, before: float) -> set[str]:
    """The nodes whose latest heartbeat was received before ``before`` (wall seconds): one
    query per pass, answering only the stale ones (nodes that never sent one have no row)."""
    table = t.heal_heartbeats
    try:
        with store.engine.begin() as conn:
            rows = conn.execute(sa.select(table.c.node).where(table.c.at < before)).scalars()
            return {str(node) for node in rows}
    except OperationalError as exc:
        raise _fail(exc) from None
