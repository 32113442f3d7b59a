"""`mewarden demo` end to end (what `make demo` runs), as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def test_demo_shows_every_rung_of_the_ladder_in_under_a_minute() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mewarden", "demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["finished"] is True
    assert elapsed < 60
    rows = {row["node"]: row for row in result["fleet"]}
    assert len(rows) == 12
    assert rows["node00"]["phase"] == "healthy"
    assert rows["node00"]["amt_power_requests"] == 2  # one cycle: off, then on
    assert rows["node00"]["boots"] == ["default"]
    # broken OS: a power cycle did not help, PXE re-installed it and the node re-enrolled
    assert rows["node01"]["boots"] == ["default", "pxe"]
    assert rows["node01"]["reenroll_count"] == 1
    assert (rows["node02"]["phase"], rows["node02"]["fault"]) == ("quarantined", "amt-unreachable")
    assert rows["node02"]["amt_power_requests"] == 0  # AMT unreachable: never a power action
    # the second broken OS: cycled, then held back by the PXE budget (never PXE-booted)
    assert rows["node03"]["boots"] == ["default"]
    assert rows["node03"]["reenroll_count"] == 0
    healthy = [f"node{i:02d}" for i in range(4, 12)]
    assert all(rows[n]["amt_power_requests"] == 0 for n in healthy)
    ladder = {row["node"]: row for row in result["ladder"]}
    assert ladder["node00"]["rungs"][0] == "power cycle"
    assert ladder["node00"]["outcome"] == "healthy"
    assert [
        r
        for r in ladder["node01"]["rungs"]
        if r in ("power cycle", "PXE re-provision", "re-enrolled")
    ] == ["power cycle", "PXE re-provision", "re-enrolled"]
    assert ladder["node02"]["rungs"] == ["quarantined (amt-unreachable)"]
    assert ladder["node03"]["rungs"][-1] == "held back (pxe-rate-limit: pxe-reprovision)"
    assert {rows[n]["policy"] for n in rows} == {"use", "neutralize", "ignore"}
    assert "firmware-neutralize" in rows["node08"]["documents"]
    # use nodes went through the real enrollment (identity read, password rotated)
    assert all("amt-identity" in rows[f"node{i:02d}"]["documents"] for i in range(8))
    kinds = {e["kind"] for e in result["audit"]}
    assert {
        "heal.power-cycle",
        "heal.pxe-reprovision",
        "heal.reenrolled",
        "heal.held-back",
        "heal.quarantined",
        "heal.resolved",
    } <= kinds
    assert result["firmware"]["verification"]["strap_set"] is True
    assert result["ruleset_lines"] > 0
