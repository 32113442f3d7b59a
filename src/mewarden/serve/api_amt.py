"""REST: AMT actions on one node or many (power, one-shot boot, user consent), with the AMT
password unsealed from the vault on the server (never sent to the client)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mewarden.errors import BadInputError, MewardenError, StateError, VaultError
from mewarden.serve.auth import Principal, actor_store, context, require
from mewarden.serve.context import ServeContext
from mewarden.serve.identity import Role
from mewarden.state.store import Store

router = APIRouter(prefix="/api/v1", tags=["amt"])
VIEWER = require(Role.VIEWER)
OPERATOR = require(Role.OPERATOR)
MAX_BULK = 10_000

Action = Callable[[Any], Awaitable[Any]]


class PowerIn(BaseModel):
    action: str = Field(description="on, off, cycle, reset, soft-off, soft-reset")


class BootIn(BaseModel):
    target: str = Field(description="pxe, disk, cd, bios, ider-cd, ider-floppy")
    sol: bool = False
    reset: bool = True


class ConsentIn(BaseModel):
    action: str = Field(description="start, code, cancel")
    code: str = ""


class BulkPowerIn(PowerIn):
    nodes: list[str]


def _power(action: str) -> tuple[str, Action]:
    from mewarden.amt import power

    try:
        wanted = power.PowerAction(action)
    except ValueError:
        valid = ", ".join(a.value for a in power.PowerAction)
        raise BadInputError(f"unknown power action {action!r} (expected one of: {valid})") from None

    async def op(client: Any) -> Any:
        return {"requested": int(await power.change_power(client, wanted))}

    return f"power {wanted.value}", op


def _boot(body: BootIn) -> tuple[str, Action]:
    from mewarden.amt.boot import BootTarget, set_boot

    try:
        target = BootTarget(body.target)
    except ValueError:
        raise BadInputError(f"unknown boot target {body.target!r}") from None

    async def op(client: Any) -> Any:
        plan = await set_boot(client, target, use_sol=body.sol, reset=body.reset)
        return {"target": target.value, "plan": str(plan)}

    return f"boot {target.value}", op


def _consent(body: ConsentIn) -> tuple[str, Action]:
    from mewarden.amt import consent

    if body.action == "start":
        return "consent start", consent.start_consent
    if body.action == "code":
        consent.parse_code(body.code)  # bad input before any connection
        return "consent code", lambda client: consent.send_code(client, body.code)
    if body.action == "cancel":
        return "consent cancel", consent.cancel_consent
    raise BadInputError(f"unknown consent action {body.action!r} (start, code, cancel)")


def _endpoint(ctx: ServeContext, store: Store, name: str) -> Any:
    from mewarden.amt.client import Endpoint

    node = store.node(name)
    if not node.amt_host:
        raise StateError(f"node {name!r} has no AMT address")
    if ctx.credentials is None:
        raise VaultError("serve runs without the org key: AMT actions are unavailable")
    return Endpoint(
        host=node.amt_host,
        port=node.amt_port,
        tls=node.amt_tls,
        username=node.amt_username or "admin",
        password=ctx.credentials(name),
        pin_sha256=node.tls_pin,
        timeout_s=ctx.settings.amt_timeout_s,
        retries=0,
    )


async def run_on_node(
    ctx: ServeContext, store: Store, name: str, what: str, op: Action
) -> dict[str, Any]:
    """Run ``op`` on one node and record the outcome as an audit event of that node."""
    from mewarden.amt.client import AmtClient

    endpoint = await run_in_threadpool(_endpoint, ctx, store, name)
    try:
        async with AmtClient(endpoint) as client:
            value = await op(client)
    except MewardenError as exc:
        detail = {"action": what, "ok": False, "error": type(exc).__name__}
        await run_in_threadpool(lambda: store.record("amt.action", name, **detail))
        raise
    await run_in_threadpool(lambda: store.record("amt.action", name, action=what, ok=True))
    return {"node": name, "action": what, "ok": True, "result": value}


@router.post("/nodes/{name}/amt/power", dependencies=[OPERATOR])
async def node_power(request: Request, name: str, body: PowerIn) -> dict[str, Any]:
    """Power on/off/cycle/reset one node through AMT."""
    what, op = _power(body.action)
    return await run_on_node(context(request), actor_store(request), name, what, op)


@router.get("/nodes/{name}/amt/power", dependencies=[VIEWER])
async def node_power_state(request: Request, name: str) -> dict[str, Any]:
    """Read the node's power state from AMT."""
    from mewarden.amt import power

    async def op(client: Any) -> Any:
        status = await power.read_power(client)
        return {"state": int(status.state), "on": status.is_on}

    ctx = context(request)
    return await run_on_node(ctx, actor_store(request), name, "power read", op)


@router.post("/nodes/{name}/amt/boot", dependencies=[OPERATOR])
async def node_boot(request: Request, name: str, body: BootIn) -> dict[str, Any]:
    """One-shot boot override (PXE, disk, CD, BIOS, IDE-R), then reset."""
    what, op = _boot(body)
    return await run_on_node(context(request), actor_store(request), name, what, op)


@router.post("/nodes/{name}/amt/consent", dependencies=[OPERATOR])
async def node_consent(request: Request, name: str, body: ConsentIn) -> dict[str, Any]:
    """User consent: start (shows a code on the node's screen), send the code, cancel."""
    what, op = _consent(body)
    return await run_on_node(context(request), actor_store(request), name, what, op)


@router.post("/amt/power", dependencies=[OPERATOR])
async def bulk_power(request: Request, body: BulkPowerIn) -> dict[str, Any]:
    """Power action on many nodes; every node answers on its own (partial success is normal)."""
    if not body.nodes or len(body.nodes) > MAX_BULK:
        raise BadInputError(f"give 1 to {MAX_BULK} node names")
    what, op = _power(body.action)
    ctx, store = context(request), actor_store(request)
    limit = asyncio.Semaphore(ctx.settings.amt_concurrency)

    async def one(name: str) -> dict[str, Any]:
        async with limit:
            try:
                return await run_on_node(ctx, store, name, what, op)
            except MewardenError as exc:
                error = {"code": exc.exit_code, "type": type(exc).__name__, "message": str(exc)}
                return {"node": name, "action": what, "ok": False, "error": error}

    results = await asyncio.gather(*(one(n) for n in dict.fromkeys(body.nodes)))
    ok = sum(1 for r in results if r["ok"])
    return {
        "summary": {"total": len(results), "ok": ok, "failed": len(results) - ok},
        "results": results,
    }


def principal_of(request: Request) -> Principal:
    found: Principal = request.state.principal
    return found
