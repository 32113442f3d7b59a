"""Logging in and out: a session cookie (Secure with TLS, HttpOnly, SameSite=Strict) bound to
a server-side session row with its own CSRF token; throttling per address, lockout per user."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from mewarden.serve.auth import AccessError, Principal, authenticated, context
from mewarden.serve.context import ServeContext
from mewarden.serve.identity import (
    Role,
    new_session_secret,
    same_digest,
    verify_password,
)
from mewarden.state import users

router = APIRouter(tags=["session"])
LOGIN_CSRF_COOKIE = "mewarden_login"
_FAILED = "wrong user name or password, or the account is locked for a while"


class LoginIn(BaseModel):
    user: str
    password: str


def check_login(ctx: ServeContext, name: str, password: str) -> tuple[str, str, Role]:
    """(cookie value, CSRF token, role) for good credentials; AccessError otherwise."""
    store = ctx.store(f"user:{name[:64]}")
    found = users.user(store, name[:64])
    locked = (
        found is not None and found.locked_until is not None and found.locked_until > ctx.clock()
    )
    # verify even for unknown or locked users: the answer takes as long either way
    good = verify_password(found.password_hash if found else None, password[:1024])
    if found is None or locked or not good:
        if found is not None and not locked:
            settings = ctx.settings
            limit, lockout = settings.login_failures_before_lockout, settings.lockout
            users.login_failed(store, found.name, limit=limit, lockout=lockout)
        else:
            store.record("login.failed", None, user=name[:64], locked=locked)
        raise AccessError(_FAILED)
    cookie, digest, csrf = new_session_secret()
    users.login_succeeded(store, found.name, digest, csrf, ctx.settings.session_ttl)
    return cookie, csrf, Role(found.role)


def set_session_cookie(ctx: ServeContext, response: Response, cookie: str) -> None:
    response.set_cookie(
        ctx.session_cookie,
        cookie,
        max_age=int(ctx.settings.session_ttl.total_seconds()),
        path="/",
        secure=ctx.settings.tls,
        httponly=True,
        samesite="strict",
    )


async def login(request: Request, name: str, password: str) -> tuple[str, str, Role]:
    ctx = context(request)
    host = request.client.host if request.client else "?"
    request.app.state.throttle.attempt(host)
    return await run_in_threadpool(check_login, ctx, name, password)


@router.post("/api/v1/login")
async def api_login(request: Request, body: LoginIn) -> Response:
    """Start a browser session; answers the role and the CSRF token for unsafe requests."""
    cookie, csrf, role = await login(request, body.user, body.password)
    response = JSONResponse({"user": body.user, "role": role.value, "csrf": csrf})
    set_session_cookie(context(request), response, cookie)
    return response


@router.post("/login", include_in_schema=False)
async def form_login(request: Request) -> Response:
    """The login form: a double-submit token (cookie = field) stops login CSRF."""
    form = await request.form()
    sent, kept = str(form.get("csrf_token", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not kept or not same_digest(sent, kept):
        return RedirectResponse("/login?error=expired", status_code=303)
    try:
        cookie, _csrf, _role = await login(
            request, str(form.get("user", "")), str(form.get("password", ""))
        )
    except AccessError:
        return RedirectResponse("/login?error=failed", status_code=303)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(context(request), response, cookie)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


async def logout(request: Request) -> Principal:
    principal = await authenticated(request)
    if principal.via != "user":
        raise AccessError("API tokens have no session to end; revoke the token instead")
    store = context(request).store(principal.actor)
    await run_in_threadpool(users.end_session, store, principal.session_sha256, principal.name)
    return principal


@router.post("/api/v1/logout")
async def api_logout(request: Request) -> dict[str, Any]:
    principal = await logout(request)
    return {"user": principal.name, "logged_out": True}


@router.post("/logout", include_in_schema=False)
async def form_logout(request: Request) -> Response:
    await logout(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(context(request).session_cookie, path="/")
    return response
