"""REST: nodes and groups (``/api/v1/nodes``, ``/api/v1/groups``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from mewarden.errors import NodeNotFoundError
from mewarden.serve.auth import actor_store, context, require
from mewarden.serve.identity import Role
from mewarden.serve.views import node_detail, node_json
from mewarden.state.models import NodeSpec, check_group_name, parse_policy
from mewarden.state.node_page import NodeFilter, node_page

router = APIRouter(prefix="/api/v1", tags=["nodes"])
VIEWER = require(Role.VIEWER)
OPERATOR = require(Role.OPERATOR)
ADMIN = require(Role.ADMIN)


class NodeIn(BaseModel):
    name: str
    group: str | None = None
    policy: str | None = None
    amt_host: str | None = None
    amt_port: int | None = None
    amt_tls: bool = False
    amt_username: str | None = None
    macs: list[str] = Field(default_factory=list)
    agent_address: str | None = None


class PolicyIn(BaseModel):
    policy: str | None = Field(description="use, neutralize, ignore; null inherits")


class GroupIn(BaseModel):
    group: str | None = Field(description="group name; null takes the node out of its group")


class SwitchIn(BaseModel):
    on: bool


class NewGroupIn(BaseModel):
    name: str
    policy: str | None = None


@router.get("/nodes", dependencies=[VIEWER])
def list_nodes(
    request: Request,
    *,
    search: str = "",
    policy: str = "",
    group: str = "",
    lifecycle: str = "",
    maintenance: bool | None = None,
    sort: str = "name",
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=1000),
) -> dict[str, Any]:
    """Nodes matching a search (name or AMT host) and filters, sorted, one page at a time."""
    f = NodeFilter(
        search=search[:128],
        policy=policy,
        group=group,
        lifecycle=lifecycle,
        maintenance=maintenance,
        sort=sort,
        offset=offset,
        limit=limit,
    )
    total, nodes = node_page(context(request).store(), f)
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "nodes": [node_json(n) for n in nodes],
    }


@router.get("/nodes/{name}", dependencies=[VIEWER])
def get_node(request: Request, name: str) -> dict[str, Any]:
    """A node with its heal incident, documents (without bodies), recent events."""
    return node_detail(context(request).store(), name)


@router.post("/nodes", status_code=201, dependencies=[OPERATOR])
def add_node(request: Request, body: NodeIn) -> dict[str, Any]:
    """Register a node."""
    spec = NodeSpec(
        name=body.name,
        group=body.group,
        policy=parse_policy(body.policy) if body.policy else None,
        amt_host=body.amt_host,
        amt_port=body.amt_port,
        amt_tls=body.amt_tls,
        amt_username=body.amt_username,
        macs=tuple(body.macs),
        agent_address=body.agent_address,
    )
    return node_json(actor_store(request).add_node(spec))


@router.put("/nodes/{name}/policy", dependencies=[ADMIN])
def set_policy(request: Request, name: str, body: PolicyIn) -> dict[str, Any]:
    """Set the node's own policy (null: inherit from its group or the org)."""
    policy = parse_policy(body.policy) if body.policy else None
    return node_json(actor_store(request).set_policy(name, policy))


@router.put("/nodes/{name}/group", dependencies=[OPERATOR])
def set_group(request: Request, name: str, body: GroupIn) -> dict[str, Any]:
    group = check_group_name(body.group) if body.group else None
    return node_json(actor_store(request).set_group(name, group))


@router.put("/nodes/{name}/maintenance", dependencies=[OPERATOR])
def set_maintenance(request: Request, name: str, body: SwitchIn) -> dict[str, Any]:
    """Maintenance on: the heal controller leaves the node alone."""
    store = actor_store(request)
    return node_json(
        store.update_node(name, lambda _n: {"maintenance": body.on}, "node.maintenance")
    )


@router.put("/nodes/{name}/power-intent", dependencies=[OPERATOR])
def set_power_intent(request: Request, name: str, body: SwitchIn) -> dict[str, Any]:
    """Whether the node is meant to be on (heal never powers on a node meant to be off)."""
    value = "on" if body.on else "off"
    store = actor_store(request)
    return node_json(
        store.update_node(name, lambda _n: {"power_intent": value}, "node.power-intent")
    )


@router.get("/nodes/{name}/documents/{doc_id}", dependencies=[VIEWER])
def get_document(request: Request, name: str, doc_id: int) -> PlainTextResponse:
    """One evidence document's body (firmware inspect/neutralize report, probe, identity)."""
    for doc in context(request).store().documents(name):
        if doc.id == doc_id:
            return PlainTextResponse(doc.body, media_type="application/json")
    raise NodeNotFoundError(f"node {name!r} has no document {doc_id}")


@router.get("/groups", dependencies=[VIEWER])
def list_groups(request: Request) -> list[dict[str, Any]]:
    return [
        {"name": g.name, "policy": g.policy.value if g.policy else None, "nodes": g.nodes}
        for g in context(request).store().list_groups()
    ]


@router.post("/groups", status_code=201, dependencies=[ADMIN])
def add_group(request: Request, body: NewGroupIn) -> dict[str, Any]:
    policy = parse_policy(body.policy) if body.policy else None
    actor_store(request).add_group(body.name, policy)
    return {"name": body.name, "policy": body.policy}


@router.put("/groups/{name}/policy", dependencies=[ADMIN])
def set_group_policy(request: Request, name: str, body: PolicyIn) -> dict[str, Any]:
    policy = parse_policy(body.policy) if body.policy else None
    actor_store(request).set_group_policy(name, policy)
    return {"name": name, "policy": body.policy}
