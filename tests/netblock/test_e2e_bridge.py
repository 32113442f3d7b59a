"""End to end on one L2 segment: the bridge table (MAC-aimed) on a transparent bridge.

A router never sees traffic between hosts of the same segment; a bridge does. Here every
namespace hangs off ``br0`` in a bridge namespace that loads the rendered ruleset with
``netblock apply``. The controller reaches the use node's AMT, the ordinary host does not,
nobody reaches the neutralize node's AMT, and the host agent (9100) of every node, the
neutralize node included, stays reachable: MACs only aim the port rules, since AMT shares the
host's MAC.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netblock.netns import RoutedNetwork
from tests.support import missing, require_tool

SEGMENT = Path(__file__).resolve().parent / "data" / "segment.json"
CTL, OTHER, USE, NEU, IGN = "10.93.0.2", "10.93.0.9", "10.93.0.11", "10.93.0.12", "10.93.0.13"

pytestmark = [pytest.mark.system, pytest.mark.slow]


@pytest.fixture(scope="module")
def segment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoutedNetwork]:
    for tool in ("ip", "nft"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the bridge end-to-end test needs root for 'ip netns' (CI runs as root)")
    net = RoutedNetwork(prefix=f"mwbr{os.getpid() % 100000}")
    tmp = tmp_path_factory.mktemp("segment")
    try:
        net.add_bridge()
        net.add_segment_member("ctl", 2, CTL, "02:93:00:00:00:02")
        net.add_segment_member("other", 9, OTHER, "02:93:00:00:00:09")
        for port, (role, address) in enumerate((("use", USE), ("neu", NEU), ("ign", IGN)), 11):
            net.add_segment_member(role, port, address, f"02:93:00:00:00:{port}")
            ready = tmp / f"{role}.ready"
            argv = [sys.executable, "-m", "tests.netblock.node_agent", address, str(ready)]
            net.start(role, argv, ready)
        result = net.mewarden("bridge", "netblock", "apply", "--inventory", str(SEGMENT))
        assert result.returncode == 0, result.stderr
        yield net
    finally:
        net.close()


def _scan(net: RoutedNetwork, role: str) -> dict[str, dict[str, object]]:
    result = net.mewarden(
        role, "scan", USE, NEU, IGN, "--inventory", str(SEGMENT), "--timeout", "0.5", "--json"
    )
    assert result.returncode == 0, result.stderr
    return {r["address"]: r for r in json.loads(result.stdout)["results"]}


def _states(report: dict[str, object]) -> dict[int, str]:
    ports = report["ports"]
    assert isinstance(ports, list)
    return {p["port"]: p["state"] for p in ports}


def test_bridge_table_blocks_same_segment_amt(segment: RoutedNetwork) -> None:
    from_ctl = _scan(segment, "ctl")
    assert _states(from_ctl[USE])[16992] == "open"
    assert from_ctl[USE]["rmcp"] is True
    assert set(_states(from_ctl[NEU]).values()) == {"filtered"}
    assert from_ctl[NEU]["rmcp"] is False
    assert _states(from_ctl[IGN])[16992] == "open"

    from_other = _scan(segment, "other")
    assert set(_states(from_other[USE]).values()) == {"filtered"}
    assert from_other[USE]["rmcp"] is False
    assert _states(from_other[IGN])[16992] == "open"
    for report in (*from_ctl.values(), *from_other.values()):
        assert report["agent"] == "open", report["address"]
        assert report["findings"] == [], report["address"]


def _dropped(net: RoutedNetwork, comment: str) -> int:
    """Packets counted by the bridge table's rules whose comment contains ``comment``."""
    listing = net.exec("bridge", "nft", "-j", "list", "table", "bridge", "mewarden").stdout
    dropped = 0
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule")
        if rule and comment in rule.get("comment", ""):
            dropped += next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    return dropped


def test_drop_counters_show_the_evidence(segment: RoutedNetwork) -> None:
    assert _dropped(segment, "neutralize mac: AMT TCP to node") > 0


def test_bridge_port_scope_matches_frames_entering_on_that_port(segment: RoutedNetwork) -> None:
    # Last in the file: it reloads the table (resetting the counters read above).
    ctl_port = f"sg2{segment.prefix[-4:]}o"
    apply = ("bridge", "netblock", "apply", "--inventory", str(SEGMENT))
    try:
        result = segment.mewarden(*apply, "--bridge-port", ctl_port)
        assert result.returncode == 0, result.stderr
        # Counters, not reachability: the router-style inet table may see bridged frames too
        # (br_netfilter). Frames entering on another port never match the scoped rules ...
        _scan(segment, "other")
        assert _dropped(segment, "neutralize mac: AMT TCP to node") == 0
        # ... frames entering on the controller's port do.
        assert set(_states(_scan(segment, "ctl")[NEU]).values()) == {"filtered"}
        assert _dropped(segment, "neutralize mac: AMT TCP to node") > 0
        bridge = segment.mewarden(*apply, "--bridge-port", "br0")
        assert bridge.returncode == 2
        assert "br0 is a bridge; give one of its ports" in bridge.stderr
        assert ctl_port in bridge.stderr
    finally:
        assert segment.mewarden(*apply).returncode == 0
