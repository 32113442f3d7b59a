"""IDE-R serving speed: MB/s served to the emulated device vs reading the same file locally.

Builds an installer ISO with xorriso (a payload of ``--mib`` MiB), starts the emulator in its
own process (``mewarden emulate``, one device on 127.16.250.1), then serves the ISO with
``--boot`` as ``mewarden amt ider`` does: the emulated BIOS boots it and the emulated installer
reads the whole CD in 64 KiB READ(10)s, then ejects it. Peer: reading the file locally in the
same 64 KiB pieces (os.pread). Prints MB/s, the ratio to the local read, and CPU time per MiB
of the serving process and of the emulator (which plays AMT and the host), plain and TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from mewarden.amt.boot import BootTarget, set_boot
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.ider.medium import check_cd, open_medium
from mewarden.ider.serve import serve_image
from mewarden.secret import Secret

PASSWORD = "Bench-Ider-P@ss1"
BASE_IP = "127.16.250.1"
CHUNK = 64 * 1024
MIB = 1 << 20


def build_iso(root: Path, mib: int) -> Path:
    tree = root / "tree"
    (tree / "boot").mkdir(parents=True)
    boot = bytearray(os.urandom(2048))
    boot[510:512] = b"\x55\xaa"
    (tree / "boot" / "boot.img").write_bytes(bytes(boot))
    with (tree / "payload.bin").open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))
    image = root / "bench.iso"
    xorriso = shutil.which("xorriso")
    if xorriso is None:
        sys.exit("bench/ider.py needs xorriso (scripts/install-system-packages.sh)")
    subprocess.run(
        [xorriso, "-as", "mkisofs", "-quiet", "-V", "BENCH_IDER", "-o", str(image),
         "-b", "boot/boot.img", "-c", "boot/boot.cat", "-no-emul-boot", "-boot-load-size", "4",
         str(tree)],
        check=True,
    )  # fmt: skip
    shutil.rmtree(tree)
    return image


def local_read(path: Path) -> tuple[float, float, int]:
    """(seconds, CPU seconds, bytes) of reading the file in 64 KiB pieces."""
    fd = os.open(path, os.O_RDONLY)
    try:
        cpu, began, total, offset = time.process_time(), time.perf_counter(), 0, 0
        while data := os.pread(fd, CHUNK, offset):
            total += len(data)
            offset += len(data)
        return time.perf_counter() - began, time.process_time() - cpu, total
    finally:
        os.close(fd)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(root: Path, tls: bool) -> subprocess.Popen[bytes]:
    ready = root / f"ready-{tls}.json"
    args = [sys.executable, "-m", "mewarden", "emulate", "--nodes", "1", "--base-ip", BASE_IP,
            "--boot-time", "0.1", "--control", str(free_port()), "--ready-file", str(ready),
            "--state-dir", str(root / f"state-{tls}")]  # fmt: skip
    if tls:
        args.append("--tls")
    env = {**os.environ, "MEWARDEN_AMT_PASSWORD": PASSWORD}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("the emulator did not start")
        time.sleep(0.1)
    json.loads(ready.read_text())
    return proc


async def serve(path: Path, tls: bool) -> tuple[float, float, int]:
    """(seconds, CPU seconds of this process, bytes served) for one IDER boot + install."""
    endpoint = Endpoint(host=BASE_IP, password=Secret(PASSWORD), tls=tls, timeout_s=10)
    with open_medium(path) as medium:
        check_cd(medium)
        async with AmtClient(endpoint) as client:

            async def boot() -> None:
                await set_boot(client, BootTarget.IDER_CD, reset=True)

            cpu, began = time.process_time(), time.perf_counter()
            summary = await serve_image(endpoint, medium, boot=boot, timeout_s=600)
            return time.perf_counter() - began, time.process_time() - cpu, summary.bytes_served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="payload size of the ISO (MiB)")
    mib = parser.parse_args().mib
    with tempfile.TemporaryDirectory(prefix="mewarden-bench-ider-") as tmp:
        root = Path(tmp)
        image = build_iso(root, mib)
        local_s, local_cpu, size = local_read(image)
        rows: list[tuple[str, float, float, float, float | None, int]] = [
            ("local pread, 64 KiB", size / local_s / MIB, 1.0, local_cpu, None, size)
        ]
        for tls in (False, True):
            emulator = start_emulator(root, tls)
            try:
                process = psutil.Process(emulator.pid)
                before = sum(process.cpu_times()[:2])
                seconds, cpu, served = asyncio.run(serve(image, tls))
                emu_cpu = sum(process.cpu_times()[:2]) - before
            finally:
                emulator.terminate()
                emulator.wait(10)
            rate = served / seconds / MIB
            label = f"IDER over {'TLS 16995' if tls else '16994'}"
            rows.append((label, rate, rate / rows[0][1], cpu, emu_cpu, served))
        print(f"image: {size / MIB:.1f} MiB ISO (xorriso), read whole by the emulated installer")
        print(f"{'path':24} {'MB/s':>9} {'vs local':>9} {'CPU ms/MiB':>11} {'emulator ms/MiB':>16}")
        for label, rate, ratio, cpu, device_cpu, total in rows:
            per = cpu * 1000 / (total / MIB)
            device = "-" if device_cpu is None else f"{device_cpu * 1000 / (total / MIB):.1f}"
            print(f"{label:24} {rate:9.1f} {ratio:9.4f} {per:11.2f} {device:>16}")


if __name__ == "__main__":
    main()
