"""Batch lease claims (one conditional UPDATE, SKIP LOCKED on PostgreSQL) and the expiry fence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from mewarden.crypto.vault import OrgKey
from mewarden.errors import LeaseLostError
from mewarden.state import leases
from mewarden.state import schema as t
from mewarden.state.db import migrate, open_engine
from mewarden.state.models import NodeSpec
from mewarden.state.store import Store

TTL = timedelta(seconds=30)


@pytest.fixture
def clocked(db_url: str) -> Iterator[tuple[Store, list[datetime]]]:
    engine = open_engine(db_url, create_dir=True)
    migrate(engine)
    store = Store(engine, actor="test")
    store.initialize(OrgKey.generate())
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store.clock = lambda: now[0]
    for i in range(5):
        store.add_node(NodeSpec(name=f"n{i}"))
    yield store, now
    engine.dispose()


def test_claim_batch_takes_only_free_named_nodes_up_to_the_limit(
    clocked: tuple[Store, list[datetime]],
) -> None:
    store, now = clocked
    other = leases.claim(store, "n0", "ctl-b", TTL)
    assert other is not None
    wanted = ["n0", "n1", "n2", "n3"]  # n4 is not a target
    first = leases.claim_batch(store, wanted, "ctl-a", TTL, limit=2)
    assert [(x.node, x.epoch) for x in first] == [("n1", 1), ("n2", 1)]
    assert [x.node for x in leases.claim_batch(store, wanted, "ctl-a", TTL)] == ["n3"]
    assert leases.claim_batch(store, wanted, "ctl-a", TTL) == []
    now[0] += TTL + timedelta(seconds=1)  # every lease expired: ctl-b's n0 is claimable again
    again = leases.claim_batch(store, ["n0"], "ctl-a", TTL)
    assert [(x.node, x.epoch) for x in again] == [("n0", other.epoch + 1)]
    claims = [e for e in store.events() if e.kind == "lease.claim" and e.actor == "test"]
    by_node = [(e.node, e.detail["owner"]) for e in claims]
    assert ("n4", "ctl-a") not in by_node
    assert sorted(by_node).count(("n1", "ctl-a")) == 1
    assert ("n0", "ctl-a") in by_node


def test_expired_lease_fails_the_fence_even_before_anyone_claims_it(
    clocked: tuple[Store, list[datetime]],
) -> None:
    store, now = clocked
    (lease,) = leases.claim_batch(store, ["n1"], "ctl-a", TTL)
    with store.engine.begin() as conn:
        leases.check_fence(conn, lease, now=now[0])
    now[0] += TTL + timedelta(seconds=1)
    with pytest.raises(LeaseLostError), store.engine.begin() as conn:
        leases.check_fence(conn, lease, now=now[0])


# row locks are a PostgreSQL matter (SQLite has one writer): this runs on PostgreSQL only
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_claim_batch_skips_rows_locked_by_another_replica(
    clocked: tuple[Store, list[datetime]], db_url: str
) -> None:
    store, _now = clocked
    assert db_url.startswith("postgresql")
    # without SKIP LOCKED the claim would wait for the lock and hit this timeout
    impatient = sa.create_engine(db_url, connect_args={"options": "-c lock_timeout=2000"})
    other = Store(impatient, actor="test")
    other.clock = store.clock
    names = [f"n{i}" for i in range(5)]
    with store.engine.begin() as holder:
        locked = sa.select(t.nodes.c.id).where(t.nodes.c.name == "n2").with_for_update()
        holder.execute(locked)
        got = leases.claim_batch(other, names, "ctl-a", TTL)
    assert [x.node for x in got] == ["n0", "n1", "n3", "n4"]
    impatient.dispose()
    detail = [json.dumps(e.detail) for e in store.events() if e.kind == "lease.claim"]
    assert len(detail) == 4
