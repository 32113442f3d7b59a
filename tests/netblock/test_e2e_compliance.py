"""End to end: compliance from evidence on the emulator behind a router namespace.

A neutralize node has every piece of evidence but one that agrees: its chip was neutralized by
``host neutralize --yes`` (flashrom's dummy programmer holding the composed link image), the
probe after the reboot shows AltMeDisable in effect, yet its AMT (the emulator in its own
namespace) still answers the controller's ``scan --record``: ``fleet status`` says drift and
``--check`` fails. After ``netblock apply`` on the router and a fresh scan, it is compliant.
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

from tests.host.neutralize_chips import TREES, link_chip, run_cli, spec
from tests.netblock.netns import RoutedNetwork
from tests.support import missing, require_tool

NODE, CTL = "10.91.2.2", "10.91.0.2"

pytestmark = [pytest.mark.system, pytest.mark.slow]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[RoutedNetwork]:
    for tool in ("ip", "nft", "flashrom", "ifdtool"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the namespace end-to-end test needs root for 'ip netns' (CI runs as root)")
    net = RoutedNetwork(prefix=f"mw17-c{os.getpid() % 1000}")
    try:
        net.add_router()
        net.add_neighbour("ctl", 0)
        net.add_neighbour("neu", 2)
        ready = tmp_path / "neu.ready"
        argv = [sys.executable, "-m", "tests.netblock.node_agent", NODE, str(ready)]
        net.start("neu", argv, ready)
        yield net
    finally:
        net.close()


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def _evidence_on_the_node(tmp_path: Path) -> None:
    """The node's own part: neutralize its chip, then the probe taken after the reboot."""
    chip = link_chip(tmp_path)
    report = tmp_path / "neutralize.json"
    _ok(run_cli(
        "host", "neutralize", "-p", spec(chip), "--root", str(TREES / "me7-normal"), "--yes",
        "--backup", str(tmp_path / "backup.bin"), "--report", str(report),
    ))  # fmt: skip
    _ok(run_cli("node", "attach", "neu1", "firmware-neutralize", str(report)))
    probe = tmp_path / "probe.json"
    probe.write_text(
        _ok(run_cli("host", "probe", "--root", str(TREES / "me8-altmedisable"), "--json"))
    )
    _ok(run_cli("node", "attach", "neu1", "host-probe", str(probe)))


def _scan(net: RoutedNetwork) -> dict[str, Any]:
    out = _ok(net.mewarden("ctl", "scan", NODE, "--record", "--timeout", "0.5", "--json"))
    result: dict[str, Any] = json.loads(out)
    assert result["recorded"] == 1
    return result


def _status() -> tuple[int, dict[str, Any]]:
    done = run_cli("fleet", "status", "--check", "--json")
    assert "Traceback" not in done.stderr
    [node] = json.loads(done.stdout)["nodes"]
    return done.returncode, node


def test_answering_amt_is_drift_until_blocked_and_rescanned(
    network: RoutedNetwork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEWARDEN_DB", f"sqlite:///{tmp_path / 'org.db'}")
    monkeypatch.setenv("MEWARDEN_KEY_FILE", str(tmp_path / "org.key"))
    _ok(run_cli("org", "init"))
    _ok(run_cli("node", "add", "neu1", "--policy", "neutralize", "--amt-host", NODE))
    _ok(run_cli("netblock", "controllers", "add", CTL))
    _evidence_on_the_node(tmp_path)

    scanned = _scan(network)
    [target] = scanned["results"]
    assert {"port": 16992, "state": "open", "error": None} in target["ports"]
    code, node = _status()
    assert code == 1
    assert node["status"] == "drift"
    assert any("16992" in r for r in node["reasons"])

    applied = json.loads(_ok(network.mewarden("router", "netblock", "apply", "--json")))
    assert applied["recorded"] == 1
    _scan(network)
    code, node = _status()
    assert (code, node["status"]) == (0, "compliant"), node
    reasons = " | ".join(node["reasons"])
    pieces = (
        "neutralize report verified",
        "host probe: ME hap-disabled",
        "scan: AMT ports and RMCP closed",
        "netblock: ruleset covers the node",
    )
    for piece in pieces:
        assert piece in reasons

    kinds = [e["kind"] for e in json.loads(_ok(run_cli("events", "--node", "neu1", "--json")))]
    assert kinds.count("compliance.drift") == 1
    assert kinds[-1] == "compliance.cleared"
    report = tmp_path / "report.html"
    _ok(run_cli("fleet", "report", "-o", str(report)))
    html = report.read_text()
    assert "compliant" in html
    assert "netblock-state" in html
    assert "network-scan" in html
