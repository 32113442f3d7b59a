"""``mewarden host agent`` as a node's service manager runs it: exits, one-line errors, signals.

Subprocesses of ``python -m mewarden``; network only on 127.0.0.1 with ephemeral ports.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import pytest

from mewarden.heal import heartbeat
from mewarden.heal.agent import HealthAnswer
from mewarden.heal.heartbeat_receiver import HeartbeatReceiver
from mewarden.state import heal_store
from tests.host.agent_helpers import KEY, OTHER, node_store, probe, receiver_on_loopback


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mewarden",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60.0)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def key_file(tmp_path: Path, key: bytes, name: str = "n1.key") -> Path:
    path = tmp_path / name
    path.write_text(heartbeat.key_file_text("n1", key))
    path.chmod(0o600)
    return path


def test_cli_once_against_the_receiver(tmp_path: Path) -> None:
    store = node_store(tmp_path)
    receiver = HeartbeatReceiver(store, {"n1": KEY}.get)
    good, wrong = key_file(tmp_path, KEY), key_file(tmp_path, OTHER, "wrong.key")

    async def scenario() -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        async with receiver_on_loopback(receiver) as port:
            to = f"127.0.0.1:{port}"
            ok_json = await run_cli(
                "host", "agent", "--once", "--json", "--heartbeat-to", to, "--key-file", str(good)
            )
            refused = await run_cli(
                "host", "agent", "--once", "--heartbeat-to", to, "--key-file", str(wrong)
            )
            return ok_json, refused

    ok_json, refused = asyncio.run(scenario())
    code, out, err = ok_json
    assert code == 0, err
    report = json.loads(out)
    assert report["node"] == "n1"
    assert report["status"] == 204
    assert report["controller"].startswith("127.0.0.1:")
    assert isinstance(report["counter"], int)
    code, out, err = refused
    assert code == 5
    assert "401" in one_line_error(err)
    assert OTHER.hex() not in out + err
    assert heal_store.stale_heartbeats(store, before=float("inf")) == {"n1"}


@pytest.mark.parametrize(
    ("args", "exit_code", "needle"),
    [
        (["--once", "--heartbeat-to", "127.0.0.1:{closed}", "--key-file", "{key}"], 4, "connect"),
        (["--heartbeat-to", "127.0.0.1:1", "--key-file", "{missing}"], 2, "does not exist"),
        (["--heartbeat-to", "127.0.0.1:1", "--key-file", "{garbage}"], 2, "not a mewarden"),
        (["--heartbeat-to", "127.0.0.1:1"], 2, "--key-file"),
        (["--once", "--key-file", "{key}"], 2, "--heartbeat-to"),
        (["--heartbeat-to", "nowhere", "--key-file", "{key}"], 2, "HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], 2, "HOST:PORT"),
        (["--json"], 2, "--once"),
    ],
)
def test_cli_error_paths(tmp_path: Path, args: list[str], exit_code: int, needle: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"\x00\xffnot a key")
    values = {
        "closed": str(closed),
        "key": str(key_file(tmp_path, KEY)),
        "missing": str(tmp_path / "missing.key"),
        "garbage": str(garbage),
    }
    argv = [arg.format(**values) for arg in args]
    code, out, err = asyncio.run(run_cli("host", "agent", *argv))
    assert code == exit_code, err
    line = one_line_error(err)
    assert line.startswith("mewarden: error: ")
    assert needle in line
    assert KEY.hex() not in out + err


def test_cli_listen_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, _out, err = asyncio.run(
            run_cli("host", "agent", "--listen", f"127.0.0.1:{port}", "--reenroll-file", "/x")
        )
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(err)


async def _listening_port(stderr: asyncio.StreamReader) -> int:
    for _ in range(20):  # a few log lines at most before the one that says where it listens
        line = await asyncio.wait_for(stderr.readline(), 30.0)
        entry = json.loads(line)
        if entry.get("event") == "host agent listening":
            return int(entry["port"])
    raise AssertionError("the agent never said where it listens")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_daemon_answers_probes_and_stops_cleanly_on_signals(
    tmp_path: Path, signum: signal.Signals
) -> None:
    count_file = tmp_path / "reenroll-count"
    count_file.write_text("2\n")
    key = key_file(tmp_path, KEY)

    async def scenario() -> tuple[HealthAnswer | None, int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mewarden",
            "--log-level",
            "info",
            "--log-json",
            "host",
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--reenroll-file",
            str(count_file),
            "--key-file",
            str(key),
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        try:
            port = await _listening_port(proc.stderr)
            answer = await probe(port)
            proc.send_signal(signum)
            rest = await asyncio.wait_for(proc.stderr.read(), 10.0)
            code = await asyncio.wait_for(proc.wait(), 10.0)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        return answer, code, rest

    answer, code, rest = asyncio.run(scenario())
    assert answer is not None
    assert answer.body == {
        "status": "ok",
        "node": "n1",  # named by its key file
        "reenroll_count": 2,
        "uptime_s": answer.body["uptime_s"],  # type: ignore[index]
    }
    assert code == 0
    assert b"host agent stopped" in rest
    assert b"Traceback" not in rest
    assert KEY.hex().encode() not in rest
