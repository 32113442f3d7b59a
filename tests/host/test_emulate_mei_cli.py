"""`mewarden emulate --mode pre --mei-dir` as a user runs it, and `mewarden host` commands in
other processes against its endpoints (the ACM trust options too)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mewarden.errors import BadInputError
from tests.host.mei_emulator import NEW_PASSWORD, PASSWORD


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _mewarden(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )


def test_emulator_mei_dir_end_to_end(tmp_path: Path) -> None:
    root_hash = hashlib.sha256(b"org root").hexdigest()
    ready, mei_dir = tmp_path / "ready.json", tmp_path / "mei"
    base = f"127.14.{random.randrange(1, 250)}.1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mewarden", "emulate", "--nodes", "2", "--base-ip", base,
         "--mode", "pre", "--mei-dir", str(mei_dir), "--trusted-root-hash", root_hash,
         "--pki-dns-suffix", "corp.example", "--control", str(_free_port()),
         "--ready-file", str(ready), "--state-dir", str(tmp_path / "s"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, MEWARDEN_AMT_PASSWORD=PASSWORD),
    )  # fmt: skip
    try:
        for _ in range(400):
            if ready.is_file() or proc.poll() is not None:
                break
            time.sleep(0.05)
        addresses = json.loads(ready.read_text())
        endpoint = mei_dir / f"{addresses[1]}.sock"
        info = _mewarden("host", "amt-info", "--mei", str(endpoint), "--json")
        assert info.returncode == 0, info.stderr
        facts = json.loads(info.stdout)
        assert facts["wired"]["ipv4_address"] == addresses[1]
        assert facts["dns_suffix"] == "corp.example"
        assert root_hash in {h["hash_hex"] for h in facts["cert_hashes"]}
        done = _mewarden(
            "host", "activate", "--mode", "ccm", "--mei", str(endpoint), "--lms", "off", "--json",
            MEWARDEN_AMT_PASSWORD=NEW_PASSWORD,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["after"] == "ccm"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out)["mei_dir"] == str(mei_dir)
    assert not list(mei_dir.glob("*.sock"))  # endpoints removed on exit


def test_bad_trusted_root_hash_is_one_line() -> None:
    done = _mewarden("emulate", "--trusted-root-hash", "abc", "--control", str(_free_port()))
    assert done.returncode == BadInputError.exit_code
    assert done.stderr.count("\n") == 1
    assert "not a SHA-256" in done.stderr
