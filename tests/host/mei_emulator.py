"""An emulated fleet with simulated MEI endpoints, running in its own thread (127.14.0.0/16).

The CLI under test runs in the test's thread and talks to the endpoint sockets (AMTHI
blocking, LME through its own event loop), so the emulator must not share a loop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pytest

from mewarden.cli.main import main
from mewarden.emulate.fleet import EmulatedFleet
from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.emulate.mei_server import MeiEndpoints, start_mei_endpoints
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode, Timing

T = TypeVar("T")
PASSWORD = "Fleet-Passw0rd!"
NEW_PASSWORD = "N3w-Adm1n-Pass!"
FAST = Timing(boot_time_s=0.2, request_latency_s=0.0)


class MeiEmulator:
    """``EmulatedFleet`` + ``start_mei_endpoints`` on a free 127.14.x.1 block."""

    def __init__(
        self,
        directory: Path,
        *,
        mode: ControlMode = ControlMode.PRE_PROVISIONING,
        trust: HostTrust | None = None,
        nodes: int = 1,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._fleet: EmulatedFleet | None = None
        self._mei: MeiEndpoints | None = None
        self._error: BaseException | None = None
        args = (directory, mode, trust or HostTrust(), nodes)
        self._thread = threading.Thread(target=self._main, args=args, daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._fleet is None:
            raise RuntimeError(f"the emulator did not start: {self._error!r}")

    def _main(self, directory: Path, mode: ControlMode, trust: HostTrust, nodes: int) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve(directory, mode, trust, nodes))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(
        self, directory: Path, mode: ControlMode, trust: HostTrust, nodes: int
    ) -> None:
        self._stop = asyncio.Event()
        for _ in range(10):
            base = f"127.14.{random.randrange(1, 250)}.1"
            try:
                async with (
                    EmulatedFleet.start(
                        nodes=nodes,
                        base_ip=base,
                        password=PASSWORD,
                        timing=FAST,
                        mode=mode,
                        host_trust=trust,
                    ) as fleet,
                    start_mei_endpoints(fleet, directory) as mei,
                ):
                    self._fleet, self._mei = fleet, mei
                    self._ready.set()
                    await self._stop.wait()
                    return
            except Exception:
                if self._fleet is not None:
                    raise
        raise RuntimeError("no free 127.14.x.1 block")

    def __enter__(self) -> MeiEmulator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def fleet(self) -> EmulatedFleet:
        assert self._fleet is not None
        return self._fleet

    @property
    def address(self) -> str:
        return self.fleet.devices[0].address

    @property
    def mei_path(self) -> str:
        return self.mei_path_of(0)

    def mei_path_of(self, index: int) -> str:
        assert self._mei is not None
        return str(self._mei.path(self.fleet.devices[index].address))

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def state(self, index: int = 0) -> DeviceState:
        return self.call(lambda: self.fleet.devices[index].state)


Result = tuple[int, str, str]


def run_cli(
    capsys: pytest.CaptureFixture[str],
    *args: str,
    secrets: tuple[str, ...] = (PASSWORD, NEW_PASSWORD),
) -> Result:
    """``mewarden ARGS`` in-process: exit code, stdout, stderr (no traceback, no secret)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    for secret in secrets:
        assert secret not in out + err
    return int(info.value.code or 0), out, err


def json_of(result: Result) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


@contextlib.contextmanager
def refused_port() -> Iterator[str]:
    """``HOST:PORT`` where nothing listens (for ``--lms``: LMS absent)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.14.255.254", 0))
    port = sock.getsockname()[1]
    sock.close()
    yield f"127.14.255.254:{port}"
