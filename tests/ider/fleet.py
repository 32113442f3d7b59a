"""An emulated fleet on this suite's own loopback range (127.16.0.0/16)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator

from mewarden.amt.client import Endpoint
from mewarden.emulate import EmulatedFleet
from mewarden.emulate.values import Timing
from mewarden.errors import ConfigError
from mewarden.secret import Secret

PASSWORD = "Ider-P@ssw0rd1"
TIMING = Timing(boot_time_s=0.3, shutdown_time_s=0.05, request_latency_s=0.001)


@contextlib.asynccontextmanager
async def ider_fleet(nodes: int = 1, *, tls: bool = False) -> AsyncIterator[EmulatedFleet]:
    """A fleet at a free 127.16.x.1 block (another run may hold one: try the next)."""
    rng = random.Random()
    for attempt in range(10):
        base = f"127.16.{rng.randrange(1, 250)}.1"
        try:
            starter = EmulatedFleet.start(
                nodes=nodes, base_ip=base, tls=tls, password=PASSWORD, timing=TIMING
            )
            fleet = await starter.__aenter__()
        except ConfigError:
            if attempt == 9:
                raise
            continue
        try:
            yield fleet
        finally:
            await starter.__aexit__(None, None, None)
        return


def endpoint(address: str, *, tls: bool = False, timeout_s: float = 5.0) -> Endpoint:
    return Endpoint(host=address, password=Secret(PASSWORD), tls=tls, timeout_s=timeout_s)
