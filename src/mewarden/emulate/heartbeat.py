"""A node's heartbeat sender, for the emulator: signed ``POST /heartbeat`` while the host runs.

What a real node would run next to its host agent (the wire format is
:mod:`mewarden.heal.heartbeat`); a hung or powered-off emulated host sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from mewarden.emulate.device import EmulatedDevice
from mewarden.heal.heartbeat import PATH, SIGNATURE_HEADER, encode


async def push_heartbeats(
    device: EmulatedDevice, *, node: str, key: bytes, host: str, port: int, interval_s: float
) -> None:
    """Every ``interval_s`` while the device's host OS answers, until cancelled."""
    url = f"http://{host}:{port}{PATH}"
    counter = 0
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            if device.state.host_answers:
                # milliseconds since the epoch rise across reboots without state on the node
                counter = max(counter + 1, time.time_ns() // 1_000_000)
                body, signature = encode(node, counter, key)
                headers = {SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
                with contextlib.suppress(httpx.HTTPError):
                    await client.post(url, content=body, headers=headers)
            await asyncio.sleep(interval_s)
