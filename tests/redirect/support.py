"""An emulated fleet on a background thread in this suite's loopback range (127.151.0.0/16),
for tests that run the CLI in another process (a pty) while they look at the device."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from typing import TypeVar

from mewarden.emulate.device import EmulatedDevice
from mewarden.emulate.fleet import EmulatedFleet
from mewarden.emulate.values import ControlMode, Timing

PASSWORD = "Sol-P@ssw0rd1"
FAST = Timing(boot_time_s=0.3, shutdown_time_s=0.1, request_latency_s=0.002, slow_extra_s=1.5)
T = TypeVar("T")


def base_ip() -> str:
    return f"127.151.{random.randrange(1, 255)}.1"


class EmulatorThread:
    """One emulated device; :meth:`call` runs a function on the emulator's loop."""

    def __init__(self, *, mode: ControlMode = ControlMode.ADMIN, tls: bool = True) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._fleet: EmulatedFleet | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(mode, tls), daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._fleet is None:
            raise RuntimeError(f"the emulator did not start: {self._error!r}")

    def _main(self, mode: ControlMode, tls: bool) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve(mode, tls))
        except BaseException as exc:  # reported by __init__
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self, mode: ControlMode, tls: bool) -> None:
        self._stop = asyncio.Event()
        async with EmulatedFleet.start(
            nodes=1, base_ip=base_ip(), tls=tls, password=PASSWORD, timing=FAST, mode=mode
        ) as fleet:
            self._fleet = fleet
            self._ready.set()
            await self._stop.wait()

    @property
    def fleet(self) -> EmulatedFleet:
        assert self._fleet is not None
        return self._fleet

    @property
    def device(self) -> EmulatedDevice:
        return self.fleet.devices[0]

    @property
    def host(self) -> str:
        return self.device.address

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def __enter__(self) -> EmulatorThread:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
