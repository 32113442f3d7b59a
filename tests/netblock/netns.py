"""A throwaway routed test network made of ``ip netns`` namespaces and veth pairs.

Topology: a router namespace with one /24 per neighbour (router .1, neighbour .2 unless the
neighbour lists its own addresses); every neighbour's default route points at the router.
Everything is torn down by :meth:`RoutedNetwork.close`, including processes started in it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import REPO_ROOT


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure carries its stderr in the assertion message."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return result


@dataclass(slots=True, kw_only=True)
class RoutedNetwork:
    """Namespaces named ``<prefix>-<role>``; ``subnets`` maps role to its 10.91.N.0/24."""

    prefix: str
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def add_router(self) -> None:
        self._add_ns("router")
        # /proc/sys/net is per network namespace; no dependency on procps' sysctl.
        self.exec("router", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        self.exec("router", "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")

    def add_neighbour(self, role: str, subnet: int, addresses: tuple[str, ...] = ()) -> None:
        """A namespace on 10.91.<subnet>.0/24 (plus extra /24 host addresses) behind the router."""
        self._add_ns(role)
        inner, outer = f"nb{subnet}{self.prefix[-4:]}i", f"nb{subnet}{self.prefix[-4:]}o"
        sh(
            "ip",
            "link",
            "add",
            inner,
            "netns",
            self.ns(role),
            "type",
            "veth",
            "peer",
            "name",
            outer,
            "netns",
            self.ns("router"),
        )
        self.exec("router", "ip", "addr", "add", f"10.91.{subnet}.1/24", "dev", outer)
        self.exec("router", "ip", "link", "set", outer, "up")
        for address in addresses or (f"10.91.{subnet}.2",):
            self.exec(role, "ip", "addr", "add", f"{address}/24", "dev", inner)
        self.exec(role, "ip", "link", "set", inner, "up")
        self.exec(role, "ip", "link", "set", "lo", "up")
        self.exec(role, "ip", "route", "add", "default", "via", f"10.91.{subnet}.1")
        # IPv6 too: 2001:db8:91:<subnet>::/64, router ::1, node ::2 (no DAD: ready at once).
        v6 = f"2001:db8:91:{subnet:x}::"
        self.exec("router", "ip", "-6", "addr", "add", f"{v6}1/64", "dev", outer, "nodad")
        self.exec(role, "ip", "-6", "addr", "add", f"{v6}2/64", "dev", inner, "nodad")
        self.exec(role, "ip", "-6", "route", "add", "default", "via", f"{v6}1")

    def add_bridge(self) -> None:
        """A namespace ``bridge`` holding bridge ``br0`` (a transparent L2 segment)."""
        self._add_ns("bridge")
        self.exec("bridge", "ip", "link", "add", "br0", "type", "bridge")
        self.exec("bridge", "ip", "link", "set", "br0", "up")

    def add_segment_member(self, role: str, port: int, address: str, mac: str) -> None:
        """A namespace on the bridge's segment 10.93.0.0/24 with a fixed MAC."""
        self._add_ns(role)
        inner, outer = f"sg{port}{self.prefix[-4:]}i", f"sg{port}{self.prefix[-4:]}o"
        sh(
            "ip",
            "link",
            "add",
            inner,
            "netns",
            self.ns(role),
            "address",
            mac,
            "type",
            "veth",
            "peer",
            "name",
            outer,
            "netns",
            self.ns("bridge"),
        )
        self.exec("bridge", "ip", "link", "set", outer, "master", "br0")
        self.exec("bridge", "ip", "link", "set", outer, "up")
        self.exec(role, "ip", "addr", "add", f"{address}/24", "dev", inner)
        self.exec(role, "ip", "link", "set", inner, "up")

    def _add_ns(self, role: str) -> None:
        sh("ip", "netns", "add", self.ns(role))
        self.namespaces.append(self.ns(role))
        # No duplicate address detection on links created later in this namespace: `nodad`
        # covers only the global addresses, and a link-local address still tentative makes
        # neighbour discovery (and so the first IPv6 connection) stall for about a second.
        for scope in ("default", "all"):
            self.exec(role, "sysctl", "-qw", f"net.ipv6.conf.{scope}.accept_dad=0")
        self.exec(role, "ip", "link", "set", "lo", "up")

    def exec(self, role: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns(role), *argv, check=check)

    def mewarden(self, role: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the CLI inside a namespace (exit code is the caller's to check)."""
        return self.exec(role, sys.executable, "-m", "mewarden", *args, check=False)

    def start(self, role: str, argv: list[str], ready: Path) -> None:
        """Start a long-running process in a namespace and wait (bounded) for its ready file."""
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(role), *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(proc)
        for _ in range(300):
            if ready.exists():
                return
            if proc.poll() is not None:
                raise AssertionError(
                    f"{role} agent exited: {proc.stderr.read() if proc.stderr else ''!r}"
                )
            time.sleep(0.05)
        raise AssertionError(f"{role} agent not ready after 15 s")

    def close(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stderr:
                proc.stderr.close()
        for name in reversed(self.namespaces):
            sh("ip", "netns", "delete", name, check=False)
