"""Read models shared by the REST API and the pages (plain JSON-able dicts)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from starlette.concurrency import run_in_threadpool

from mewarden.heal.records import record_from_json
from mewarden.jsonutil import plain
from mewarden.serve.stream import event_json
from mewarden.state import heal_store
from mewarden.state.fleet import fleet_status
from mewarden.state.models import Node
from mewarden.state.node_page import event_page, fleet_counts
from mewarden.state.store import Store

OVERVIEW_TTL_S = 2.0
"""Compliance needs every node's documents: one replica computes it at most this often."""


def node_json(node: Node) -> dict[str, Any]:
    data: dict[str, Any] = plain(node)
    data["effective_policy"] = node.effective_policy.value
    data.pop("lease_owner", None)
    data.pop("lease_epoch", None)
    return data


def node_detail(store: Store, name: str) -> dict[str, Any]:
    node = store.node(name)
    incident = heal_store.load_incidents(store, [name]).get(name)
    docs = store.documents(name)
    return {
        "node": node_json(node),
        "heal": plain(record_from_json(incident).incident) if incident else None,
        "documents": [
            {
                "id": d.id,
                "kind": d.kind.value,
                "source": d.source,
                "created_at": d.created_at.isoformat(),
                "sha256": d.sha256,
                "size": len(d.body),
            }
            for d in docs
        ],
        "events": [event_json(r) for r in event_page(store, node=name, limit=50)],
        "credentials": list(store.credential_purposes(name)),
    }


class Overview:
    """Fleet counts by policy, lifecycle, compliance and heal phase, recomputed at most every
    :data:`OVERVIEW_TTL_S` by one task at a time; callers get the last value meanwhile (so a
    burst of requests never computes it more than once)."""

    def __init__(self) -> None:
        self._value: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    async def _compute(self, store: Store) -> None:
        async with self._lock:
            if self._value is not None and time.monotonic() - self._at < OVERVIEW_TTL_S:
                return
            value = await run_in_threadpool(compute_overview, store)
            self._value, self._at = value, time.monotonic()

    async def get(self, store: Store) -> dict[str, Any]:
        if self._value is None:
            await self._compute(store)
        elif time.monotonic() - self._at >= OVERVIEW_TTL_S and (
            self._refresh is None or self._refresh.done()
        ):
            self._refresh = asyncio.create_task(self._compute(store))
        assert self._value is not None
        return self._value


def compute_overview(store: Store) -> dict[str, Any]:
    counts = fleet_counts(store)
    compliance = Counter(row.status.value for row in fleet_status(store))
    phases = Counter(heal_store.load_phases(store).values())
    total = sum(counts["policy"].values())
    return {
        "nodes": total,
        "policy": counts["policy"],
        "lifecycle": counts["lifecycle"],
        "maintenance": counts["maintenance"].get("true", 0) + counts["maintenance"].get("1", 0),
        "compliance": {k: compliance.get(k, 0) for k in ("compliant", "drift", "unknown")},
        "heal_phases": dict(sorted(phases.items())),
        "heal_paused": heal_store.paused(store),
    }
