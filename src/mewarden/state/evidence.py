"""Evidence in org state: recording it in bulk, the maximum-age setting, and drift events.

Evidence documents are ordinary append-only node documents (``node_documents``; no schema of
their own): :func:`record_evidence` writes many in one transaction with one audit event per node,
so ``scan --record`` or ``netblock apply`` over a large fleet is not one commit per node. The
maximum evidence age is the ``org_settings`` row ``evidence_max_age_s``.

:func:`record_transitions` writes ``compliance.drift`` when a node enters drift (or its drift
reasons change) and ``compliance.cleared`` when it leaves it, comparing with the newest such event
of each node, so repeated ``fleet status`` runs do not repeat events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mewarden.errors import BadInputError, StateError
from mewarden.policy.compliance import DEFAULT_MAX_AGE, Rules, Verdict
from mewarden.state import schema as t
from mewarden.state.models import DocumentKind, content_hash
from mewarden.state.status import NodeStatus
from mewarden.state.store import Store

MAX_AGE_KEY = "evidence_max_age_s"
_AGE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DRIFT_EVENT = "compliance.drift"
CLEARED_EVENT = "compliance.cleared"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceRecord:
    """One document to attach: node, kind, where it came from, JSON body."""

    node: str
    kind: DocumentKind
    source: str
    body: str


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d`` or plain seconds; at least one second."""
    match = _AGE.match(text)
    if match is None or int(match[1]) < 1:
        raise BadInputError(f"evidence age {text!r} is not a duration such as 12h or 7d")
    return timedelta(seconds=int(match[1]) * _UNIT[match[2]])


def load_rules(store: Store) -> Rules:
    """The org's compliance settings (defaults when never set)."""
    query = sa.select(t.org_settings.c.value).where(t.org_settings.c.key == MAX_AGE_KEY)
    with store.engine.connect() as conn:
        stored = conn.execute(query).scalar()
    if stored is None:
        return Rules(max_age=DEFAULT_MAX_AGE)
    try:
        return Rules(max_age=timedelta(seconds=int(stored)))
    except ValueError:
        raise StateError(f"org setting {MAX_AGE_KEY} is not a number of seconds") from None


def set_max_age(store: Store, age: timedelta) -> Rules:
    """Store the maximum evidence age (one transaction with its audit event)."""
    table = t.org_settings
    value = str(int(age.total_seconds()))
    for _ in range(3):  # a concurrent first writer may insert the row between our two statements
        try:
            with store.engine.begin() as conn:
                updated = conn.execute(
                    table.update().where(table.c.key == MAX_AGE_KEY).values(value=value)
                ).rowcount
                if updated == 0:
                    conn.execute(table.insert().values(key=MAX_AGE_KEY, value=value))
                store._event(conn, "compliance.max-age.set", None, {"seconds": int(value)})
            return Rules(max_age=timedelta(seconds=int(value)))
        except IntegrityError:
            continue
    raise StateError(f"org setting {MAX_AGE_KEY}: concurrent writers kept colliding")


def record_evidence(store: Store, records: Sequence[EvidenceRecord]) -> int:
    """Attach every record in one transaction; unknown nodes are a one-line error."""
    if not records:
        return 0
    names = sorted({r.node for r in records})
    with store.engine.begin() as conn:
        ids = dict(
            conn.execute(sa.select(t.nodes.c.name, t.nodes.c.id).where(t.nodes.c.name.in_(names)))
            .tuples()
            .all()
        )
        absent = [n for n in names if n not in ids]
        if absent:
            raise StateError(f"no node named {absent[0]!r} in org state")
        now = store.clock()
        documents, events = [], []
        for record in records:
            digest = content_hash(record.body)
            documents.append(
                {
                    "node_id": ids[record.node],
                    "kind": record.kind.value,
                    "source": record.source,
                    "created_at": now,
                    "sha256": digest,
                    "body": record.body,
                }
            )
            detail = json.dumps({"kind": record.kind.value, "sha256": digest}, sort_keys=True)
            events.append(
                {"at": now, "node": record.node, "actor": store.actor, "kind": "node.document",
                 "detail": detail}
            )  # fmt: skip
        # executemany: one round trip per table, not two statements per document
        conn.execute(t.node_documents.insert(), documents)
        conn.execute(t.events.insert(), events)
    return len(records)


def _last_transitions(store: Store) -> dict[str, tuple[str, list[str]]]:
    events = t.events
    kinds = (DRIFT_EVENT, CLEARED_EVENT)
    newest = (
        sa.select(sa.func.max(events.c.id).label("id"))
        .where(events.c.kind.in_(kinds))
        .group_by(events.c.node)
        .subquery()
    )
    query = sa.select(events.c.node, events.c.kind, events.c.detail).join(
        newest, newest.c.id == events.c.id
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    found: dict[str, tuple[str, list[str]]] = {}
    for node, kind, detail in rows:
        reasons = json.loads(detail).get("reasons", [])
        found[str(node)] = (str(kind), [str(r) for r in reasons])
    return found


def record_transitions(store: Store, rows: Iterable[NodeStatus]) -> list[str]:
    """Write drift / cleared events for nodes whose drift state changed; their names."""
    last = _last_transitions(store)
    changed: list[str] = []
    for row in rows:
        kind, reasons = last.get(row.node, (CLEARED_EVENT, []))
        drifting = row.status is Verdict.DRIFT
        if drifting and (kind != DRIFT_EVENT or reasons != list(row.reasons)):
            _event(store, DRIFT_EVENT, row.node, {"reasons": list(row.reasons)})
            changed.append(row.node)
        elif not drifting and kind == DRIFT_EVENT:
            _event(store, CLEARED_EVENT, row.node, {"status": row.status.value, "reasons": []})
            changed.append(row.node)
    return changed


def _event(store: Store, kind: str, node: str, detail: dict[str, object]) -> None:
    with store.engine.begin() as conn:
        store._event(conn, kind, node, detail)
