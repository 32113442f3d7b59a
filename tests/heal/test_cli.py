"""`mewarden heal` as a user runs it: kill switch, status, one pass, bad settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mewarden.errors import ConfigError


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
    env["XDG_STATE_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_pause_resume_status_and_once(tmp_path: Path) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    paused = _cli(tmp_path, "heal", "pause", "--reason", "switch maintenance", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout) == {"paused": True, "changed": True}
    again = _cli(tmp_path, "heal", "pause", "--json")
    assert json.loads(again.stdout)["changed"] is False
    status = json.loads(_cli(tmp_path, "heal", "status", "--json").stdout)
    assert status["paused"]["reason"] == "switch maintenance"
    once = _cli(tmp_path, "heal", "once", "--json")
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout)["paused"] is True
    assert json.loads(_cli(tmp_path, "heal", "resume", "--json").stdout)["changed"] is True
    once = _cli(tmp_path, "heal", "once", "--json")
    assert json.loads(once.stdout) == {"paused": False, "leases": 0, "steps": []}
    events = json.loads(_cli(tmp_path, "events", "--json").stdout)
    kinds = [e["kind"] for e in events]
    assert kinds.count("heal.paused") == 1
    assert kinds.count("heal.resumed") == 1


def test_bad_settings_file_is_a_one_line_error(tmp_path: Path) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    bad = tmp_path / "s.json"
    for content in ('{"unhealthy_after_s": -1}', '{"no_such_knob": 1}', "[1]", "{"):
        bad.write_text(content)
        done = _cli(tmp_path, "heal", "once", "--settings", str(bad))
        assert done.returncode == ConfigError.exit_code, (content, done.stderr)
        assert done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr


def test_heal_without_org_is_a_one_line_error(tmp_path: Path) -> None:
    done = _cli(tmp_path, "heal", "status")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_run_stops_after_max_ticks(tmp_path: Path) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    done = _cli(tmp_path, "heal", "run", "--interval", "0.1", "--max-ticks", "2")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_operator_intent_commands_and_reset_errors(tmp_path: Path) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    added = _cli(tmp_path, "node", "add", "n1", "--policy", "use", "--amt-host", "127.0.0.9")
    assert added.returncode == 0, added.stderr
    on = _cli(tmp_path, "node", "maintenance", "n1", "on", "--json")
    assert json.loads(on.stdout) == {"node": "n1", "maintenance": True}
    off = _cli(tmp_path, "node", "power-intent", "n1", "off", "--json")
    assert json.loads(off.stdout) == {"node": "n1", "power_on": False}
    shown = json.loads(_cli(tmp_path, "node", "show", "n1", "--json").stdout)["node"]
    assert shown["maintenance"] is True
    assert shown["desired_power_on"] is False
    kinds = [e["kind"] for e in json.loads(_cli(tmp_path, "events", "--json").stdout)]
    assert {"node.maintenance", "node.power-intent"} <= set(kinds)
    bad = _cli(tmp_path, "node", "maintenance", "n1", "sometimes")
    assert bad.returncode == 2
    for node, what in (("nope", "nope"), ("n1", "no heal incident")):
        reset = _cli(tmp_path, "heal", "reset", node)
        assert reset.returncode == 10, reset.stderr
        assert what in reset.stderr
        assert len(reset.stderr.strip().splitlines()) == 1
        assert "Traceback" not in reset.stderr
