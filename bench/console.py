"""Console throughput: KVM frames/s at 1024x768 through ``mewarden amt kvm --listen`` vs a
viewer straight on the emulator's port 5900, CPU per frame, and SOL bytes/s relayed.

Prints one table. The emulator (``mewarden emulate``, admin control mode: no consent) and the
bridge run as their own processes, as users run them, so their CPU is measured apart (psutil).
The viewer is a lean RFB client in this process: it asks for whole 32-bit frames
(non-incremental FramebufferUpdateRequest, Raw) back to back and skips the pixels, so the
servers, not the viewer, set the pace. Upstream the bridge reads AMT's Intel RLE in 16-bit
colour and keeps a mirror current with incremental requests; it answers the viewer from it.
Target: the bridge at >= 0.9x of direct.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from mewarden.rfb.client import Connected, RfbClient
from mewarden.rfb.messages import SetEncodings, SetPixelFormat, UpdateRequest
from mewarden.rfb.pixels import RGB888
from mewarden.secret import Secret

PASSWORD = "Bench-P@ss1"
RFB_PASSWORD = "Bench-12"
VNC_PASSWORD = "bench-vn"
DURATION_S = 2.0
ROUNDS = 3
SOL_SECONDS = 2.0


def _mewarden(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mewarden", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@contextlib.contextmanager
def _running(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the emulator did not start: {process.communicate()[1]}")
        time.sleep(0.05)


async def _connect(
    address: str, password: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    client = RfbClient(password=Secret(password))
    while True:
        events = client.receive(await reader.read(65536))
        writer.write(client.data_to_send())
        if any(isinstance(e, Connected) for e in events):
            break
    client.send(SetPixelFormat(pixel_format=RGB888))
    client.send(SetEncodings(encodings=(0,)))
    writer.write(client.data_to_send())
    return reader, writer


async def _frames(address: str, password: str, seconds: float) -> tuple[int, int, float]:
    """Frames and bytes received in ``seconds``; and the elapsed time."""
    from mewarden.rfb.messages import encode_client

    reader, writer = await _connect(address, password)
    request = encode_client(UpdateRequest(incremental=False, x=0, y=0, width=1024, height=768))
    frames = received = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            writer.write(request)
            head = await reader.readexactly(4)
            if head[0] != 0:
                raise SystemExit(f"unexpected RFB message {head[0]}")
            for _ in range(struct.unpack(">H", head[2:])[0]):
                _, _, width, height, encoding = struct.unpack(
                    ">HHHHi", await reader.readexactly(12)
                )
                if encoding == 0:
                    await reader.readexactly(width * height * 4)
                    received += width * height * 4
            frames += 1
        return frames, received, time.perf_counter() - started
    finally:
        writer.close()


async def _rle_frames(device: str, seconds: float) -> tuple[int, int, float]:
    """Whole frames over AMT's redirection port (digest, Intel RLE, 16-bit), decoded to RGB as
    the bridge decodes them."""
    from mewarden.amt.client import Endpoint
    from mewarden.redirect.kvm_screen import open_kvm
    from mewarden.rfb.client import UpdateDone
    from mewarden.rfb.pixels import RGB565

    stream = await open_kvm(Endpoint(host=device, password=Secret(PASSWORD)))
    client = RfbClient()
    pending = stream.leftover
    while not any(isinstance(e, Connected) for e in client.receive(pending)):
        stream.writer.write(client.data_to_send())
        pending = await stream.reader.read(65536)
    client.send(SetEncodings(encodings=(16, 0, -223)))
    client.send(SetPixelFormat(pixel_format=RGB565))
    frames = received = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            client.send(UpdateRequest(incremental=False, x=0, y=0, width=1024, height=768))
            stream.writer.write(client.data_to_send())
            done = False
            while not done:
                data = await stream.reader.read(1 << 20)
                received += len(data)
                done = any(isinstance(e, UpdateDone) for e in client.receive(data))
            frames += 1
        return frames, received, time.perf_counter() - started
    finally:
        stream.writer.close()


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


Run = Callable[[float], Awaitable[tuple[int, int, float]]]


async def _measure(run: Run, server_pids: list[int]) -> dict[str, float]:
    await run(0.5)  # warm-up: first frames, caches
    me = psutil.Process()
    server_before, client_before = _cpu(server_pids), me.cpu_times()
    frames, received, elapsed = await run(DURATION_S)
    client_after = me.cpu_times()
    server_cpu = _cpu(server_pids) - server_before
    client_cpu = sum(client_after[:2]) - sum(client_before[:2])
    return {
        "fps": frames / elapsed,
        "mib_s": received / elapsed / (1 << 20),
        "server_ms": 1000 * server_cpu / max(frames, 1),
        "client_ms": 1000 * client_cpu / max(frames, 1),
    }


def _alternating(
    first: Run, first_pids: list[int], second: Run, second_pids: list[int]
) -> tuple[dict[str, float], dict[str, float]]:
    """ROUNDS measurements of each, taken in turns, and the median round of each: the machine's
    load changes by the second, and both should see the same."""
    a: list[dict[str, float]] = []
    b: list[dict[str, float]] = []
    for _ in range(ROUNDS):
        a.append(asyncio.run(_measure(first, first_pids)))
        b.append(asyncio.run(_measure(second, second_pids)))
    return _median(a), _median(b)


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return sorted(rows, key=lambda row: row["fps"])[len(rows) // 2]


def _sol_rows() -> dict[str, Any]:
    """SOL bytes/s relayed, from the SOL bench beside this file (bench/console_sol.py)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:  # its emulator child process imports it by this name, too
        sys.path.insert(0, here)
    try:
        module = importlib.import_module("console_sol")
    except ImportError:
        return {}
    rows: dict[str, Any] = asyncio.run(module.measure_sol(SOL_SECONDS))
    return rows


def _print_sol(rows: dict[str, Any]) -> None:
    if not rows:
        print("SOL: bench/console_sol.py is missing")
        return
    print(f"\n{'SOL relayed (console_sol.py)':<32} {'bytes/s':>12} {'CPU s/MiB':>10}")
    for name, row in rows.items():
        print(f"{name:<32} {row['mib_s'] * (1 << 20):>12,.0f} {row['cpu_s_per_mib']:>10.3f}")


Rows = tuple[dict[str, float], dict[str, float], dict[str, float]]


def _kvm_rows() -> Rows:
    """Direct, bridged and AMT-side measurements against a fresh emulator and bridge."""
    block = f"127.152.{random.randrange(1, 255)}"  # a free block of this bench's loopback range
    device, bridge_address = f"{block}.1", f"{block}.200:0"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "MEWARDEN_AMT_PASSWORD": PASSWORD,
            "MEWARDEN_VNC_PASSWORD": VNC_PASSWORD,
        }
        ready = Path(tmp) / "ready.json"
        emulate = _mewarden(
            "emulate", "--nodes", "1", "--base-ip", device, "--mode", "acm", "--boot-time", "0",
            "--control", str(_free_port()), "--ready-file", str(ready), env=env,
        )  # fmt: skip
        with _running(emulate):
            _wait_for(ready, emulate)
            rfb = Path(tmp) / "rfb"
            rfb.write_text(RFB_PASSWORD)
            subprocess.run(
                [sys.executable, "-m", "mewarden", "amt", "--host", device, "kvm", "settings",
                 "--port-5900", "on", "--rfb-password-file", str(rfb), "--no-opt-in"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            bridge = _mewarden(
                "amt", "--host", device, "kvm", "--listen", bridge_address, "--json", env=env
            )
            with _running(bridge):
                assert bridge.stdout is not None
                listen = json.loads(bridge.stdout.readline())["listen"]
                direct, bridged = _alternating(
                    lambda s: _frames(f"{device}:5900", RFB_PASSWORD, s),
                    [emulate.pid],
                    lambda s: _frames(listen, VNC_PASSWORD, s),
                    [emulate.pid, bridge.pid],
                )
            upstream = asyncio.run(_measure(lambda s: _rle_frames(device, s), [emulate.pid]))
    return direct, bridged, upstream


def main() -> None:
    direct, bridged, upstream = _kvm_rows()
    print(f"{'KVM 1024x768, 32-bit Raw':<28} {'frames/s':>9} {'MiB/s':>8} {'vs direct':>10} "
          f"{'server CPU ms/frame':>20} {'viewer CPU ms/frame':>20}")  # fmt: skip
    rows = (
        ("direct to emulator :5900", direct),
        ("through amt kvm --listen", bridged),
        ("AMT side: 16994, RLE 16-bit", upstream),
    )
    for name, row in rows:
        ratio = f"{row['fps'] / direct['fps']:>9.2f}x" if row is not upstream else f"{'-':>10}"
        print(
            f"{name:<28} {row['fps']:>9.1f} {row['mib_s']:>8.1f} "
            f"{ratio} {row['server_ms']:>20.2f} {row['client_ms']:>20.2f}"
        )
    print(
        f"(median of {ROUNDS} alternating rounds of {DURATION_S:.0f} s; server CPU: the emulator,"
    )
    print(" plus the bridge on the bridged row; target: the bridge at >= 0.90x of direct.")
    print(" AMT side: what the bridge's upstream costs per whole frame, the viewer CPU column")
    print(" being the decode of Intel RLE to RGB; the bridge pulls only changed tiles after the")
    print(" first frame)")
    _print_sol(_sol_rows())


if __name__ == "__main__":
    main()
