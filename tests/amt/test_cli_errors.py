"""Each failure is one line on stderr, a distinct exit code, no traceback, no password.

These run the real ``mewarden`` entry point in a subprocess (``python -m mewarden``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mewarden.errors import (
    AmtAuthError,
    AmtTimeoutError,
    AmtTlsHandshakeError,
    AmtUnreachableError,
    BadInputError,
    TlsPinMismatchError,
    WsmanError,
    WsmanFaultError,
)
from tests.amt.conftest import Certificate, ThreadedFake

PASSWORD = "Sup3r-Secret!"


def _mewarden(
    *args: str, password: str | None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_AMT")}
    if password is not None:
        env["MEWARDEN_AMT_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "mewarden", "amt", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        check=False,
    )


def _assert_clean(result: subprocess.CompletedProcess[str], code: int, *secrets: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


# The six failures issue 4 names, each with its own exit code (and TLS handshake failure).
EXIT_CODES = {
    "wrong password": 5,
    "unreachable host": 4,
    "TLS pin mismatch": 8,
    "TLS handshake failure": 16,
    "malformed XML": 9,
    "fault reply": 15,
    "timeout": 14,
}


def test_every_error_has_a_distinct_exit_code() -> None:
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    classes = (
        AmtAuthError,
        AmtUnreachableError,
        TlsPinMismatchError,
        AmtTlsHandshakeError,
        WsmanError,
        WsmanFaultError,
        AmtTimeoutError,
    )
    assert [c.exit_code for c in classes] == list(EXIT_CODES.values())
    # still kinds of "unreachable" for callers that catch broadly
    assert issubclass(AmtTimeoutError, AmtUnreachableError)
    assert issubclass(AmtTlsHandshakeError, AmtUnreachableError)
    assert not AmtTlsHandshakeError.retryable
    assert BadInputError.exit_code not in EXIT_CODES.values()


def test_wrong_password(threaded_amt: ThreadedFake) -> None:
    result = _mewarden(
        "--host", f"127.0.0.1:{threaded_amt.port}", "power", "status", password=PASSWORD
    )
    _assert_clean(result, EXIT_CODES["wrong password"], PASSWORD)
    assert "rejected user 'admin'" in result.stderr


def test_unreachable_host() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _mewarden("--host", f"127.0.0.1:{port}", "info", password=PASSWORD)
    _assert_clean(result, EXIT_CODES["unreachable host"], PASSWORD)
    assert "cannot connect" in result.stderr


def test_tls_pin_mismatch(threaded_amt_tls: ThreadedFake) -> None:
    password = threaded_amt_tls.fake.password
    args = ("--host", f"127.0.0.1:{threaded_amt_tls.port}", "--tls", "--pin", "00" * 32)
    result = _mewarden(*args, "power", "status", password=password)
    _assert_clean(result, EXIT_CODES["TLS pin mismatch"], password)
    assert not threaded_amt_tls.fake.seen


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A port that answers anything (a TLS ClientHello too) with a plain HTTP 400, then closes."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.settimeout(30)

        def serve() -> None:
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield int(server.getsockname()[1])
    thread.join(timeout=5)


def test_tls_handshake_failure(plain_http_port: int) -> None:
    """TLS to a port that speaks plain HTTP: the handshake fails, which is not "unreachable"."""
    args = ("--host", f"127.0.0.1:{plain_http_port}", "--tls", "power", "status")
    result = _mewarden(*args, password=PASSWORD)
    _assert_clean(result, EXIT_CODES["TLS handshake failure"], PASSWORD)
    assert "TLS handshake" in result.stderr
    assert "--legacy-ciphers" in result.stderr


def test_tls_first_use_prints_the_pin(
    threaded_amt_tls: ThreadedFake, certificate: Certificate
) -> None:
    password = threaded_amt_tls.fake.password
    args = ("--host", f"127.0.0.1:{threaded_amt_tls.port}", "--tls", "power", "status", "--json")
    result = _mewarden(*args, password=password)
    assert result.returncode == 0, result.stderr
    assert certificate.sha256 in result.stderr
    pinned = _mewarden(*args[:3], "--pin", certificate.sha256, *args[3:], password=password)
    assert pinned.returncode == 0, pinned.stderr


def test_malformed_reply(threaded_amt: ThreadedFake) -> None:
    threaded_amt.fake.malformed.add("Get")
    args = ("--host", f"127.0.0.1:{threaded_amt.port}", "get", "AMT_GeneralSettings")
    result = _mewarden(*args, password=threaded_amt.fake.password)
    _assert_clean(result, EXIT_CODES["malformed XML"])


def test_fault_reply(threaded_amt: ThreadedFake) -> None:
    threaded_amt.fake.faults["Get"] = ("b:DestinationUnreachable", "No route can be determined.")
    args = ("--host", f"127.0.0.1:{threaded_amt.port}", "get", "AMT_GeneralSettings")
    result = _mewarden(*args, password=threaded_amt.fake.password)
    _assert_clean(result, EXIT_CODES["fault reply"])
    assert "No route can be determined." in result.stderr


def test_timeout(threaded_amt: ThreadedFake) -> None:
    threaded_amt.fake.delay_s = 2.0
    args = ("--host", f"127.0.0.1:{threaded_amt.port}", "--timeout", "0.3", "power", "off")
    result = _mewarden(*args, password=threaded_amt.fake.password)
    _assert_clean(result, EXIT_CODES["timeout"])
    assert "did not answer" in result.stderr


def test_no_password_anywhere() -> None:
    result = _mewarden("--host", "127.0.0.1", "info", password=None)
    _assert_clean(result, BadInputError.exit_code)
    assert "MEWARDEN_AMT_PASSWORD" in result.stderr


def test_password_file(threaded_amt: ThreadedFake, tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(threaded_amt.fake.password + "\n")
    args = ("--host", f"127.0.0.1:{threaded_amt.port}", "--password-file", str(secret_file))
    result = _mewarden(*args, "power", "status", "--json", password=None)
    assert result.returncode == 0, result.stderr
    assert threaded_amt.fake.password not in result.stdout


@pytest.mark.parametrize("option", ["--password", "-p"])
def test_no_password_option_exists(option: str) -> None:
    result = _mewarden(option, "x", "--host", "h", "info", password=None)
    assert result.returncode == 2
    assert "No such option" in result.stderr
