"""The consoles in the browser: WebSockets that mewarden relays to the node's AMT redirection
port with the redirection core (``mewarden.redirect``), the AMT password unsealed on the server
(never sent to the browser). This module has what SOL and KVM share, and SOL itself;
:mod:`mewarden.serve.console_kvm` has KVM.

The WebSocket is authenticated like every route (session cookie), must come from this origin,
and carries the session's CSRF token as a subprotocol (``csrf.<token>``; browsers cannot set
headers on WebSockets). Consent, when the device requires it, is given first through the
consent API (the page has the form); each console session is a pair of audit events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from mewarden.errors import BadInputError, MewardenError
from mewarden.serve.auth import Principal, identify
from mewarden.serve.context import ServeContext
from mewarden.serve.identity import Role, same_digest

if TYPE_CHECKING:
    from mewarden.amt.client import Endpoint
    from mewarden.redirect.wire import SessionType

router = APIRouter(include_in_schema=False)
SUBPROTOCOL = "mewarden-sol"
_POLL_S = 0.2
_KEEPALIVE_S = 5.0
_MAX_KEYS = 4096


class Console(Protocol):
    """An open console session on the server side of one WebSocket."""

    async def relay(self, ws: WebSocket) -> None:
        """Carry the console both ways until either side leaves."""
        ...

    async def aclose(self) -> None: ...


ConsoleOpener = Callable[[ServeContext, str], Awaitable[Console]]


def _no_code() -> str:
    raise BadInputError(
        "the device asks for user consent: a code is now shown on the node's screen; send it "
        "with the form above (the console then opens)"
    )


async def prepared_endpoint(ctx: ServeContext, name: str, session: SessionType) -> Endpoint:
    """The node's endpoint once the session type is enabled and consent, where the device
    requires it, was given (else a BadInputError that has started the flow: the page then
    takes the code); a TLS pin seen on first use is kept for the redirection session."""
    from mewarden.amt.client import AmtClient
    from mewarden.redirect.consent_flow import check_ready, enable_command, ensure_consent
    from mewarden.serve.api_amt import _endpoint

    endpoint: Endpoint = await run_in_threadpool(_endpoint, ctx, ctx.store(), name)
    hint = enable_command(endpoint.host, session, tls=endpoint.tls)
    async with AmtClient(endpoint) as client:
        await check_ready(client, session, host=endpoint.host, enable_hint=hint, allow_off=True)
        await ensure_consent(client, session, _no_code)
        seen = client.observed_pin
    if endpoint.tls and not endpoint.pin_sha256 and seen:
        endpoint = dataclasses.replace(endpoint, pin_sha256=seen)
    return endpoint


def check_socket(ws: WebSocket, ctx: ServeContext) -> Principal:
    """The operator behind this WebSocket, or an AccessError (before it is accepted)."""
    from mewarden.serve.auth import AccessError, ForbiddenError

    origin = ws.headers.get("origin", "")
    expected = f"{'https' if ctx.settings.tls else 'http'}://{ws.headers.get('host', '')}"
    if origin != expected:
        raise ForbiddenError("cross-origin console refused")
    principal = identify(ws)
    if principal is None:
        raise AccessError("log in first")
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
    sent = next((p[5:] for p in offered if p.startswith("csrf.")), "")
    if principal.via != "user" or not sent or not same_digest(sent, principal.csrf):
        raise ForbiddenError("missing or wrong CSRF token")
    if not principal.may(Role.OPERATOR):
        raise ForbiddenError("the console needs the operator role")
    return principal


async def run_console(
    ws: WebSocket, name: str, *, kind: str, subprotocol: str, opener: ConsoleOpener
) -> None:
    """Check, accept, open (audited: refused, or open then close), relay, close."""
    ctx: ServeContext = ws.app.state.ctx
    try:
        principal = await run_in_threadpool(check_socket, ws, ctx)
    except MewardenError:
        await ws.close(code=4403)
        return
    await ws.accept(subprotocol=subprotocol)
    store = ctx.store(principal.actor)
    try:
        console = await opener(ctx, name)
    except MewardenError as exc:
        why = str(exc)
        await run_in_threadpool(
            lambda: store.record("console.refused", name, console=kind, error=why)
        )
        await ws.send_json({"error": {"code": exc.exit_code, "message": why}})
        await ws.close(code=4000 + exc.exit_code)
        return
    await run_in_threadpool(lambda: store.record("console.open", name, console=kind, via="web"))
    try:
        with contextlib.suppress(WebSocketDisconnect, MewardenError, RuntimeError):
            await console.relay(ws)
    finally:
        await console.aclose()
        await run_in_threadpool(
            lambda: store.record("console.close", name, console=kind, via="web")
        )
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the browser has left
            await ws.close()


# --- SOL ------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Sol:
    session: Any
    """The open :class:`~mewarden.redirect.session.RedirectionSession` with its SOL channel."""

    async def relay(self, ws: WebSocket) -> None:
        tasks = [
            asyncio.create_task(self._to_browser(ws)),
            asyncio.create_task(self._to_node(ws)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _to_browser(self, ws: WebSocket) -> None:
        from mewarden.redirect.sol import SolData

        loop = asyncio.get_running_loop()
        last_ping = loop.time()
        while True:
            for event in await self.session.receive(_POLL_S):
                if isinstance(event, SolData):
                    await ws.send_bytes(event.data)
            if loop.time() - last_ping >= _KEEPALIVE_S:
                last_ping = loop.time()
                await self.session.keep_alive()

    async def _to_node(self, ws: WebSocket) -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode("utf-8")
            if data:
                self.session.channel.send(data[:_MAX_KEYS])
                await self.session.flush()

    async def aclose(self) -> None:
        await self.session.aclose()


async def _open_sol(ctx: ServeContext, name: str) -> Console:
    from mewarden.redirect.consent_flow import enable_command
    from mewarden.redirect.session import RedirectionSession
    from mewarden.redirect.sol import SolChannel
    from mewarden.redirect.wire import SessionType

    endpoint = await prepared_endpoint(ctx, name, SessionType.SOL)
    hint = enable_command(endpoint.host, SessionType.SOL, tls=endpoint.tls)
    return _Sol(await RedirectionSession.open(endpoint, SolChannel(), enable_hint=hint))


@router.websocket("/api/v1/nodes/{name}/sol")
async def sol(ws: WebSocket, name: str) -> None:
    await run_console(ws, name, kind="sol", subprotocol=SUBPROTOCOL, opener=_open_sol)
