"""``mewarden user``, ``mewarden token`` and ``mewarden serve`` as a user runs them."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mewarden.cli.main import cli
from mewarden.state import users
from mewarden.state.db import open_engine
from mewarden.state.store import Store
from tests.serve.org import free_port
from tests.support import run_mewarden


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "MEWARDEN_DB": str(tmp_path / "org.db"),
        "MEWARDEN_KEY_FILE": str(tmp_path / "org.key"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MEWARDEN_USER_PASSWORD", raising=False)
    result = CliRunner().invoke(cli, ["org", "init"])
    assert result.exit_code == 0, result.output
    return values


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_users_and_tokens(env: dict[str, str], tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("first-password-1\n")
    _run("user", "add", "ada", "--role", "admin", "--password-file", str(secret))
    listed = json.loads(_run("user", "list", "--json"))
    assert listed[0]["user"] == "ada"
    assert listed[0]["role"] == "admin"
    assert "first-password" not in _run("user", "list", "--json")
    store = Store(open_engine(f"sqlite:///{env['MEWARDEN_DB']}"))
    before = users.user(store, "ada")
    assert before is not None
    assert before.password_hash.startswith("$argon2id$")
    secret.write_text("second-password-2\n")
    _run("user", "passwd", "ada", "--password-file", str(secret))
    after = users.user(store, "ada")
    assert after is not None
    assert after.password_hash != before.password_hash

    created = json.loads(_run("token", "create", "--role", "viewer", "--expires", "12h", "--json"))
    assert created["token"].startswith(f"mwt_{created['id']}.")
    tokens = json.loads(_run("token", "list", "--json"))
    assert [t["id"] for t in tokens] == [created["id"]]
    assert created["token"].split(".")[1] not in json.dumps(tokens)
    _run("token", "revoke", created["id"])
    assert json.loads(_run("token", "list", "--json"))[0]["revoked_at"]
    _run("user", "remove", "ada")
    assert users.users(store) == []


def test_bad_input_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    short = tmp_path / "pw"
    short.write_text("short\n")
    weak = run_mewarden("user", "add", "bob", "--role", "viewer", "--password-file", str(short))
    assert weak.returncode == 2
    assert (
        weak.stderr.strip() == "mewarden: error: the password must be at least 10 characters long"
    )
    expiry = run_mewarden("token", "create", "--role", "viewer", "--expires", "soon")
    assert expiry.returncode == 2
    exposed = run_mewarden("serve", "--listen", "0.0.0.0:8443", "--plain-http", "--no-vault")
    assert exposed.returncode == 2
    assert "loopback" in exposed.stderr


def test_serve_over_tls_prints_the_certificate_fingerprint(env: dict[str, str]) -> None:
    port = free_port("127.18.0.1")
    argv = [
        sys.executable,
        "-m",
        "mewarden",
        "serve",
        "--no-vault",
        "--listen",
        f"127.18.0.1:{port}",
    ]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("mewarden: TLS certificate SHA-256 ")
        printed = line.split()[-1]
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"https://127.18.0.1:{port}/healthz", verify=False, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert answer.json()["ok"] is True
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        pem = ssl.get_server_certificate(("127.18.0.1", port))
        der = ssl.PEM_cert_to_DER_cert(pem)
        assert hashlib.sha256(der).hexdigest() == printed.replace(":", "").lower()
        key = Path(env["XDG_STATE_HOME"]) / "mewarden" / "serve-key.pem"
        assert key.stat().st_mode & 0o777 == 0o600
    finally:
        proc.terminate()
        proc.wait(10)
