"""Who is asking: a Bearer API token or a session cookie; roles; CSRF; login throttling."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from mewarden.errors import MewardenError
from mewarden.serve.context import ServeContext
from mewarden.serve.identity import Role, same_digest, sha256_hex, split_token
from mewarden.state import users
from mewarden.state.store import Store

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_TOKEN_TOUCH = timedelta(minutes=1)


class AccessError(MewardenError):
    """Not authenticated (401) or not allowed (403); the CLI's authentication exit code."""

    exit_code = 5
    status = 401


class ForbiddenError(AccessError):
    status = 403


class TooManyAttemptsError(MewardenError):
    """Too many login attempts from one address: wait and retry (busy)."""

    retryable = True
    exit_code = 6
    status = 429


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An authenticated user (browser session) or API token."""

    name: str
    role: Role
    via: str
    csrf: str = ""
    session_sha256: str = ""

    @property
    def actor(self) -> str:
        return f"{self.via}:{self.name}"

    def may(self, needed: Role) -> bool:
        return self.role.allows(needed)


def context(request: HTTPConnection) -> ServeContext:
    ctx: ServeContext = request.app.state.ctx
    return ctx


def _from_token(ctx: ServeContext, header: str) -> Principal:
    scheme, _, value = header.partition(" ")
    parts = split_token(value) if scheme.lower() == "bearer" else None
    found = users.token(ctx.store(), parts[0]) if parts else None
    now = ctx.clock()
    if (
        parts is None
        or found is None
        or not same_digest(found.secret_sha256, parts[1])
        or found.revoked_at is not None
        or (found.expires_at is not None and found.expires_at <= now)
    ):
        raise AccessError("the API token is unknown, revoked or expired")
    if found.last_used_at is None or now - found.last_used_at > _TOKEN_TOUCH:
        users.token_used(ctx.store(), found.token_id)
    return Principal(name=found.token_id, role=Role(found.role), via="token")


def _from_cookie(ctx: ServeContext, cookie: str) -> Principal | None:
    digest = sha256_hex(cookie)
    found = users.session(ctx.store(), digest)
    if found is None:
        return None
    return Principal(
        name=found.user, role=Role(found.role), via="user", csrf=found.csrf, session_sha256=digest
    )


def identify(request: HTTPConnection) -> Principal | None:
    """The principal of a request, None without credentials; AccessError for a bad token."""
    ctx = context(request)
    header = request.headers.get("authorization")
    if header:
        return _from_token(ctx, header)
    cookie = request.cookies.get(ctx.session_cookie)
    return _from_cookie(ctx, cookie) if cookie else None


async def check_csrf(request: Request, principal: Principal) -> None:
    """Cookie-authenticated unsafe requests must echo the session's CSRF token."""
    if principal.via != "user" or request.method not in UNSAFE:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get(CSRF_FIELD, ""))
    if not sent or not same_digest(sent, principal.csrf):
        raise ForbiddenError("missing or wrong CSRF token")


async def authenticated(request: Request) -> Principal:
    """Dependency: the caller, or 401."""
    principal = await run_in_threadpool(identify, request)
    if principal is None:
        raise AccessError("log in or send an API token (Authorization: Bearer ...)")
    await check_csrf(request, principal)
    request.state.principal = principal
    return principal


def require(role: Role) -> Any:
    """Dependency factory: the caller when their role allows ``role``, else 403."""

    async def check(principal: Principal = Depends(authenticated)) -> Principal:  # noqa: B008
        if not principal.may(role):
            raise ForbiddenError(f"this needs the {role.value} role")
        return principal

    return Depends(check)


def actor_store(request: Request) -> Store:
    """The store acting as the request's principal (its events name the user or token)."""
    principal: Principal = request.state.principal
    return context(request).store(principal.actor)


class LoginThrottle:
    """A sliding one-minute window of login attempts per client address (per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def attempt(self, address: str, now: float | None = None) -> None:
        at = time.monotonic() if now is None else now
        window = self._seen[address]
        while window and at - window[0] > 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            raise TooManyAttemptsError("too many login attempts; wait a minute")
        window.append(at)


VIEWER_ROLE = Role.VIEWER
