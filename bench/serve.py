"""``mewarden serve`` with 10,000 nodes: node list and overview latency, event fan-out.

A real ``mewarden serve --plain-http`` process (uvicorn, one worker) on loopback, loaded by an
httpx client with a few requests in flight; the same runs on SQLite and, when its binaries are
there, on a private PostgreSQL 15 cluster. Targets: node list page p99 < 100 ms, overview page
p99 < 200 ms. The overview is cached for 2 s per replica (compliance reads every node's
documents), so its cold computation is timed separately. Fan-out: 100 SSE clients, time from
an event's commit to its arrival at every client. Peers (MeshCentral, DMT console) publish no
numbers for this; the ratio column is against the target.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mewarden.serve.identity import hash_password, mint_token
from mewarden.serve.views import compute_overview
from mewarden.state import users
from mewarden.state.db import migrate, open_engine
from mewarden.state.models import NodeSpec, Policy
from mewarden.state.store import Store

# the private PostgreSQL cluster of bench/org_state.py (a sibling script, imported by name)
sys.path.insert(0, str(Path(__file__).resolve().parent))
_org_state = importlib.import_module("org_state")
PG_BIN: Path = _org_state.PG_BIN
_start_pg = _org_state._start_pg
NODES = int(os.environ.get("BENCH_NODES", "10000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "1"))
"""Requests in flight for the latency rows (one: what a user sees); the throughput row uses 8."""
THROUGHPUT_IN_FLIGHT = 8
CLIENTS = 100
HOST = "127.18.0.1"
PASSWORD = "bench-password-1"
BIN = Path(sys.executable).parent / "mewarden"


def populate(url: str) -> tuple[Store, str]:
    engine = open_engine(url, create_dir=True)
    migrate(engine)
    store = Store(engine, actor="bench")
    for name, policy in (("rack-a", Policy.USE), ("rack-b", Policy.NEUTRALIZE), ("lab", None)):
        store.add_group(name, policy)
    groups = ["rack-a", "rack-b", "lab", None]
    specs = [
        NodeSpec(
            name=f"node{i:05d}",
            group=groups[i % 4],
            amt_host=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
        )
        for i in range(NODES)
    ]
    store.add_nodes(specs)
    users.add_user(store, "bench", "viewer", hash_password(PASSWORD))
    new = mint_token()
    users.add_token(
        store, new.token_id, new.secret_sha256, role="viewer", description="bench", expires_at=None
    )
    return store, new.text


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MEWARDEN_DB": url}
    argv = [str(BIN), "serve", "--plain-http", "--no-vault", "--listen", f"{HOST}:{port}"]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("mewarden serve did not start")


async def measure(
    client: httpx.AsyncClient, paths: list[str], in_flight: int = 0
) -> dict[str, float]:
    latencies: list[float] = []
    queue = list(paths)

    async def worker() -> None:
        while queue:
            path = queue.pop()
            started = time.perf_counter()
            answer = await client.get(path)
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: {answer.status_code}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight or IN_FLIGHT)))
    wall = time.perf_counter() - began
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / wall, "p50": q[49] * 1000, "p99": q[98] * 1000}


def node_list_paths(rng: random.Random) -> list[str]:
    pages = []
    for _ in range(REQUESTS):
        choice = rng.random()
        if choice < 0.5:
            pages.append(f"/nodes?offset={rng.randrange(0, NODES - 50)}")
        elif choice < 0.8:
            pages.append(f"/nodes?search=node0{rng.randrange(100, 999)}")
        else:
            pages.append(f"/nodes?policy=use&sort=-name&offset={rng.randrange(0, 2000)}")
    return pages


async def fan_out(base: str, token: str, store: Store) -> dict[str, float]:
    """100 SSE clients; 20 events; latency from commit to arrival at each client."""
    headers = {"authorization": f"Bearer {token}"}
    arrivals: list[float] = []
    sent: dict[str, float] = {}
    ready = asyncio.Semaphore(0)

    async def listen(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/v1/events/stream", headers=headers) as stream:
            ready.release()
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and '"bench.tick"' in line:
                    marker = line.split('"n": ', 1)[1].split("}", 1)[0]
                    arrivals.append(time.perf_counter() - sent[marker])
                    if marker == "19":
                        return

    limits = httpx.Limits(max_connections=CLIENTS + 5)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        tasks = [asyncio.create_task(listen(client)) for _ in range(CLIENTS)]
        for _ in range(CLIENTS):
            await ready.acquire()
        await asyncio.sleep(1.0)  # the hub's first poll
        for n in range(20):
            sent[str(n)] = time.perf_counter()
            await asyncio.to_thread(store.record, "bench.tick", None, n=n)
            await asyncio.sleep(0.1)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    q = statistics.quantiles(arrivals, n=100)
    return {"events": len(arrivals), "p50": q[49] * 1000, "p99": q[98] * 1000}


async def run(url: str) -> dict[str, dict[str, float]]:
    store, token = populate(url)
    started = time.perf_counter()
    compute_overview(store)
    cold = (time.perf_counter() - started) * 1000
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    server = start_server(url, port)
    base = f"http://{HOST}:{port}"
    rng = random.Random(18)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            login = await client.post("/api/v1/login", json={"user": "bench", "password": PASSWORD})
            login.raise_for_status()
            await measure(client, ["/nodes"] * 20)  # warm-up
            results = {
                "node list page (/nodes, 50 rows)": await measure(client, node_list_paths(rng)),
                "node list API (/api/v1/nodes)": await measure(
                    client,
                    [f"/api/v1/nodes?offset={rng.randrange(NODES - 50)}" for _ in range(REQUESTS)],
                ),
                "overview page (/, cached 2 s)": await measure(client, ["/"] * REQUESTS),
                f"node list page, {THROUGHPUT_IN_FLIGHT} in flight": await measure(
                    client, node_list_paths(rng), THROUGHPUT_IN_FLIGHT
                ),
            }
        results["overview computed cold (in process)"] = {
            "rps": 1000 / cold,
            "p50": cold,
            "p99": cold,
        }
        results["event fan-out to 100 SSE clients"] = await fan_out(base, token, store)
    finally:
        server.terminate()
        server.wait(10)
    return results


TARGETS = {"node list page (/nodes, 50 rows)": 100.0, "overview page (/, cached 2 s)": 200.0}


def report(engine: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\nmewarden serve on {engine}, {NODES} nodes, {IN_FLIGHT} request(s) in flight")
    print(f"{'what':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/target':>11}")
    for what, r in results.items():
        target = TARGETS.get(what)
        ratio = f"{r['p99'] / target:11.2f}" if target else f"{'-':>11}"
        rate = f"{r['rps']:8.1f}" if "rps" in r else f"{'-':>8}"
        print(f"{what:<40} {rate} {r['p50']:8.1f} {r['p99']:8.1f} {ratio}")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", asyncio.run(run(f"sqlite:///{Path(tmp) / 'org.db'}")))
    if (PG_BIN / "initdb").is_file() and os.environ.get("BENCH_SKIP_PG") != "1":
        import shutil

        root = Path(tempfile.mkdtemp(prefix="mewarden-bench-serve-pg-", dir="/tmp"))
        url, as_user = _start_pg(root)
        try:
            report("PostgreSQL 15", asyncio.run(run(url.replace("+psycopg", ""))))
        finally:
            subprocess.run(
                [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"],
                check=False,
                capture_output=True,
            )
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
