"""The host-agent liveness probe: one ``GET /healthz`` on a fresh connection, h11 over asyncio.

The controller sends one of these per node per pass. httpx's connection pool spends most of a
pass's CPU managing thousands of one-shot connections (about 1 ms per probe at 1,000 nodes);
the probe needs none of it: no keep-alive, no redirects, no auth, no TLS. h11 does the HTTP
parsing (sans-IO); this module only moves bytes with a deadline.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import h11

from mewarden.netio import close_quietly

_MAX_BODY = 64 * 1024
"""A health answer is a small JSON object; anything larger is not a live agent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthAnswer:
    """What the agent said: HTTP status and the decoded JSON body (None if not JSON)."""

    status: int
    body: object


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` into (host, port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port)
    return address, default_port


async def get_health(host: str, port: int, *, timeout_s: float) -> HealthAnswer | None:
    """The agent's answer, or None when it did not give a complete one within ``timeout_s``."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            return await _exchange(reader, writer, host)
    except (OSError, TimeoutError, h11.ProtocolError):
        return None
    finally:
        if writer is not None:
            await close_quietly(writer)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> HealthAnswer | None:
    conn = h11.Connection(our_role=h11.CLIENT)
    request = h11.Request(
        method="GET",
        target="/healthz",
        headers=[("Host", host), ("Connection", "close"), ("Accept", "application/json")],
    )
    writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
    status, body = 0, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(16384))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage):
            return HealthAnswer(status=status, body=_json(bytes(body)))
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None
