"""`mewarden heal` as a user runs it: kill switch, status, one pass, bad settings."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mewarden.errors import BadInputError, ConfigError
from mewarden.heal import heartbeat
from mewarden.state import heal_store
from mewarden.state.db import open_engine
from mewarden.state.models import Lifecycle
from mewarden.state.store import Store


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
    checked = _cli(tmp_path, "heal", "once", "--check-amt", "--json")
    assert checked.returncode == 0, checked.stderr
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


def test_interval_not_shorter_than_the_lease_ttl_is_bad_input(tmp_path: Path) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    done = _cli(tmp_path, "heal", "run", "--interval", "30", "--lease-ttl", "30")
    assert done.returncode == BadInputError.exit_code, done.stderr
    assert "--lease-ttl" in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_sigterm_stops_run_and_releases_the_leases(tmp_path: Path) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    added = _cli(tmp_path, "node", "add", "n1", "--policy", "use", "--amt-host", "127.0.0.9")
    assert added.returncode == 0, added.stderr
    store = Store(open_engine(f"sqlite:///{tmp_path / 'mewarden' / 'org.db'}"), actor="test")
    store.set_lifecycle("n1", Lifecycle.ENROLLED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    argv = [
        sys.executable,
        "-m",
        "mewarden",
        "heal",
        "run",
        "--interval",
        "0.2",
        "--timeout",
        "0.2",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while store.node("n1").lease_owner is None:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "heal run never took the lease"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert store.node("n1").lease_owner is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_heartbeat_key_file_and_heal_run_receiver(tmp_path: Path) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    added = _cli(tmp_path, "node", "add", "n1", "--policy", "use", "--amt-host", "127.0.0.9")
    assert added.returncode == 0, added.stderr
    key_path = tmp_path / "n1.heartbeat"
    made = _cli(tmp_path, "heal", "heartbeat-key", "n1", "-o", str(key_path), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == {"node": "n1", "file": str(key_path), "purpose": "heartbeat"}
    assert key_path.stat().st_mode & 0o777 == 0o600
    node, key = heartbeat.key_from_file_text(key_path.read_text())
    assert node == "n1"
    assert key.hex() not in made.stdout + made.stderr
    unknown = _cli(tmp_path, "heal", "heartbeat-key", "nope", "-o", str(tmp_path / "nope.key"))
    assert unknown.returncode != 0
    assert unknown.stderr.count("\n") == 1
    assert not (tmp_path / "nope.key").exists()
    bad = _cli(tmp_path, "heal", "run", "--heartbeat-listen", "nowhere")
    assert bad.returncode == BadInputError.exit_code, bad.stderr
    assert bad.stderr.count("\n") == 1

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    argv = [sys.executable, "-m", "mewarden", "heal", "run", "--interval", "0.5"]
    argv += ["--timeout", "0.2", "--heartbeat-listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/heartbeat"
    body, sig = heartbeat.encode("n1", 1, key)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the receiver never listened"
            try:
                first = httpx.post(url, content=body, headers={"X-Mewarden-Signature": sig})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        again = httpx.post(url, content=body, headers={"X-Mewarden-Signature": sig})
        other, other_sig = heartbeat.encode("n1", 2, bytes(32))
        forged = httpx.post(url, content=other, headers={"X-Mewarden-Signature": other_sig})
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [first.status_code, again.status_code, forged.status_code] == [204, 409, 401]
    assert proc.returncode == 0, err
    store = Store(open_engine(f"sqlite:///{tmp_path / 'mewarden' / 'org.db'}"), actor="test")
    assert heal_store.stale_heartbeats(store, before=time.time() + 1) == {"n1"}
