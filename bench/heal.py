"""Heal controller: detection-to-action latency, CPU and memory per node at 1,000 and 10,000 nodes.

The emulated fleet runs in a child process (so the numbers are the controller's own), on
non-standard ports so a run does not collide with tests. One controller, SQLite org, every node
probed every pass. Pass time and CPU are of back-to-back passes over all nodes; memory per node
is the RSS the controller adds over a warmed-up baseline (a throw-away controller's pass over
10 nodes paid for imports and TLS contexts), divided by the node count. Then 100 hosts (10 of
1,000) hang at once while the controller runs as deployed (a pass every 5 s, the confirmation
lane in between); the latency is from the moment each incident crossed ``unhealthy_after_s``
to its power-off being sent (``Controller.latencies``). "false" counts healthy hosts that got
an incident anyway (must be 0). Targets (issue 7): p99 under 2 s, under 10 KiB of controller
memory per node; the ratio columns are measured / target (below 1 meets it).

Usage: ``python bench/heal.py [--nodes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import structlog

from mewarden.emulate import EmulatedFleet, Ports
from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.probe import NodeIo
from mewarden.policy.settings import HealSettings
from mewarden.secret import Secret
from mewarden.state.db import migrate, open_engine
from mewarden.state.models import Lifecycle, NodeSpec, Policy
from mewarden.state.store import Store

PASSWORD = "Bench-P@ss1"
PORTS = Ports(http=46992, tls=46993, redirection=46994, agent=49100, vnc=45900)
SETTINGS = HealSettings(
    unhealthy_after_s=10.0,
    startup_grace_s=0.0,
    boot_time_s=2.0,
    actions_burst=1000,
    actions_per_s=1000.0,
    max_in_flight=1000,
)
TARGET_P99_S = 2.0
INTERVAL_S = 5.0
TARGET_BYTES_PER_NODE = 10 * 1024


def _emulator_main(nodes: int, conn: Any) -> None:
    async def serve() -> None:
        async with EmulatedFleet.start(
            nodes=nodes, base_ip=None, password=PASSWORD, boot_time_s=0.5, ports=PORTS
        ) as fleet:
            conn.send([d.address for d in fleet.devices])
            while True:
                if conn.poll():
                    message = conn.recv()
                    if message is None:
                        return
                    for address in message:
                        fleet.inject_fault(address, "hang-host")
                    conn.send("ok")
                await asyncio.sleep(0.05)

    asyncio.run(serve())


def _org(tmp: Path, addresses: list[str]) -> Store:
    engine = open_engine(f"sqlite:///{tmp / 'org.db'}", create_dir=True)
    migrate(engine)
    store = Store(engine, actor="bench")
    store.add_group("fleet", Policy.USE)
    specs = [
        NodeSpec(
            name=f"n{i:05d}",
            group="fleet",
            amt_host=a,
            amt_port=PORTS.http,
            agent_address=f"{a}:{PORTS.agent}",
        )
        for i, a in enumerate(addresses)
    ]
    store.add_nodes(specs)
    for spec in specs:
        store.set_lifecycle(spec.name, Lifecycle.ENROLLED)
    return store


async def _warm_baseline(store: Store) -> int:
    """RSS after a throw-away controller ran a pass over 10 nodes: imports, TLS contexts and
    caches are then paid for, so what the measured controller adds is per node."""
    io = NodeIo(lambda _n: Secret(PASSWORD), timeout_s=1.0)
    warm = Controller(store, io, SETTINGS, ControllerOptions(owner="warm", claims_per_tick=10))
    await warm.tick()
    await warm.close()
    return int(psutil.Process().memory_info().rss)


async def _measure(store: Store, conn: Any, addresses: list[str]) -> dict[str, float]:
    process = psutil.Process()
    rss_before = await _warm_baseline(store)
    io = NodeIo(lambda _n: Secret(PASSWORD), timeout_s=1.0)
    ctl = Controller(store, io, SETTINGS, ControllerOptions(owner="bench"))
    for _ in range(30):  # claiming 10,000 leases takes a few passes (bounded per pass)
        await ctl.tick()
        if len(ctl.leases) == len(addresses):
            break
    cpu0, wall0, ticks = time.process_time(), time.perf_counter(), 3
    for _ in range(ticks):
        await ctl.tick()
    pass_s = (time.perf_counter() - wall0) / ticks
    cpu_per_node_ms = 1000 * (time.process_time() - cpu0) / ticks / len(addresses)
    rss = process.memory_info().rss
    sick = addresses[:: max(1, len(addresses) // (len(addresses) // 100 or 1))][:100]
    conn.send(sick)
    conn.recv()
    # the controller as deployed: passes every INTERVAL_S, the confirmation lane in between
    running = asyncio.create_task(ctl.run(interval_s=INTERVAL_S))
    deadline = time.monotonic() + 300
    while len(ctl.latencies) < len(sick) and time.monotonic() < deadline and not running.done():
        await asyncio.sleep(0.1)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    sick_names = {f"n{addresses.index(a):05d}" for a in sick}
    false = sum(1 for n, r in ctl.records.items() if r.incident.number and n not in sick_names)
    await ctl.close()
    lat = sorted(ctl.latencies) or [float("nan")]
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return {
        "pass_s": pass_s,
        "cpu_ms": cpu_per_node_ms,
        "kib": (rss - rss_before) / len(addresses) / 1024,
        "rss_mib": rss / 2**20,
        "p50": statistics.median(lat),
        "p99": p99,
        "acted": len(ctl.latencies),
        "sick": len(sick),
        "false": false,
    }


def run(nodes: int) -> dict[str, float]:
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    emulator = context.Process(target=_emulator_main, args=(nodes, child), daemon=True)
    emulator.start()
    try:
        if not parent.poll(300):
            raise SystemExit("the emulator did not start within 300 s")
        addresses = parent.recv()
        with tempfile.TemporaryDirectory(prefix="mewarden-bench-heal-") as tmp:
            store = _org(Path(tmp), addresses)
            return asyncio.run(_measure(store, parent, addresses))
    finally:
        parent.send(None)
        emulator.join(10)
        if emulator.is_alive():
            emulator.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="1000,10000")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    header = (
        f"{'nodes':>6} {'pass s':>7} {'CPU ms/node/pass':>17} {'RSS MiB':>8} {'KiB/node':>9} "
        f"{'(x target)':>10} {'p50 s':>6} {'p99 s':>6} {'(x target)':>10} {'acted':>7} {'false':>5}"
    )
    print(header)
    for nodes in (int(n) for n in args.nodes.split(",")):
        r = run(nodes)
        ratio = r["kib"] * 1024 / TARGET_BYTES_PER_NODE
        memory = f"{r['rss_mib']:>8.1f} {r['kib']:>9.2f} {ratio:>10.2f}"
        latency = f"{r['p50']:>6.2f} {r['p99']:>6.2f} {r['p99'] / TARGET_P99_S:>10.2f}"
        print(
            f"{nodes:>6} {r['pass_s']:>7.2f} {r['cpu_ms']:>17.3f} {memory} {latency} "
            f"{int(r['acted']):>3}/{int(r['sick']):<3} {int(r['false']):>5}",
            flush=True,
        )
    print(f"load average during the run: {psutil.getloadavg()}")


if __name__ == "__main__":
    main()
