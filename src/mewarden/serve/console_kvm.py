"""The KVM console in the browser: noVNC on a WebSocket ``/api/v1/nodes/{name}/kvm``, checked,
opened and audited like SOL (:func:`mewarden.serve.console.run_console`).

mewarden opens AMT's KVM with the vaulted password (redirection handshake, digest, TLS pin),
keeps a :class:`~mewarden.redirect.kvm_bridge.Mirror` of the screen (AMT's Intel RLE decoded)
and serves it to the browser as standard RFB, Raw pixels in the format noVNC asks for: the
bridge's own viewer side, with the WebSocket as its byte stream. Security type None on the
browser side: the WebSocket is already authenticated (session, origin, CSRF, role), and the AMT
password never leaves the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from mewarden.errors import AmtTimeoutError
from mewarden.serve.console import Console, prepared_endpoint, run_console
from mewarden.serve.context import ServeContext

if TYPE_CHECKING:
    from mewarden.redirect.kvm_bridge import Mirror

router = APIRouter(include_in_schema=False)
SUBPROTOCOL = "mewarden-kvm"
#: What AMT is asked for: RGB565 carries the emulator's (and most consoles') colours exactly
#: at half the bytes of 32-bit; noVNC still gets 32-bit.
COLOUR_BITS = 16


class SocketReader:
    """The browser's side of the RFB stream as a reader: binary messages in order, b"" once
    the WebSocket is gone (text messages carry no RFB and are skipped)."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    async def read(self, n: int = -1, /) -> bytes:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return b""
            data = message.get("bytes")
            if data:
                return bytes(data)


class SocketWriter:
    """The server's side of the RFB stream as a writer: what was written goes out as one
    binary message per drain, in order (the relay drains from two tasks, hence the lock)."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._out = bytearray()
        self._lock = asyncio.Lock()

    def write(self, data: bytes, /) -> None:
        self._out += data

    async def drain(self) -> None:
        async with self._lock:
            if not self._out:
                return
            data = bytes(self._out)
            self._out.clear()
            try:
                await self._ws.send_bytes(data)
            except (WebSocketDisconnect, RuntimeError) as exc:
                raise ConnectionResetError("the browser left") from exc

    def close(self) -> None:
        """Nothing here: :func:`run_console` closes the WebSocket once the session is audited."""


@dataclass(slots=True)
class _Kvm:
    mirror: Mirror
    pump: asyncio.Task[None] = field(init=False)
    frames: int = 0

    def __post_init__(self) -> None:
        self.pump = asyncio.create_task(self._keep_current())

    async def _keep_current(self) -> None:
        # the pump's failure stays on the mirror, which ends the viewer with it
        with contextlib.suppress(Exception):
            await self.mirror.pump()

    async def relay(self, ws: WebSocket) -> None:
        from mewarden.redirect.kvm_bridge import serve_viewer

        self.frames = await serve_viewer(
            SocketReader(ws), SocketWriter(ws), mirror=self.mirror, password=None
        )

    async def aclose(self) -> None:
        self.mirror.close()
        self.pump.cancel()
        await asyncio.gather(self.pump, return_exceptions=True)


async def _open_kvm(ctx: ServeContext, name: str) -> Console:
    from mewarden.redirect.kvm_bridge import Mirror
    from mewarden.redirect.kvm_screen import open_kvm
    from mewarden.redirect.wire import SessionType

    endpoint = await prepared_endpoint(ctx, name, SessionType.KVM)
    mirror = Mirror(await open_kvm(endpoint), colour_bits=COLOUR_BITS)
    try:
        await mirror.start(ctx.settings.amt_timeout_s)
    except TimeoutError:
        mirror.close()
        raise AmtTimeoutError(
            f"{endpoint.host}: no complete KVM screen within {ctx.settings.amt_timeout_s:g} s"
        ) from None
    except BaseException:
        mirror.close()
        raise
    return _Kvm(mirror)


@router.websocket("/api/v1/nodes/{name}/kvm")
async def kvm(ws: WebSocket, name: str) -> None:
    await run_console(ws, name, kind="kvm", subprotocol=SUBPROTOCOL, opener=_open_kvm)
