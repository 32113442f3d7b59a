"""AMT fleet benchmark: power-state sweep and power-cycle across N emulated devices.

Compares, in one run and against the same devices:

* **mewarden**: :func:`mewarden.amt.fleet.run_fleet` (one digest challenge per device, then
  nonce reuse on a kept-alive connection; a global concurrency limit);
* **naive**: what MAAS-style and ``amt``-package clients do: a new connection and a 401 round
  trip for every call, one call after the other (httpx with its stock DigestAuth, a new client
  per call), for both the sweep and the power cycle (``--naive-calls`` bounds either);
* **MeshCentral**: its own ``amt-wsman-comm.js`` stack under Node (keep-alive, one request in
  flight per device), sweep and power cycle, when ``~/.cache/mewarden/npm/node_modules/meshcentral``
  is present.

Peers' rows carry mewarden's ops/s and CPU per op divided by theirs (same scenario), and the
last line says whether the issue's target (1,000 reads/s at N=1,000) was met in this run.

The devices are the emulator (``mewarden.emulate``) in a child process, so the client's CPU
time is measured on its own. Run: ``.venv/bin/python bench/amt_fleet.py --nodes 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mewarden.amt import power
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.fleet import run_fleet
from mewarden.secret import Secret
from mewarden.wsman import envelope as env
from mewarden.wsman.parse import Response, parse_response

PASSWORD = "B3nch-Passw0rd!"
MESHCENTRAL = Path.home() / ".cache/mewarden/npm/node_modules/meshcentral/amt"


@dataclass(frozen=True)
class Row:
    client: str
    scenario: str
    ops: int
    seconds: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_op(self) -> float:
        return 1000 * self.cpu_s / self.ops if self.ops else 0.0


# --- the emulated fleet, in a child process --------------------------------------------------


def _emulator_main(nodes: int, conn: Any) -> None:
    from mewarden.emulate.fleet import EmulatedFleet

    async def serve() -> None:
        async with EmulatedFleet.start(
            nodes=nodes, base_ip=None, password=PASSWORD, boot_time_s=0.05
        ) as fleet:
            conn.send([(d.address, d.http_port) for d in fleet.devices])
            while not conn.poll():
                await asyncio.sleep(0.2)

    asyncio.run(serve())


def start_emulator(nodes: int) -> tuple[Any, Any, list[tuple[str, int]]]:
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_emulator_main, args=(nodes, child), daemon=True)
    process.start()
    if not parent.poll(120):
        process.terminate()
        raise SystemExit("the emulator did not start within 120 s")
    return process, parent, parent.recv()


# --- measurements ------------------------------------------------------------------------------


def measure(client: str, scenario: str, ops: int, run: Callable[[], None]) -> Row:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return Row(client, scenario, ops, time.perf_counter() - wall, time.process_time() - cpu)


def mewarden_run(
    targets: list[tuple[str, int]],
    operation: Callable[[AmtClient], Awaitable[Any]],
    concurrency: int,
) -> None:
    endpoints = [
        Endpoint(host=h, port=p, password=Secret(PASSWORD), timeout_s=30) for h, p in targets
    ]
    results = asyncio.run(run_fleet(endpoints, operation, concurrency=concurrency))
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} devices failed, e.g. {failed[0].host}: {failed[0].error}")


def _naive_call(host: str, port: int, body: bytes) -> Response:
    """One call the naive way: a new client, so a new connection and a 401 round trip."""
    headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
    auth = httpx.DigestAuth("admin", PASSWORD)
    with httpx.Client(auth=auth, timeout=30, trust_env=False) as http:
        reply = http.post(f"http://{host}:{port}/wsman", content=body, headers=headers)
    return parse_response(reply.content)


def naive_run(targets: list[tuple[str, int]], calls: int) -> None:
    """``calls`` power-state reads, one after the other, spread over the devices."""
    body = env.get("CIM_AssociatedPowerManagementService").body
    for index in range(calls):
        host, port = targets[index % len(targets)]
        _naive_call(host, port, body)


def naive_cycle(targets: list[tuple[str, int]], devices: int) -> None:
    """A power cycle (state 5) on each of the first ``devices`` devices, one after the other."""
    state = power.PowerAction.CYCLE.power_state
    body = power.build_power_change(state).body
    for host, port in targets[:devices]:
        power.check_power_change(_naive_call(host, port, body).first, state)


MESH_SCRIPT = r"""
"use strict";
const [dir, reads, concurrency, mode] =
    [process.argv[2], +process.argv[3], +process.argv[4], process.argv[5]];
const targets = JSON.parse(require("fs").readFileSync(0, "utf8"));
const Comm = require(dir + "/amt-wsman-comm.js");
const Wsman = require(dir + "/amt-wsman.js");
const Amt = require(dir + "/amt.js");
let next = 0, done = 0, errors = 0;
const started = process.hrtime.bigint();
function device(i, left, finish) {
  if (left === 0) return finish();
  const [host, port] = targets[i];
  const stack = device.stacks[i] || (device.stacks[i] = Amt(Wsman(Comm(host, port, "admin",
      process.env.MEWARDEN_AMT_PASSWORD, 0))));
  const answered = function (s, n, r, status) {
    const ok = status === 200 && (mode !== "cycle" || r.Body.ReturnValue == 0);
    if (ok) done++; else errors++;
    device(i, left - 1, finish);
  };
  if (mode === "cycle") stack.RequestPowerStateChange(5, answered);
  else stack.Get("CIM_AssociatedPowerManagementService", answered);
}
device.stacks = {};
function worker() {
  if (next >= targets.length) return;
  const i = next++;
  device(i, reads, function () {
    if (done + errors === targets.length * reads) report(); else worker();
  });
}
function report() {
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ok: done, errors, seconds: s,
                                       cpu: (cpu.user + cpu.system) / 1e6}) + "\n");
  process.exit(0);
}
for (let k = 0; k < Math.min(concurrency, targets.length); k++) worker();
"""


def meshcentral_run(
    targets: list[tuple[str, int]], reads: int, concurrency: int, *, cycle: bool = False
) -> Row | str:
    """A sweep (``reads`` Gets per device) or one power cycle per device, through MeshCentral."""
    node = shutil.which("node")
    if node is None or not (MESHCENTRAL / "amt-wsman-comm.js").is_file():
        return f"n/a (needs node and meshcentral under {MESHCENTRAL.parent.parent})"
    calls, mode = (1, "cycle") if cycle else (reads, "read")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "sweep.js"
        script.write_text(MESH_SCRIPT)
        result = subprocess.run(
            [node, str(script), str(MESHCENTRAL), str(calls), str(concurrency), mode],
            input=json.dumps(targets),
            capture_output=True,
            text=True,
            env={**os.environ, "MEWARDEN_AMT_PASSWORD": PASSWORD},
            timeout=1800,
            check=False,
        )
    if result.returncode != 0 or not result.stdout.strip():
        return f"n/a (node failed: {result.stderr.strip()[-200:]})"
    data = json.loads(result.stdout)
    if data["errors"]:
        return f"n/a ({data['errors']} MeshCentral calls failed)"
    scenario = "power-cycle" if cycle else "power-state sweep"
    return Row("MeshCentral (node)", scenario, data["ok"], data["seconds"], data["cpu"])


# --- report ------------------------------------------------------------------------------------


TARGET_RATE = 1000.0
TARGET_NODES = 1000


def ratio(ours: float, theirs: float) -> str:
    """``ours / theirs`` as "2.5x" or "0.8x" (no "faster"/"slower" words to get wrong)."""
    return f"{ours / theirs:.1f}x" if theirs else ""


def print_table(rows: list[Row], notes: list[str]) -> None:
    """One row per client and scenario; peers get mewarden's ops/s and CPU/op over theirs."""
    ours = {r.scenario: r for r in rows if r.client.startswith("mewarden")}
    print(
        f"{'client':<28}{'scenario':<20}{'ops':>7}{'s':>8}{'ops/s':>10}{'CPU ms/op':>11}"
        f"{'ops/s mw/x':>12}{'CPU/op mw/x':>13}"
    )
    for row in rows:
        base = ours.get(row.scenario)
        peer = base is not None and row is not base
        rate = ratio(base.rate, row.rate) if peer and base else ""
        cpu = ratio(base.cpu_ms_per_op, row.cpu_ms_per_op) if peer and base else ""
        print(
            f"{row.client:<28}{row.scenario:<20}{row.ops:>7}{row.seconds:>8.2f}"
            f"{row.rate:>10.1f}{row.cpu_ms_per_op:>11.3f}{rate:>12}{cpu:>13}"
        )
    for note in notes:
        print(note)
    print(
        "(mw/x: mewarden's figure divided by that row's, same scenario; ops/s above 1x means "
        "mewarden is faster, CPU/op below 1x means mewarden uses less client CPU)"
    )


def target_line(sweep: Row, nodes: int) -> str:
    """The issue's target, stated as met or not met for this run."""
    measured = f"measured {sweep.rate:,.0f}/s"
    if nodes != TARGET_NODES:
        return (
            f"target {TARGET_RATE:,.0f} power-state reads/s at N={TARGET_NODES:,}: not assessed "
            f"(this run N={nodes:,}, {measured})"
        )
    verdict = "met" if sweep.rate >= TARGET_RATE else "not met"
    return (
        f"target {TARGET_RATE:,.0f} power-state reads/s at N={TARGET_NODES:,}: {verdict} "
        f"({measured})"
    )


def run_all(
    targets: list[tuple[str, int]], args: argparse.Namespace
) -> tuple[list[Row], list[str]]:
    """Every client and scenario against the same devices."""
    rows: list[Row] = []
    notes: list[str] = [f"emulated devices: {len(targets)} (child process)"]

    async def sweep(client: AmtClient) -> None:
        for _ in range(args.reads):
            await power.read_power(client)

    async def cycle(client: AmtClient) -> None:
        await power.change_power(client, power.PowerAction.CYCLE)

    ops = len(targets) * args.reads
    run = lambda: mewarden_run(targets, sweep, args.concurrency)  # noqa: E731
    rows.append(measure("mewarden (run_fleet)", "power-state sweep", ops, run))
    run = lambda: mewarden_run(targets, cycle, args.concurrency)  # noqa: E731
    rows.append(measure("mewarden (run_fleet)", "power-cycle", len(targets), run))
    naive = min(args.naive_calls, ops)
    run = lambda: naive_run(targets, naive)  # noqa: E731
    rows.append(measure("naive (new conn + 401)", "power-state sweep", naive, run))
    cycled = min(args.naive_calls, len(targets))
    run = lambda: naive_cycle(targets, cycled)  # noqa: E731
    rows.append(measure("naive (new conn + 401)", "power-cycle", cycled, run))
    for is_cycle in (False, True):
        mesh = meshcentral_run(targets, args.reads, args.concurrency, cycle=is_cycle)
        if isinstance(mesh, Row):
            rows.append(mesh)
        else:
            notes.append(f"MeshCentral {'power-cycle' if is_cycle else 'sweep'}: {mesh}")
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=TARGET_NODES)
    parser.add_argument("--reads", type=int, default=5, help="power-state reads per device")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--naive-calls", type=int, default=200)
    args = parser.parse_args()

    process, control, targets = start_emulator(args.nodes)
    try:
        rows, notes = run_all(targets, args)
    finally:
        control.send("stop")
        process.join(30)
    print_table(rows, notes)
    print(target_line(rows[0], len(targets)))


if __name__ == "__main__":
    main()
