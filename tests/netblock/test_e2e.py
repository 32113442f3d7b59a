"""End to end: the rendered ruleset in a router namespace, emulated AMT nodes, and ``scan``.

The router forwards between a controller, an ordinary host and four node namespaces (each runs
the AMT emulator, the host agent on 9100 and an RMCP responder). With the golden ruleset loaded
(nftables via ``netblock apply``, or the iptables form via ``iptables-restore``): the controller
reaches the use nodes' AMT ports, nobody reaches the neutralize node's, an ordinary host reaches
no use node's, and the host agent stays reachable from everywhere; likewise over IPv6 and for
outbound CIRA. Reachability is checked with plain sockets first, then ``mewarden scan`` must
report exactly that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.netblock.netns import RoutedNetwork
from tests.support import REPO_ROOT, missing, require_tool

HERE = Path(__file__).resolve().parent
FLEET = HERE / "data" / "fleet.json"
GOLDEN = HERE / "golden"
USE_A, USE_VULN, NEU_A, NEU_A_AMT_IP, IGN_A = (
    "10.91.1.2",
    "10.91.4.2",
    "10.91.2.2",
    "10.91.2.3",
    "10.91.3.2",
)
TARGETS = (USE_A, USE_VULN, NEU_A, NEU_A_AMT_IP, IGN_A)
CTL, OTHER = "10.91.0.2", "10.91.9.2"

pytestmark = [pytest.mark.system, pytest.mark.slow]

_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.5).close(); print("open")
except ConnectionRefusedError: print("closed")
except OSError: print("filtered")
"""
USE_A_V6, NEU_LAB_V6, NEU_LAB_V4 = "2001:db8:91:1::2", "2001:db8:91:5::2", "10.91.5.2"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoutedNetwork]:
    for tool in ("ip", "nft", "iptables-restore"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the namespace end-to-end test needs root for 'ip netns' (CI runs as root)")
    net = RoutedNetwork(prefix=f"mwnb{os.getpid() % 100000}")
    tmp = tmp_path_factory.mktemp("netns")
    try:
        net.add_router()
        net.add_neighbour("ctl", 0)
        net.add_neighbour("other", 9)
        net.add_neighbour("use-a", 1)
        net.add_neighbour("neu-a", 2, (NEU_A, NEU_A_AMT_IP))
        net.add_neighbour("ign-a", 3)
        net.add_neighbour("use-vuln", 4)
        net.add_neighbour("neu-lab", 5)  # inside neu-lab's 10.91.5.0/28 and 2001:db8:91:5::/64
        for role, address in (("use-a", USE_A), ("neu-a", NEU_A), ("ign-a", IGN_A)):
            _agent(net, role, address, tmp, vulnerable=False)
        _agent(net, "use-vuln", USE_VULN, tmp, vulnerable=True)
        for role, address in (
            ("use-a", USE_A_V6),
            ("neu-lab", NEU_LAB_V6),
            ("neu-lab", NEU_LAB_V4),
        ):
            ready = tmp / f"{role}-{address}.ready"  # plain AMT-port listeners, IPv6 and the lab
            argv = [sys.executable, "-m", "tests.netblock.listener", address, str(ready)]
            net.start(role, [*argv, "16992", "9100"], ready)
        for role, address in (("ctl", CTL), ("other", OTHER)):  # MPS stand-ins for CIRA
            ready = tmp / f"{role}.mps.ready"
            argv = [sys.executable, "-m", "tests.netblock.listener", address, str(ready)]
            net.start(role, [*argv, "4433", "8443"], ready)
        yield net
    finally:
        net.close()


def _agent(net: RoutedNetwork, role: str, address: str, tmp: Path, *, vulnerable: bool) -> None:
    ready = tmp / f"{role}.ready"
    argv = [sys.executable, "-m", "tests.netblock.node_agent", address, str(ready)]
    net.start(role, [*argv, "--vulnerable"] if vulnerable else argv, ready)


def _reset_router(net: RoutedNetwork) -> None:
    net.exec("router", "nft", "flush", "ruleset")


def _reach(net: RoutedNetwork, role: str, address: str, port: int) -> str:
    return net.exec(role, sys.executable, "-c", _PROBE, address, str(port)).stdout.strip()


def _scan(net: RoutedNetwork, role: str) -> dict[str, dict[str, Any]]:
    vantage = "controller" if role == "ctl" else "outside"
    result = net.mewarden(
        role,
        "scan",
        *TARGETS,
        "--inventory",
        str(FLEET),
        "--timeout",
        "0.5",
        "--json",
        "--vantage",
        vantage,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return {r["address"]: r for r in json.loads(result.stdout)["results"]}


def _open_ports(report: dict[str, Any]) -> set[int]:
    return {p["port"] for p in report["ports"] if p["state"] == "open"}


def _load(net: RoutedNetwork, backend: str) -> None:
    _reset_router(net)
    if backend == "nftables":
        result = net.mewarden("router", "netblock", "apply", "--inventory", str(FLEET))
        assert result.returncode == 0, result.stderr
        diff = net.mewarden("router", "netblock", "diff", "--inventory", str(FLEET), "--json")
        assert diff.returncode == 0, diff.stderr
        assert json.loads(diff.stdout)["changed"] is False
    else:
        net.exec("router", "iptables-restore", str(GOLDEN / "fleet.iptables"))


def test_without_ruleset_everything_is_reachable_and_scan_flags_the_neutralize_node(
    network: RoutedNetwork,
) -> None:
    _reset_router(network)
    assert _reach(network, "other", NEU_A, 16992) == "open"
    # Routing alone lets everything through, IPv6 included: any "filtered" later is the ruleset.
    assert _reach(network, "other", USE_A_V6, 16992) == "open"
    assert _reach(network, "other", NEU_LAB_V6, 16992) == "open"
    assert _reach(network, "other", NEU_LAB_V4, 16992) == "open"
    reports = _scan(network, "ctl")
    assert {16992, 16994} <= _open_ports(reports[NEU_A])
    assert reports[NEU_A]["rmcp"] is True
    assert any("16992" in f and "neutralize" in f for f in reports[NEU_A]["findings"])
    assert reports[USE_A]["findings"] == []  # a controller may reach a use node
    outside = _scan(network, "other")
    assert (
        "AMT port 16992/tcp open on a use node, to a non-controller" in outside[USE_A]["findings"]
    )
    assert outside[IGN_A]["findings"] == []


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_ruleset_blocks_amt_as_the_policy_says(network: RoutedNetwork, backend: str) -> None:
    _load(network, backend)
    # Plain sockets first: the firewall itself does what the policy says.
    assert _reach(network, "ctl", USE_A, 16992) == "open"
    assert _reach(network, "ctl", NEU_A, 16992) == "filtered"
    assert _reach(network, "other", USE_A, 16992) == "filtered"
    assert _reach(network, "other", IGN_A, 16992) == "open"
    for role in ("ctl", "other"):
        for address in (USE_A, NEU_A, IGN_A):
            assert _reach(network, role, address, 9100) == "open", (role, address)
    # Outbound CIRA (MPS ports 4433 and the configured 8443): only use nodes, only to controllers.
    for port in (4433, 8443):
        assert _reach(network, "use-a", CTL, port) == "open"
        assert _reach(network, "use-a", OTHER, port) == "filtered"
        assert _reach(network, "neu-a", CTL, port) == "filtered"
        assert _reach(network, "ign-a", OTHER, port) == "open"

    from_ctl = _scan(network, "ctl")
    assert _open_ports(from_ctl[USE_A]) == {16992, 16994}  # the emulator has no TLS or 5900
    assert from_ctl[USE_A]["rmcp"] is True
    assert from_ctl[USE_A]["cve_2017_5689"] == "not-vulnerable"
    assert from_ctl[USE_A]["server"].startswith("Intel(R) Active Management Technology")
    assert from_ctl[USE_A]["findings"] == []
    for address in (NEU_A, NEU_A_AMT_IP):
        assert {p["state"] for p in from_ctl[address]["ports"]} == {"filtered"}, address
        assert from_ctl[address]["rmcp"] is False
        assert from_ctl[address]["findings"] == []
    assert from_ctl[NEU_A]["agent"] == "open"
    assert from_ctl[USE_VULN]["cve_2017_5689"] == "vulnerable"
    assert from_ctl[USE_VULN]["findings"] == [
        "AMT accepts an empty Digest response (CVE-2017-5689)"
    ]
    assert _open_ports(from_ctl[IGN_A]) == {16992, 16994}
    assert from_ctl[IGN_A]["policy"] == "ignore"

    from_other = _scan(network, "other")
    for address in (USE_A, USE_VULN, NEU_A):
        assert {p["state"] for p in from_other[address]["ports"]} == {"filtered"}, address
        assert from_other[address]["rmcp"] is False
        assert from_other[address]["agent"] == "open"
    assert _open_ports(from_other[IGN_A]) == {16992, 16994}
    assert all(from_other[a]["findings"] == [] for a in (USE_A, NEU_A, IGN_A))


@pytest.mark.parametrize("backend", ["nftables", "ip6tables"])
def test_ipv6_and_network_entries_are_enforced(network: RoutedNetwork, backend: str) -> None:
    _reset_router(network)
    if backend == "nftables":
        _load(network, "nftables")
    else:
        network.exec("router", "ip6tables-restore", str(GOLDEN / "fleet.ip6tables"))
    assert _reach(network, "ctl", USE_A_V6, 16992) == "open"
    assert _reach(network, "other", USE_A_V6, 16992) == "filtered"
    assert _reach(network, "ctl", NEU_LAB_V6, 16992) == "filtered"
    for role in ("ctl", "other"):
        assert _reach(network, role, USE_A_V6, 9100) == "open"
        assert _reach(network, role, NEU_LAB_V6, 9100) == "open"
    if backend == "nftables":  # the IPv4 /28 of the same node (the ip6tables file is IPv6 only)
        assert _reach(network, "ctl", NEU_LAB_V4, 16992) == "filtered"
        assert _reach(network, "other", NEU_LAB_V4, 9100) == "open"


def test_scan_table_output_names_findings(network: RoutedNetwork) -> None:
    _load(network, "nftables")
    result = network.mewarden(
        "ctl", "scan", USE_VULN, "--inventory", str(FLEET), "--timeout", "0.5"
    )
    assert result.returncode == 0, result.stderr
    assert "FINDING 10.91.4.2 (use-vuln)" in result.stdout
    assert "CVE-2017-5689" in result.stdout


def test_diff_reports_a_missing_table(network: RoutedNetwork) -> None:
    _reset_router(network)
    result = network.mewarden("router", "netblock", "diff", "--inventory", str(FLEET), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["changed"] is True
    assert "+table inet mewarden {" in report["diff"]
    assert '+\t\telements = { 10.91.1.2 comment "node use-a"' in report["diff"]


def test_node_agent_runs_with_repo_on_path() -> None:
    # Guards the helper the fixture relies on: importable without the namespace machinery.
    result = subprocess.run(
        [sys.executable, "-c", "import tests.netblock.node_agent"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
