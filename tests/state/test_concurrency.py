"""Two processes enrolling and editing nodes at once lose no update (PostgreSQL and SQLite)."""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import timedelta

from mewarden.crypto.vault import OrgKey
from mewarden.state import leases
from mewarden.state.db import open_engine
from mewarden.state.enroll import AmtProfile, enroll_use
from mewarden.state.models import DocumentKind, Lifecycle, NodeSpec, Policy
from mewarden.state.store import Store
from tests.state.fakes import FakeDevice

ROUNDS = 60


def _worker(url: str, tag: str, key: bytes, start: multiprocessing.synchronize.Event) -> None:
    store = Store(open_engine(url), actor=f"worker-{tag}")
    org_key = OrgKey(material=key)
    start.wait(30)
    for i in range(ROUNDS):
        name = f"{tag}-{i:03d}"
        store.add_node(NodeSpec(name=name, policy=Policy.USE))
        device = FakeDevice(index=ord(tag) * 1000 + i)
        asyncio.run(enroll_use(store, org_key, name, device, AmtProfile()))
        store.add_mac("shared", f"02:00:00:00:{ord(tag):02x}:{i:02x}")
        store.attach_document("shared", DocumentKind.HOST_PROBE, name, "{}")
        store.set_policy(name, Policy.NEUTRALIZE if i % 2 else Policy.IGNORE)
    store.engine.dispose()


def test_two_processes_lose_no_update(store: Store, org_key: OrgKey) -> None:
    store.add_node(NodeSpec(name="shared"))
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    url = store.engine.url.render_as_string(hide_password=False)
    workers = [
        context.Process(target=_worker, args=(url, tag, org_key.material, start)) for tag in "ab"
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    shared = store.node("shared")
    assert len(shared.macs) == 2 * ROUNDS  # every read-modify-write survived
    assert shared.version == 1 + 2 * ROUNDS
    assert len(store.documents("shared")) == 2 * ROUNDS
    nodes = {n.name: n for n in store.nodes()}
    assert len(nodes) == 1 + 2 * ROUNDS
    for tag in "ab":
        for i in range(ROUNDS):
            expected = Policy.NEUTRALIZE if i % 2 else Policy.IGNORE
            assert nodes[f"{tag}-{i:03d}"].policy is expected
    per_kind: dict[str, int] = {}
    for event in store.events(limit=100_000):
        per_kind[event.kind] = per_kind.get(event.kind, 0) + 1
    shared_macs = [e for e in store.events(node="shared") if e.kind == "node.add-mac"]
    assert len(shared_macs) == 2 * ROUNDS
    assert per_kind["node.set-policy"] == 2 * ROUNDS
    assert store.credential_count() == 2 * ROUNDS
    enrolled = [n for n in nodes.values() if n.lifecycle is Lifecycle.ENROLLED]
    assert len(enrolled) == 2 * ROUNDS


def _claimer(url: str, owner: str, start: multiprocessing.synchronize.Event, out: object) -> None:
    store = Store(open_engine(url), actor=owner)
    start.wait(30)
    got = []
    for _ in range(40):
        lease = leases.claim_any(store, owner, timedelta(minutes=5))
        if lease is not None:
            got.append((lease.node, lease.epoch))
    out.put(got)  # type: ignore[attr-defined]
    store.engine.dispose()


def test_concurrent_claims_never_overlap(store: Store) -> None:
    store.add_nodes([NodeSpec(name=f"n{i:02d}") for i in range(50)])
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    out = context.Queue()
    url = store.engine.url.render_as_string(hide_password=False)
    procs = [context.Process(target=_claimer, args=(url, f"c{k}", start, out)) for k in range(2)]
    for proc in procs:
        proc.start()
    start.set()
    claims = [claim for _ in procs for claim in out.get(timeout=120)]
    for proc in procs:
        proc.join(60)
    names = [name for name, _ in claims]
    assert len(names) == len(set(names)) == 50  # each node held by exactly one controller
