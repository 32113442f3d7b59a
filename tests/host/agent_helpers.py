"""Shared helpers for the host agent tests: the agent and the controller's receiver on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from mewarden.heal.agent import HealthAnswer, get_health
from mewarden.heal.heartbeat_receiver import HeartbeatReceiver
from mewarden.host.agent import HealthServer
from mewarden.state.models import NodeSpec, Policy
from mewarden.state.store import Store
from tests.heal.harness import sqlite_store

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


@contextlib.asynccontextmanager
async def agent_on_loopback(server: HealthServer) -> AsyncIterator[int]:
    listener = await server.serve("127.0.0.1", 0)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        await listener.wait_closed()


async def probe(port: int) -> HealthAnswer | None:
    """What the heal controller's own probe client reads from the agent."""
    return await get_health("127.0.0.1", port, timeout_s=2.0)


def node_store(tmp_path: Path) -> Store:
    """Org state on SQLite with node n1 (a heartbeat key is the receiver's key source's job)."""
    store = sqlite_store(tmp_path)
    store.add_node(NodeSpec(name="n1", policy=Policy.USE, amt_host="127.0.0.9"))
    return store


@contextlib.asynccontextmanager
async def receiver_on_loopback(receiver: HeartbeatReceiver) -> AsyncIterator[int]:
    listener = await receiver.serve("127.0.0.1", 0)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        await listener.wait_closed()
