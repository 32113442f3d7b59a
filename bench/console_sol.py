"""SOL relay throughput: console bytes per second from the host to the client, and client CPU.

The emulated device runs in a child process whose host floods its console (16 KiB every
10 ms, far more than a serial line carries); each client reads SOL for the same time:

* ``core``: the sans-IO client core alone parsing pre-built SOL data messages (its ceiling);
* ``mewarden``: :class:`~mewarden.redirect.session.RedirectionSession` over plain 16994
  (digest), then over TLS 16995;
* ``amtterm``: Debian's amtterm 1.4 (plain authentication), the independent peer, when
  installed.

Columns: MiB/s delivered, client CPU seconds per MiB, and the ratio of the MiB/s to amtterm's
(the emulator sends at most 54 bytes per message for amtterm's sake, so the ceiling is the
server's; above 1 means mewarden keeps up at least as well). ``measure_sol(seconds)`` is what
``bench/console.py`` imports for its summary.

Usage: ``python bench/console_sol.py [--seconds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import shutil
import struct
import subprocess
import time
from typing import Any

import psutil

from mewarden.amt.client import Endpoint
from mewarden.emulate import EmulatedFleet
from mewarden.emulate.values import ControlMode
from mewarden.redirect.protocol import RedirectionClient
from mewarden.redirect.session import RedirectionSession
from mewarden.redirect.sol import SolChannel, SolData
from mewarden.secret import Secret

PASSWORD = "Bench-S0l-P@ss"
FLOOD = ("0123456789abcdef" * 64 + "\r\n") * 16  # ~16 KiB of console text
FLOOD_EVERY_S = 0.01
MIB = 1 << 20


def _emulator_main(base: str, conn: Any) -> None:
    async def serve() -> None:
        async with EmulatedFleet.start(
            nodes=1, base_ip=base, password=PASSWORD, boot_time_s=0.2, tls=True,
            mode=ControlMode.ADMIN,
        ) as fleet:  # fmt: skip
            conn.send(fleet.devices[0].address)
            state = fleet.devices[0].state
            while not conn.poll():
                state.console.write(FLOOD)
                await asyncio.sleep(FLOOD_EVERY_S)

    asyncio.run(serve())


@contextlib.contextmanager
def _emulator() -> Any:
    base = f"127.151.{random.randrange(1, 255)}.1"
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_emulator_main, args=(base, child))
    proc.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the emulator did not start")
        yield str(parent.recv())
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()


def _core(seconds: float) -> dict[str, float]:
    """The pure core parsing SOL data messages (no I/O)."""
    piece = bytes(1000)
    message = b"\x2a\x00\x00\x00" + struct.pack("<IH", 0, len(piece)) + piece
    chunk = b"".join(message[:4] + struct.pack("<I", i) + message[8:] for i in range(1, 65))
    client = RedirectionClient(
        SolChannel(), user="admin", password=Secret("x"), cnonce="0", label="bench"
    )
    client.phase = client.phase.OPEN
    channel = client.channel
    assert isinstance(channel, SolChannel)
    channel.opened = True
    received, started = 0, time.perf_counter()
    cpu = time.process_time()
    while time.perf_counter() - started < seconds:
        for event in client.receive(chunk):
            if isinstance(event, SolData):
                received += len(event.data)
    return _row(received, time.perf_counter() - started, time.process_time() - cpu)


def _row(received: int, elapsed: float, cpu_s: float) -> dict[str, float]:
    mib = received / MIB
    return {"mib_s": mib / elapsed, "cpu_s_per_mib": cpu_s / mib if mib else float("nan")}


async def _mewarden(host: str, seconds: float, *, tls: bool) -> dict[str, float]:
    endpoint = Endpoint(host=host, password=Secret(PASSWORD), tls=tls, timeout_s=10.0)
    session = await RedirectionSession.open(endpoint, SolChannel())
    received, started = 0, time.perf_counter()
    cpu = time.process_time()
    while time.perf_counter() - started < seconds:
        for event in await session.receive(0.1):
            if isinstance(event, SolData):
                received += len(event.data)
    row = _row(received, time.perf_counter() - started, time.process_time() - cpu)
    await session.aclose()
    return row


def _amtterm(host: str, seconds: float) -> dict[str, float] | None:
    tool = shutil.which("amtterm")
    if tool is None:
        return None
    env = dict(os.environ, AMT_PASSWORD=PASSWORD)
    proc = subprocess.Popen(
        [tool, "-u", "admin", host, "16994"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    watched = psutil.Process(proc.pid)
    received, started = 0, time.perf_counter()
    os.set_blocking(proc.stdout.fileno(), False)
    while time.perf_counter() - started < seconds:
        with contextlib.suppress(BlockingIOError, TypeError):
            received += len(os.read(proc.stdout.fileno(), 65536))
        time.sleep(0.001)
    times = watched.cpu_times()
    proc.kill()
    proc.wait(10)
    return _row(received, time.perf_counter() - started, times.user + times.system)


async def measure_sol(seconds: float = 3.0) -> dict[str, Any]:
    """Every row of the table (MiB/s and CPU s per MiB per client)."""
    with _emulator() as host:
        rows: dict[str, Any] = {
            "core": _core(seconds),
            "mewarden (16994, digest)": await _mewarden(host, seconds, tls=False),
            "mewarden (16995, TLS)": await _mewarden(host, seconds, tls=True),
        }
        peer = await asyncio.to_thread(_amtterm, host, seconds)
        if peer is not None:
            rows["amtterm 1.4 (16994, plain)"] = peer
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rows = asyncio.run(measure_sol(args.seconds))
    peer = rows.get("amtterm 1.4 (16994, plain)")
    print(f"{'client':32} {'MiB/s':>9} {'CPU s/MiB':>10} {'vs amtterm':>10}")
    for name, row in rows.items():
        ratio = f"{row['mib_s'] / peer['mib_s']:.2f}x" if peer and name != "core" else "-"
        print(f"{name:32} {row['mib_s']:9.2f} {row['cpu_s_per_mib']:10.3f} {ratio:>10}")


if __name__ == "__main__":
    main()
