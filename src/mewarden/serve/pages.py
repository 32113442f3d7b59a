"""Server-rendered pages (Jinja2): overview, node list and detail, events, heal controls.

Every page works without JavaScript (forms and links); ``static/app.js`` adds confirmation
dialogs and the live event stream, htmx (when installed) swaps the node table in place.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from mewarden.errors import BadInputError, MewardenError
from mewarden.serve import api_amt, charts
from mewarden.serve.auth import ForbiddenError, Principal, actor_store, authenticated, context
from mewarden.serve.identity import Role
from mewarden.serve.login import LOGIN_CSRF_COOKIE, new_login_token
from mewarden.serve.middleware import CSP
from mewarden.serve.stream import event_json
from mewarden.serve.views import node_detail
from mewarden.state import heal_store
from mewarden.state.node_page import NodeFilter, event_page, group_names, node_page

_HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))
templates.env.globals["htmx"] = (_HERE / "static" / "vendor" / "htmx.min.js").exists()
router = APIRouter(include_in_schema=False)
SESSION = Depends(authenticated)
POWER_ACTIONS = ("on", "off", "cycle", "reset", "soft-off", "soft-reset")
PAGE_SIZES = (25, 50, 100)


def render(request: Request, name: str, who: Principal, **values: Any) -> HTMLResponse:
    values.update(
        user=who,
        csrf=who.csrf,
        can_operate=who.may(Role.OPERATOR),
        is_admin=who.may(Role.ADMIN),
        message=request.query_params.get("msg", "")[:300],
    )
    return templates.TemplateResponse(request, name, values)


def _need(who: Principal, role: Role) -> None:
    if not who.may(role):
        raise ForbiddenError(f"this needs the {role.value} role")


@router.get("/login")
def login_page(request: Request) -> Response:
    token = new_login_token()
    error = {
        "failed": "Wrong user name or password, or the account is locked for a while.",
        "expired": "The login form expired; please try again.",
    }.get(request.query_params.get("error", ""), "")
    response = templates.TemplateResponse(
        request, "login.html", {"csrf": token, "error": error, "user": None}
    )
    ctx = context(request)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=900,
        path="/login",
        secure=ctx.settings.tls,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/")
async def overview_page(request: Request, who: Principal = SESSION) -> Response:
    data = await request.app.state.overview.get(context(request).store())
    bars = {
        "Policy": charts.bars(data["policy"]),
        "Compliance": charts.bars(data["compliance"]),
        "Lifecycle": charts.bars(data["lifecycle"]),
        "Heal phase": charts.bars(data["heal_phases"]),
    }
    return render(request, "overview.html", who, data=data, bars=bars)


def _filter(request: Request) -> tuple[NodeFilter, dict[str, str]]:
    q = request.query_params
    args = {k: q.get(k, "")[:128] for k in ("search", "policy", "group", "lifecycle", "sort")}
    try:
        limit = int(q.get("limit", "50"))
        offset = max(0, int(q.get("offset", "0")))
    except ValueError:
        raise BadInputError("offset and limit must be numbers") from None
    limit = limit if limit in PAGE_SIZES else 50
    f = NodeFilter(
        search=args["search"],
        policy=args["policy"],
        group=args["group"],
        lifecycle=args["lifecycle"],
        sort=args["sort"] or "name",
        offset=offset,
        limit=limit,
    )
    args["limit"] = str(limit)
    return f, args


@router.get("/nodes")
def nodes_page(request: Request, who: Principal = SESSION) -> Response:
    f, args = _filter(request)
    store = context(request).store()
    total, nodes = node_page(store, f)
    groups = group_names(store)

    def page_link(offset: int) -> str:
        return "/nodes?" + urlencode({**{k: v for k, v in args.items() if v}, "offset": offset})

    pages = {
        "prev": page_link(max(0, f.offset - f.limit)) if f.offset > 0 else "",
        "next": page_link(f.offset + f.limit) if f.offset + f.limit < total else "",
        "first": f.offset + 1 if total else 0,
        "last": min(total, f.offset + f.limit),
    }
    return render(
        request,
        "nodes.html",
        who,
        nodes=nodes,
        total=total,
        args=args,
        groups=groups,
        pages=pages,
        actions=POWER_ACTIONS,
        sizes=PAGE_SIZES,
    )


@router.post("/nodes/bulk")
async def bulk_confirm(request: Request, who: Principal = SESSION) -> Response:
    """First step of a bulk action: show what will happen and ask to confirm."""
    _need(who, Role.OPERATOR)
    form = await request.form()
    names = [str(n) for n in form.getlist("node")][: api_amt.MAX_BULK]
    action = str(form.get("action", ""))
    if not names or action not in POWER_ACTIONS:
        return RedirectResponse("/nodes?msg=" + "Select nodes and an action.", status_code=303)
    return render(request, "confirm.html", who, names=names, action=action)


@router.post("/nodes/bulk/run")
async def bulk_run(request: Request, who: Principal = SESSION) -> Response:
    _need(who, Role.OPERATOR)
    form = await request.form()
    names = [str(n) for n in form.getlist("node")][: api_amt.MAX_BULK]
    body = api_amt.BulkPowerIn(nodes=names, action=str(form.get("action", "")))
    result = await api_amt.bulk_power(request, body)
    return render(request, "bulk_result.html", who, result=result)


@router.get("/nodes/{name}")
def node_page_view(request: Request, name: str, who: Principal = SESSION) -> Response:
    detail = node_detail(context(request).store(), name)
    return render(request, "node.html", who, d=detail, actions=POWER_ACTIONS)


def _back(name: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"/nodes/{name}?" + urlencode({"msg": message}), status_code=303)


@router.post("/nodes/{name}/power")
async def node_power(request: Request, name: str, who: Principal = SESSION) -> Response:
    _need(who, Role.OPERATOR)
    form = await request.form()
    try:
        what, op = api_amt._power(str(form.get("action", "")))
        await api_amt.run_on_node(context(request), actor_store(request), name, what, op)
    except MewardenError as exc:
        return _back(name, f"Failed: {exc}")
    return _back(name, f"{what}: requested")


@router.post("/nodes/{name}/maintenance")
async def node_maintenance(request: Request, name: str, who: Principal = SESSION) -> Response:
    _need(who, Role.OPERATOR)
    on = (await request.form()).get("on") == "1"
    store = actor_store(request)
    await run_in_threadpool(
        store.update_node, name, lambda _n: {"maintenance": on}, "node.maintenance"
    )
    return _back(name, f"maintenance {'on' if on else 'off'}")


@router.get("/events")
def events_page(request: Request, who: Principal = SESSION) -> Response:
    node = request.query_params.get("node", "")[:128]
    rows = [event_json(r) for r in event_page(context(request).store(), node=node, limit=100)]
    return render(request, "events.html", who, events=rows, node=node)


@router.get("/heal")
def heal_page(request: Request, who: Principal = SESSION) -> Response:
    store = context(request).store()
    phases = heal_store.load_phases(store)
    unhealthy = {n: p for n, p in sorted(phases.items()) if p != "healthy"}
    return render(request, "heal.html", who, paused=heal_store.paused(store), phases=unhealthy)


@router.post("/heal/{what}")
async def heal_action(request: Request, what: str, who: Principal = SESSION) -> Response:
    _need(who, Role.ADMIN)
    form = await request.form()
    store = actor_store(request)
    reason = str(form.get("reason", "") or "by an operator in the web console")[:200]
    if what == "pause":
        await run_in_threadpool(lambda: heal_store.set_paused(store, reason=reason))
    elif what == "resume":
        await run_in_threadpool(heal_store.clear_paused, store)
    elif what == "reset":
        from mewarden.serve.api_fleet import ReasonIn, heal_reset

        node = str(form.get("node", ""))
        try:
            await run_in_threadpool(heal_reset, request, node, ReasonIn(reason=reason))
        except MewardenError as exc:
            return RedirectResponse("/heal?" + urlencode({"msg": str(exc)}), status_code=303)
    else:
        raise BadInputError(f"unknown heal action {what!r}")
    return RedirectResponse("/heal?" + urlencode({"msg": f"heal {what}: done"}), status_code=303)


@router.get("/nodes/{name}/console")
def console_page(request: Request, name: str, who: Principal = SESSION) -> Response:
    """The SOL console; its CSP lets xterm's own <style> elements in by this page's nonce."""
    _need(who, Role.OPERATOR)
    context(request).store().node(name)
    nonce = secrets.token_urlsafe(16)
    response = render(request, "console.html", who, node=name, nonce=nonce, page="console")
    response.headers["content-security-policy"] = CSP.replace(
        "style-src 'self'", f"style-src 'self' 'nonce-{nonce}'"
    )
    return response


@router.get("/nodes/{name}/kvm")
def kvm_page(request: Request, name: str, who: Principal = SESSION) -> Response:
    """The KVM console (noVNC styles its elements through the DOM, which the policy allows)."""
    _need(who, Role.OPERATOR)
    context(request).store().node(name)
    return render(request, "kvm.html", who, node=name, page="kvm")


@router.post("/nodes/{name}/consent")
async def node_consent(request: Request, name: str, who: Principal = SESSION) -> Response:
    _need(who, Role.OPERATOR)
    form = await request.form()
    body = api_amt.ConsentIn(action=str(form.get("action", "")), code=str(form.get("code", "")))
    # back to the console page the form is on (one of two fixed names: no open redirect)
    where = f"/nodes/{name}/{'kvm' if form.get('page') == 'kvm' else 'console'}?"
    try:
        what, op = api_amt._consent(body)
        await api_amt.run_on_node(context(request), actor_store(request), name, what, op)
    except MewardenError as exc:
        return RedirectResponse(where + urlencode({"msg": f"Failed: {exc}"}), status_code=303)
    return RedirectResponse(where + urlencode({"msg": f"{what}: done"}), status_code=303)
