"""REST: fleet status, events (paging, export, live stream), heal controls, netblock."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from mewarden.errors import BadInputError, StateError
from mewarden.serve.auth import actor_store, context, require
from mewarden.serve.identity import Role
from mewarden.serve.stream import event_json, sse
from mewarden.state import heal_store
from mewarden.state.fleet import fleet_status
from mewarden.state.node_page import event_page

router = APIRouter(prefix="/api/v1", tags=["fleet"])
VIEWER = require(Role.VIEWER)
ADMIN = require(Role.ADMIN)


class ReasonIn(BaseModel):
    reason: str = "by an operator in the web console"


@router.get("/fleet/overview", dependencies=[VIEWER])
async def overview(request: Request) -> dict[str, Any]:
    """Counts by policy, lifecycle, compliance and heal phase (at most 2 s old)."""
    result: dict[str, Any] = await request.app.state.overview.get(context(request).store())
    return result


@router.get("/fleet/status", dependencies=[VIEWER])
def status(request: Request) -> dict[str, Any]:
    """Every node's compliance verdict with its reasons (as ``mewarden fleet status``)."""
    rows = fleet_status(context(request).store())
    summary = dict.fromkeys(("compliant", "drift", "unknown"), 0)
    for row in rows:
        summary[row.status.value] += 1
    nodes = [
        {
            "node": r.node,
            "policy": r.policy,
            "policy_source": r.policy_source,
            "lifecycle": r.lifecycle,
            "status": r.status.value,
            "reasons": list(r.reasons),
        }
        for r in rows
    ]
    return {"summary": summary, "nodes": nodes}


_CSV_FIELDS = ("id", "at", "node", "actor", "kind", "detail")


@router.get("/events", dependencies=[VIEWER], response_model=None)
def events(
    request: Request,
    *,
    node: str = "",
    kind: str = "",
    actor: str = "",
    before: int | None = Query(None, ge=1),
    limit: int = Query(100, ge=1, le=10_000),
    format: str = "json",
) -> Response | dict[str, Any]:
    """Audit events newest first; ``before`` pages back; ``format=csv`` or ``json`` downloads."""
    rows = event_page(
        context(request).store(), node=node, kind=kind, actor=actor, before_id=before, limit=limit
    )
    items = [event_json(r) for r in rows]
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(_CSV_FIELDS)
        for e in items:
            detail = json.dumps(e["detail"], sort_keys=True)
            writer.writerow([e["id"], e["at"], e["node"] or "", e["actor"], e["kind"], detail])
        headers = {"content-disposition": 'attachment; filename="mewarden-events.csv"'}
        return Response(out.getvalue(), media_type="text/csv", headers=headers)
    if format != "json":
        raise BadInputError(f"unknown format {format!r} (expected json or csv)")
    next_before = items[-1]["id"] if len(items) == limit else None
    return {"events": items, "next_before": next_before}


@router.get("/events/stream", dependencies=[VIEWER])
async def stream(request: Request, node: str = "") -> StreamingResponse:
    """Server-sent events: every new audit event (of one node with ``node``) as it happens."""
    headers = {"x-accel-buffering": "no"}
    return StreamingResponse(
        sse(request.app.state.hub, node), media_type="text/event-stream", headers=headers
    )


@router.get("/heal", dependencies=[VIEWER])
def heal_status(request: Request) -> dict[str, Any]:
    """The kill switch and every node's ladder phase."""
    store = context(request).store()
    return {"paused": heal_store.paused(store), "phases": heal_store.load_phases(store)}


@router.post("/heal/pause", dependencies=[ADMIN])
def heal_pause(request: Request, body: ReasonIn) -> dict[str, Any]:
    """Engage the kill switch: every controller stops acting at its next pass."""
    changed = heal_store.set_paused(actor_store(request), reason=body.reason[:200])
    return {"paused": True, "changed": changed}


@router.post("/heal/resume", dependencies=[ADMIN])
def heal_resume(request: Request) -> dict[str, Any]:
    changed = heal_store.clear_paused(actor_store(request))
    return {"paused": False, "changed": changed}


@router.post("/heal/nodes/{name}/reset", dependencies=[ADMIN])
def heal_reset(request: Request, name: str, body: ReasonIn) -> dict[str, Any]:
    """End a node's incident (e.g. out of quarantine after a repair)."""
    from mewarden.heal.records import NodeRecord, record_from_json, record_to_json
    from mewarden.policy.ladder import Incident

    store = actor_store(request)
    store.node(name)
    stored = heal_store.load_incidents(store, [name]).get(name)
    if stored is None:
        raise StateError(f"node {name!r} has no heal incident to reset")
    number = record_from_json(stored).incident.number
    record = record_to_json(NodeRecord(incident=Incident(number=number)))
    before = heal_store.reset_incident(store, name, body=record, reason=body.reason[:200])
    return {"node": name, "was": before, "phase": "healthy"}


def _inventory(request: Request) -> Any:
    from mewarden.netblock.from_state import inventory_from_state
    from mewarden.netblock.inventory import DEFAULT_MPS_PORTS
    from mewarden.state import netblock_settings

    store = context(request).store()
    settings = netblock_settings.load(store)
    ports = settings.mps_ports or DEFAULT_MPS_PORTS
    return inventory_from_state(store.nodes(), sorted(settings.controllers), ports)


@router.get("/netblock/render", dependencies=[VIEWER])
def netblock_render(
    request: Request,
    format: str = "nftables",
    table: str = "mewarden",
) -> PlainTextResponse:
    """The ruleset blocking ME/AMT traffic for org state (nftables, iptables, ip6tables, json)."""
    from mewarden.netblock.render import RulesetFormat, render

    body = render(_inventory(request), RulesetFormat.parse(format), table=table)
    return PlainTextResponse(body.decode("utf-8"))


@router.get("/netblock/diff", dependencies=[ADMIN])
def netblock_diff(request: Request, table: str = "mewarden") -> dict[str, Any]:
    """How this host's live nftables table differs from the rendered ruleset."""
    from mewarden.netblock.apply import diff_ruleset
    from mewarden.netblock.render import RulesetFormat, render

    ruleset = render(_inventory(request), RulesetFormat.NFTABLES, table=table)
    text = diff_ruleset(ruleset, table)
    return {"table": table, "changed": bool(text), "diff": text}
