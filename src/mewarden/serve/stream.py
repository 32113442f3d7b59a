"""Live events: one poller per process reads new audit events and fans them out to every
subscriber (SSE clients), so 100 browsers cost one query per poll, not 100.

Polling the events table (rather than an in-process bus) means events written by the CLI, the
heal controller or another replica show up too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from mewarden.jsonutil import dumps
from mewarden.serve.context import ServeContext
from mewarden.state.models import as_utc
from mewarden.state.node_page import event_page, latest_event_id

_QUEUE = 1000
_BATCH = 500
KEEPALIVE_S = 15.0


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = json.loads(row["detail"])
    except (TypeError, ValueError):
        detail = {}
    return {
        "id": row["id"],
        "at": as_utc(row["at"]).isoformat(),
        "node": row["node"],
        "actor": row["actor"],
        "kind": row["kind"],
        "detail": detail,
    }


class EventHub:
    """Subscribers get every event newer than when they subscribed."""

    def __init__(self, ctx: ServeContext) -> None:
        self.ctx = ctx
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._last = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def _poll(self) -> None:
        store = self.ctx.store()
        self._last = await run_in_threadpool(latest_event_id, store)
        while True:
            await asyncio.sleep(self.ctx.settings.event_poll_s)
            rows = await run_in_threadpool(
                lambda: event_page(store, after_id=self._last, limit=_BATCH)
            )
            for row in reversed(rows):  # event_page is newest first
                self._last = max(self._last, int(row["id"]))
                self._publish(event_json(row))

    def _publish(self, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a stuck client loses events
                queue.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[dict[str, Any] | None]:
        """Events as they come; None every :data:`KEEPALIVE_S` without one (a keep-alive)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(_QUEUE)
        self._subscribers.add(queue)
        try:
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield None
        finally:
            self._subscribers.discard(queue)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def sse(hub: EventHub, node: str = "") -> AsyncIterator[str]:
    """Server-sent events text: ``id``/``event``/``data`` per event, comments as keep-alives."""
    yield ": mewarden events\n\n"
    async for event in hub.subscribe():
        if event is None:
            yield ": keep-alive\n\n"
        elif not node or event["node"] == node:
            yield f"id: {event['id']}\nevent: audit\ndata: {dumps(event, indent=None)}\n\n"
