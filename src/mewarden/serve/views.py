"""Read models shared by the REST API and the pages (plain JSON-able dicts)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from mewarden.cli.cmd_org import plain
from mewarden.heal.records import record_from_json
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
    """Fleet counts by policy, lifecycle, compliance and heal phase (cached a short while)."""

    def __init__(self) -> None:
        self._cached: tuple[float, dict[str, Any]] | None = None

    def get(self, store: Store) -> dict[str, Any]:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < OVERVIEW_TTL_S:
            return self._cached[1]
        value = compute_overview(store)
        self._cached = (now, value)
        return value


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
