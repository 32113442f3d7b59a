"""netblock benchmark: ruleset size and load time, nftables sets vs iptables per-address rules.

For fleets of N nodes (half use, half neutralize, one address each) this renders both forms and
loads each into a throwaway ``unshare -U -r -n`` namespace (``nft -f`` vs ``iptables-restore``),
printing rules, bytes, render and load times, and the iptables/nftables ratios. The point of the
set design is that the nftables rule count does not grow with the fleet.
Run: ``.venv/bin/python bench/netblock_render.py [--nodes 100,1000,10000]``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time

from mewarden.netblock.inventory import (
    NetblockInventory,
    NetblockNode,
    NodePolicy,
    build_inventory,
)
from mewarden.netblock.render import RulesetFormat, render

# As root, skip the user namespace: only there may the tools enlarge their netlink buffers.
UNSHARE = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-U", "-r", "-n"]


def fleet(nodes: int) -> NetblockInventory:
    items = [
        NetblockNode(
            name=f"n{i}",
            policy=NodePolicy.USE if i % 2 else NodePolicy.NEUTRALIZE,
            addresses=(ipaddress.ip_network(ipaddress.IPv4Address("10.0.0.0") + i + 1),),
        )
        for i in range(nodes)
    ]
    return build_inventory(items, [ipaddress.ip_network("192.0.2.1")])


def load_seconds(tool: str, data: bytes) -> float | None:
    if shutil.which(tool) is None or shutil.which("unshare") is None:
        return None
    argv = {"nft": ["nft", "-f"], "iptables-restore": ["iptables-restore"]}[tool]
    with tempfile.NamedTemporaryFile(suffix=".rules") as handle:
        handle.write(data)
        handle.flush()
        started = time.perf_counter()
        proc = subprocess.run([*UNSHARE, *argv, handle.name], capture_output=True, check=False)
        elapsed = time.perf_counter() - started
    return elapsed if proc.returncode == 0 else None


def rule_count(fmt: RulesetFormat, data: bytes) -> int:
    lines = data.decode().splitlines()
    if fmt is RulesetFormat.NFTABLES:
        return sum(1 for line in lines if " drop comment " in line)
    return sum(1 for line in lines if line.startswith("-A "))


def row(nodes: int) -> None:
    started = time.perf_counter()
    inventory = fleet(nodes)  # includes validation (overlap sweep), shared by both forms
    built_ms = (time.perf_counter() - started) * 1000
    print(f"{nodes:>7} {'inventory':<10} {'':>7} {'':>10} {built_ms:9.1f}")
    stats: dict[str, tuple[int, int, float, float | None]] = {}
    for fmt, tool in (
        (RulesetFormat.NFTABLES, "nft"),
        (RulesetFormat.IPTABLES, "iptables-restore"),
    ):
        started = time.perf_counter()
        data = render(inventory, fmt)
        rendered = time.perf_counter() - started
        stats[fmt.value] = (rule_count(fmt, data), len(data), rendered, load_seconds(tool, data))
    nft, ipt = stats["nftables"], stats["iptables"]
    for name, (rules, size, rendered, loaded) in stats.items():
        load = f"{loaded * 1000:9.1f}" if loaded is not None else "      n/a"
        print(f"{nodes:>7} {name:<10} {rules:>7} {size:>10} {rendered * 1000:9.1f} {load}")
    if nft[3] and ipt[3]:
        print(
            f"{'':>7} {'ratio':<10} {ipt[0] / nft[0]:>7.1f} {ipt[1] / nft[1]:>10.2f} "
            f"{ipt[2] / nft[2]:>9.2f} {ipt[3] / nft[3]:>9.2f}   (iptables / nftables)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="100,1000,10000")
    args = parser.parse_args()
    print(f"{'nodes':>7} {'format':<10} {'rules':>7} {'bytes':>10} {'render ms':>9} {'load ms':>9}")
    for nodes in (int(n) for n in args.nodes.split(",")):
        row(nodes)


if __name__ == "__main__":
    main()
