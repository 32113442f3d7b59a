"""``mewarden emulate`` and ``mewarden emulate fault`` as a user runs them."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.emulate.helpers import AMT, PASSWORD, get


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> list[str]:
    for _ in range(200):
        if path.is_file():
            return list(json.loads(path.read_text()))
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError("the emulator never wrote its ready file")


def test_emulate_serves_and_takes_faults(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    control = str(random.randrange(20000, 30000))
    base = f"127.{random.randrange(100, 250)}.{random.randrange(0, 255)}.1"
    env = dict(os.environ, MEWARDEN_AMT_PASSWORD=PASSWORD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mewarden", "emulate", "--nodes", "3", "--base-ip", base,
         "--control", control, "--ready-file", str(ready), "--state-dir", str(tmp_path / "s"),
         "--boot-time", "0.2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        addresses = _wait_for(ready, proc)
        assert len(addresses) == 3
        assert addresses[0] == base
        response = httpx.post(
            f"http://{addresses[2]}:16992/wsman",
            content=get(AMT + "AMT_GeneralSettings"),
            auth=httpx.DigestAuth("admin", PASSWORD),
            timeout=5,
        )
        assert response.status_code == 200
        done = _run("emulate", "fault", addresses[2], "hang-host", "--control", control, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["faults"] == ["hang-host"]
        status = httpx.get(f"http://127.0.0.1:{control}/devices/{addresses[2]}", timeout=5).json()
        assert status["host_up"] is False
        assert status["power_state"] == 2
        cleared = _run("emulate", "fault", addresses[2], "clear", "--control", control, "--json")
        assert json.loads(cleared.stdout)["faults"] == []
        bad = _run("emulate", "fault", addresses[2], "explode", "--control", control)
        assert bad.returncode == 2
        assert "unknown fault kind" in bad.stderr
        assert "Traceback" not in bad.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["nodes"] == 3
    assert PASSWORD not in out + err


def test_generated_password_goes_to_the_state_dir_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MEWARDEN_AMT_PASSWORD"}
    ready = tmp_path / "ready.json"
    control = str(random.randrange(30000, 40000))
    base = f"127.{random.randrange(100, 250)}.{random.randrange(0, 255)}.1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mewarden", "emulate", "--nodes", "1", "--base-ip", base,
         "--control", control, "--ready-file", str(ready), "--state-dir", str(tmp_path / "s")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        _wait_for(ready, proc)
        password_file = tmp_path / "s" / "admin-password"
        assert password_file.stat().st_mode & 0o777 == 0o600
        password = password_file.read_text().strip()
        response = httpx.post(
            f"http://{base}:16992/wsman",
            content=get(AMT + "AMT_GeneralSettings"),
            auth=httpx.DigestAuth("admin", password),
            timeout=5,
        )
        assert response.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert password not in out + err


def test_bad_options_are_one_line_errors() -> None:
    outside = _run("emulate", "--nodes", "2", "--base-ip", "10.0.0.1", "--control", "20999")
    assert outside.returncode == 2
    assert "127.0.0.0/8" in outside.stderr
    assert "Traceback" not in outside.stderr
    nobody = _run("emulate", "fault", "127.20.0.1", "refuse", "--control", "1")
    assert nobody.returncode == 4
    assert "Traceback" not in nobody.stderr
