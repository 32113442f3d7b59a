"""Emulator capacity: devices per process, memory per device, WS-MAN requests per second.

Prints one table. The peer for throughput is a bare asyncio HTTP server in the same process
that answers every request with the same fixed bytes (no Digest, no XML): the ceiling of this
interpreter and client, so the ratio shows what the AMT behaviour costs. Non-standard ports
keep the run from colliding with tests that use 16992-16994.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time

import psutil

from mewarden.emulate import EmulatedFleet, Ports, Timing

PASSWORD = "Bench-P@ss1"
PORTS = Ports(http=36992, tls=36993, redirection=36994, agent=39100, vnc=35900)
GET = (
    b'<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/'
    b'soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>'
    b"http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To>"
    b"<w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
    b"</w:ResourceURI><a:MessageID>1</a:MessageID></Header><Body></Body></Envelope>"
)
DURATION_S = 3.0
CLIENTS = 32


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status = int((await reader.readline()).split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


async def _client_loop(host: str, port: int, deadline: float, *, digest: bool) -> int:
    """Keep-alive requests until ``deadline``; returns how many got a 200."""
    done = 0
    auth = ""
    params: dict[str, str] = {}
    nc = 0
    reader, writer = await asyncio.open_connection(host, port)
    while time.perf_counter() < deadline:
        if digest and params:
            nc += 1
            ha1 = _md5(f"admin:{params['realm']}:{PASSWORD}")
            response = _md5(f"{ha1}:{params['nonce']}:{nc:08x}:abc:auth:{_md5('POST:/wsman')}")
            auth = (
                f'Authorization: Digest username="admin", realm="{params["realm"]}", '
                f'nonce="{params["nonce"]}", uri="/wsman", cnonce="abc", nc={nc:08x}, '
                f'qop="auth", response="{response}"\r\n'
            )
        head = f"POST /wsman HTTP/1.1\r\nHost: b\r\nContent-Length: {len(GET)}\r\n{auth}\r\n"
        writer.write(head.encode() + GET)
        status, headers = await _read_response(reader)
        if status == 401:
            params = dict(re.findall(r'(\w+)="([^"]*)"', headers["www-authenticate"]))
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
            continue
        done += status == 200
    writer.close()
    return done


async def _throughput(hosts: list[str], port: int, *, digest: bool) -> float:
    deadline = time.perf_counter() + DURATION_S
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(
            _client_loop(hosts[i % len(hosts)], port, deadline, digest=digest)
            for i in range(CLIENTS)
        )
    )
    return sum(counts) / (time.perf_counter() - started)


async def _baseline_server() -> tuple[asyncio.Server, int]:
    body = b"x" * 1400

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1400\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _capacity(nodes: int) -> dict[str, float | str]:
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    timing = Timing(boot_time_s=1.0, request_latency_s=0.0)
    async with EmulatedFleet.start(
        nodes=nodes, base_ip="127.60.0.1", password=PASSWORD, timing=timing, ports=PORTS
    ) as fleet:
        start_s = time.perf_counter() - started
        idle = process.memory_info().rss
        for device in fleet.devices:
            _ = device.state  # materialize every device's state
        touched = process.memory_info().rss
        sample = [d.address for d in fleet.devices[:: max(1, nodes // 64)]]
        rate = await _throughput(sample, PORTS.http, digest=True)
        return {
            "nodes": nodes,
            "mode": fleet.listen_mode,
            "start_s": start_s,
            "idle_kib_per_device": (idle - before) / nodes / 1024,
            "live_kib_per_device": (touched - before) / nodes / 1024,
            "rps": rate,
        }


async def main() -> None:
    rows = [await _capacity(n) for n in (1000, 10_000)]
    server, port = await _baseline_server()
    async with server:
        baseline = await _throughput(["127.0.0.1"], port, digest=False)
    print(f"{'devices':>8} {'listen':>12} {'start s':>8} {'KiB/dev idle':>13} "
          f"{'KiB/dev live':>13} {'WS-MAN req/s':>13} {'vs bare HTTP':>13}")  # fmt: skip
    for row in rows:
        print(
            f"{row['nodes']:>8} {row['mode']:>12} {row['start_s']:>8.2f} "
            f"{row['idle_kib_per_device']:>13.2f} {row['live_kib_per_device']:>13.2f} "
            f"{row['rps']:>13.0f} {float(row['rps']) / baseline:>12.2f}x"
        )
    print(
        f"{'bare HTTP':>8} {'(peer)':>12} {'':>8} {'':>13} {'':>13} {baseline:>13.0f} {1:>12.2f}x"
    )
    print(f"({CLIENTS} keep-alive clients, {DURATION_S:.0f} s each, Digest with nc reuse;")
    print(" client and server share one process and the machine's 2 cores)")


if __name__ == "__main__":
    asyncio.run(main())
