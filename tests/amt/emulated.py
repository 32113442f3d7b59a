"""The project's AMT emulator served from a background thread, for CLI tests that call
``asyncio.run`` themselves (``mewarden.cli.main.main``).

Device state is read on the emulator's own loop (:meth:`ThreadedEmulator.call`), never from the
test thread directly, so a test sees the state the emulator would serve.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from mewarden.emulate.device import EmulatedDevice
from mewarden.emulate.fleet import EmulatedFleet
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import Timing

PASSWORD = "Emu-P@ssw0rd1"
FAST = Timing(boot_time_s=0.3, shutdown_time_s=0.1, request_latency_s=0.002, slow_extra_s=1.5)
T = TypeVar("T")


class ThreadedEmulator:
    """An :class:`EmulatedFleet` on a random 127.x.y.1 block, running in its own thread."""

    def __init__(self, *, nodes: int = 1, tls: bool = False, timing: Timing = FAST) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._fleet: EmulatedFleet | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(nodes, tls, timing), daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._fleet is None:
            raise RuntimeError(f"the emulator did not start: {self._error!r}")

    def _main(self, nodes: int, tls: bool, timing: Timing) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve(nodes, tls, timing))
        except BaseException as exc:  # reported by __init__
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self, nodes: int, tls: bool, timing: Timing) -> None:
        self._stop = asyncio.Event()
        async with EmulatedFleet.start(
            nodes=nodes, base_ip=None, tls=tls, password=PASSWORD, timing=timing
        ) as fleet:
            self._fleet = fleet
            self._ready.set()
            await self._stop.wait()

    @property
    def fleet(self) -> EmulatedFleet:
        assert self._fleet is not None
        return self._fleet

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop (between requests) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def device(self, index: int = 0) -> EmulatedDevice:
        return self.fleet.devices[index]

    def state(self, index: int = 0) -> DeviceState:
        """The device's state advanced to now (read on the emulator loop)."""
        return self.call(lambda: self.fleet.devices[index].state)

    def host(self, index: int = 0, *, tls: bool = False) -> str:
        device = self.device(index)
        port = device.tls_port if tls else device.http_port
        return f"{device.address}:{port}"

    def inject(self, kind: str, index: int = 0) -> None:
        address = self.device(index).address
        self.call(lambda: self.fleet.inject_fault(address, kind))

    def clear(self, index: int = 0) -> None:
        address = self.device(index).address
        self.call(lambda: self.fleet.clear_faults(address))

    def actions(self, index: int = 0) -> list[tuple[str, str]]:
        """``(kind, detail)`` of the device's action log, oldest first."""
        address = self.device(index).address
        log = self.call(lambda: list(self.fleet.action_log))
        return [(a.kind, a.detail) for a in log if a.address == address]

    def __enter__(self) -> ThreadedEmulator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
