"""``fleet status`` from evidence through the CLI: ``scan --record`` on loopback, drift events,
``--check``, the Prometheus textfile, ``fleet evidence-max-age`` and ``fleet report``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.state.clihelp import Cli, host_probe

NODE_IP = "127.17.0.5"  # this helper's loopback range


@contextmanager
def _amt_listener(address: str) -> Iterator[None]:
    """Something answering on 16992, as an AMT that was never neutralized would."""
    server = socket.create_server((address, 16992))
    try:
        yield
    finally:
        server.close()


def _neutralized_node(cli: Cli, tmp_path: Path, name: str = "n1") -> None:
    cli("org", "init")
    cli("node", "add", name, "--policy", "neutralize", "--amt-host", NODE_IP)
    report = tmp_path / "neutralize.json"
    body = {
        "kind": "host-neutralize",
        "outcome": "written",
        "observed_at": "2026-01-01T00:00:00+00:00",
        "verification": {"strap_set": True, "chip_readback": True},
        "neutralize": {
            "before": {"me_version": "8.0.20.1513"},
            "after": {"me_version": "8.0.20.1513"},
        },
    }
    report.write_text(json.dumps(body))
    cli("node", "attach", name, "firmware-neutralize", str(report))
    probe = tmp_path / "probe.json"
    probe.write_text(host_probe("me8-altmedisable"))
    cli("node", "attach", name, "host-probe", str(probe))


def _scan(cli: Cli) -> None:
    result = cli.json("scan", NODE_IP, "--record", "--timeout", "0.3")
    assert result["recorded"] == 1


def test_drift_is_an_event_a_gauge_and_a_failing_check(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    _neutralized_node(cli, tmp_path)
    with _amt_listener(NODE_IP):
        _scan(cli)
    metrics = tmp_path / "compliance.prom"
    done = cli("fleet", "status", "--check", "--metrics-file", str(metrics), code=1)
    assert "1 node(s) drift" in done.stderr
    assert "scan (" in done.stdout
    assert "16992 open" in done.stdout
    assert 'mewarden_fleet_compliance_nodes{state="drift"} 1.0' in metrics.read_text()
    cli("fleet", "status", code=0)  # without --check, a report is not a failure
    events = [e for e in cli.json("events", "--node", "n1") if e["kind"].startswith("compliance.")]
    assert [e["kind"] for e in events] == ["compliance.drift"]  # not repeated by a second run
    assert "16992 open" in events[0]["detail"]["reasons"][0]

    _scan(cli)  # AMT closed now
    status = cli.json("fleet", "status", "--check")
    assert status["summary"]["unknown"] == 1
    assert status["nodes"][0]["reasons"] == [
        "no netblock state (netblock apply/diff from org state)"
    ]
    kinds = [e["kind"] for e in cli.json("events", "--node", "n1")]
    assert kinds[-1] == "compliance.cleared"
    shown = cli.json("node", "show", "n1")
    assert shown["status"] == "unknown"
    assert [d["kind"] for d in shown["documents"]].count("network-scan") == 2


def test_evidence_max_age_setting(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    _neutralized_node(cli, tmp_path)
    assert cli.json("fleet", "evidence-max-age") == {"max_evidence_age_s": 7 * 86400}
    assert cli.json("fleet", "evidence-max-age", "90m") == {"max_evidence_age_s": 5400}
    done = cli("fleet", "evidence-max-age", "soon", code=2)
    assert "not a duration" in done.stderr
    _scan(cli)
    cli.json("fleet", "evidence-max-age", "1s")

    time.sleep(1.2)
    reasons = cli.json("fleet", "status")["nodes"][0]["reasons"]
    assert any("host probe: ME hap-disabled is stale" in r for r in reasons)
    assert any("scan: AMT ports and RMCP closed is stale" in r for r in reasons)


def test_fleet_report_is_escaped_and_self_contained(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    evil = "<script>alert(1)</script>"
    _neutralized_node(cli, tmp_path, name=evil)
    out = tmp_path / "report.html"
    cli("fleet", "report", "-o", str(out))
    html = out.read_text()
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    for external in ("src=", 'href="http', "@import", "url("):
        assert external not in html
    assert "8.0.20.1513" in html  # firmware before and after
    assert "firmware-neutralize" in html
    assert "host-probe" in html
    data = cli.json("fleet", "report")
    [node] = data["nodes"]
    assert node["node"] == evil
    assert node["verdict"] == "unknown"
    assert {e["kind"] for e in node["evidence"]} == {"firmware-neutralize", "host-probe"}
    assert all(len(e["sha256"]) == 64 for e in node["evidence"])
    done = cli("fleet", "report", code=2)
    assert "-o FILE" in done.stderr
