"""``mewarden host agent``: the controller's own probe and heartbeat receiver against the daemon.

Everything on 127.0.0.1 with ephemeral ports; the receiver runs on org state in SQLite. The
command itself (subprocesses) is in test_agent_cli.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from mewarden.errors import BadInputError, PeerAuthError, PeerError, PeerUnreachableError
from mewarden.heal import heartbeat
from mewarden.heal.agent import HealthAnswer
from mewarden.heal.heartbeat_receiver import HeartbeatReceiver
from mewarden.host import health
from mewarden.host.agent import (
    HealthServer,
    HeartbeatSender,
    NodeKey,
    ReenrollFile,
    load_key_file,
    run_agent,
)
from mewarden.state import heal_store
from tests.host.agent_helpers import (
    KEY,
    OTHER,
    agent_on_loopback,
    node_store,
    probe,
    receiver_on_loopback,
)

# --- pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        (b"0", 0),
        (b"7\n", 7),
        (b"  12 \r\n", 12),
        (b"", None),
        (b"-1", None),
        (b"+3", None),
        (b"1.5", None),
        (b"1_000", None),
        (b"seven", None),
        (b"\xff\xfe", None),
        (b"9223372036854775808", None),
        (b"1" + b" " * 100, None),
    ],
)
def test_reenroll_count_file_contents(raw: bytes, count: int | None) -> None:
    assert health.parse_reenroll_count(raw) == count


def test_routes() -> None:
    assert health.route(b"GET", b"/healthz") is health.Route.HEALTH
    assert health.route(b"GET", b"/healthz?x=1") is health.Route.HEALTH
    assert health.route(b"POST", b"/healthz") is health.Route.METHOD_NOT_ALLOWED
    assert health.route(b"GET", b"/healthz/") is health.Route.NOT_FOUND
    assert health.route(b"GET", b"/") is health.Route.NOT_FOUND


def test_counters_rise_strictly_even_when_the_clock_does_not() -> None:
    assert health.next_counter(0, 1_700_000_000_000) == 1_700_000_000_000
    assert health.next_counter(1_700_000_000_000, 1_700_000_000_000) == 1_700_000_000_001
    assert health.next_counter(1_700_000_000_005, 1_600_000_000_000) == 1_700_000_000_006


def test_jitter_stays_within_ten_percent() -> None:
    assert health.jittered(30.0, 0.0) == pytest.approx(27.0)
    assert health.jittered(30.0, 0.5) == pytest.approx(30.0)
    assert health.jittered(30.0, 0.999999) == pytest.approx(33.0, abs=1e-3)


def test_controller_answers_map_to_typed_errors() -> None:
    assert health.heartbeat_error(204, "c:1") is None
    assert isinstance(health.heartbeat_error(401, "c:1"), PeerAuthError)
    assert health.heartbeat_error(503, "c:1").retryable  # type: ignore[union-attr]
    for status in (400, 404, 409, 413, 500):
        error = health.heartbeat_error(status, "c:1")
        assert type(error) is PeerError
        assert str(status) in str(error)


def test_addresses() -> None:
    assert health.parse_address("0.0.0.0:9100", option="--listen", default_port=9100) == (
        "0.0.0.0",
        9100,
    )
    assert health.parse_address("[::1]", option="--listen", default_port=9100) == ("::1", 9100)
    assert health.parse_address("h:0", option="--listen", default_port=1, any_port=True) == (
        "h",
        0,
    )
    for bad in ("h:0", "h:x", "h:70000", ":5", "h"):
        with pytest.raises(BadInputError):
            health.parse_address(bad, option="--heartbeat-to", default_port=-1)


# --- the health server against the controller's probe client -----------------------------------


def test_probe_sees_a_live_agent_and_its_reenroll_count(tmp_path: Path) -> None:
    count_file = tmp_path / "reenroll-count"
    now = [100.0]
    server = HealthServer("n1", ReenrollFile(count_file), clock=lambda: now[0])

    async def scenario() -> list[object]:
        bodies: list[object] = []
        async with agent_on_loopback(server) as port:
            answer = await probe(port)
            assert answer is not None
            assert answer.status == 200
            bodies.append(answer.body)
            for text in ("3\n", "4"):  # the node's provisioning rewrites it: no restart
                count_file.write_text(text)
                now[0] += 1.5
                answer = await probe(port)
                assert answer is not None
                bodies.append(answer.body)
        return bodies

    first, second, third = asyncio.run(scenario())
    assert first == {"status": "ok", "node": "n1", "uptime_s": 0.0}
    assert second == {"status": "ok", "node": "n1", "reenroll_count": 3, "uptime_s": 1.5}
    assert third == {"status": "ok", "node": "n1", "reenroll_count": 4, "uptime_s": 3.0}


def test_a_bad_reenroll_file_is_omitted_with_one_warning(tmp_path: Path) -> None:
    count_file = tmp_path / "reenroll-count"
    reenroll = ReenrollFile(count_file)
    with capture_logs() as logs:
        count_file.write_text("garbage")
        assert [reenroll.read() for _ in range(3)] == [None, None, None]
        count_file.write_text("5")
        assert reenroll.read() == 5
        count_file.unlink()
        count_file.mkdir()  # unreadable as a file
        assert reenroll.read() is None
        assert reenroll.read() is None
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [w["reason"] for w in warnings] == [
        "not a non-negative integer",
        "not readable: Is a directory",
    ]
    assert all(w["file"] == str(count_file) for w in warnings)


def test_a_fifo_in_place_of_the_count_file_does_not_stall(tmp_path: Path) -> None:
    fifo = tmp_path / "reenroll-count"
    os.mkfifo(fifo)
    with capture_logs():
        assert ReenrollFile(fifo).read() is None


async def raw_exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 3.0)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw else 0


def test_garbage_oversized_and_other_requests_get_answers_not_crashes(tmp_path: Path) -> None:
    server = HealthServer("n1", ReenrollFile(tmp_path / "none"), read_timeout_s=0.3)
    requests = {
        "tls hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n",
        "binary": bytes(range(256)) * 4,
        "huge head": b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n",
        "huge body": b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"
        + b"x" * 5000,
        "post": b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
        "other path": b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
        "half a request": b"GET /healthz HTTP/1.1\r\nHo",  # then silence: dropped at the timeout
        "nothing": b"",
    }

    async def scenario() -> tuple[dict[str, int], HealthAnswer | None, bytes]:
        async with agent_on_loopback(server) as port:
            codes = {
                name: status_of(await raw_exchange(port, data)) for name, data in requests.items()
            }
            post = await raw_exchange(port, requests["post"])
            return codes, await probe(port), post

    codes, after, post = asyncio.run(scenario())
    assert codes == {
        "tls hello": 400,
        "binary": 400,
        "huge head": 431,
        "huge body": 413,
        "post": 405,
        "other path": 404,
        "half a request": 0,
        "nothing": 0,
    }
    assert b"\r\nallow: get\r\n" in post.lower()
    assert after is not None  # still serving
    assert after.status == 200


# --- heartbeats against the controller's receiver -----------------------------------------------


def test_heartbeats_are_accepted_and_stored_by_the_receiver(tmp_path: Path) -> None:
    store = node_store(tmp_path)
    receiver = HeartbeatReceiver(store, {"n1": KEY}.get, clock=lambda: 500.0)

    async def scenario() -> list[int]:
        async with receiver_on_loopback(receiver) as port:
            frozen = HeartbeatSender(NodeKey("n1", KEY), "127.0.0.1", port, clock_ms=lambda: 1000)
            reports = [await frozen.send_once() for _ in range(3)]
            assert {r.status for r in reports} == {204}
            assert {r.controller for r in reports} == {f"127.0.0.1:{port}"}
            return [r.counter for r in reports]

    assert asyncio.run(scenario()) == [1000, 1001, 1002]
    assert heal_store.stale_heartbeats(store, before=500.0) == set()
    assert heal_store.stale_heartbeats(store, before=500.5) == {"n1"}
    sample = receiver.metrics.registry.get_sample_value
    assert sample("mewarden_heal_heartbeats_total", {"result": "accepted"}) == 3


def test_the_daemon_pushes_on_its_interval_and_serves_until_stopped(tmp_path: Path) -> None:
    store = node_store(tmp_path)
    receiver = HeartbeatReceiver(store, {"n1": KEY}.get)
    accepted = receiver.metrics.registry.get_sample_value

    def count() -> float:
        return accepted("mewarden_heal_heartbeats_total", {"result": "accepted"}) or 0.0

    async def scenario() -> HealthAnswer | None:
        async with receiver_on_loopback(receiver) as hb_port:
            sender = HeartbeatSender(NodeKey("n1", KEY), "127.0.0.1", hb_port, timeout_s=1.0)
            server = HealthServer("n1", ReenrollFile(tmp_path / "none"))
            with socket.socket() as probe_sock:  # a free port for the agent, found first
                probe_sock.bind(("127.0.0.1", 0))
                agent_port = probe_sock.getsockname()[1]
            stop = asyncio.Event()
            daemon = asyncio.create_task(
                run_agent(server, ("127.0.0.1", agent_port), sender, interval_s=0.05, stop=stop)
            )
            for _ in range(200):
                if count() >= 3:
                    break
                await asyncio.sleep(0.02)
            answer = await probe(agent_port)
            stop.set()
            await asyncio.wait_for(daemon, 5.0)
            return answer

    answer = asyncio.run(scenario())
    assert count() >= 3
    assert answer is not None
    assert answer.status == 200


def test_a_wrong_key_is_refused(tmp_path: Path) -> None:
    store = node_store(tmp_path)
    receiver = HeartbeatReceiver(store, {"n1": KEY}.get)

    async def scenario() -> None:
        async with receiver_on_loopback(receiver) as port:
            sender = HeartbeatSender(NodeKey("n1", OTHER), "127.0.0.1", port)
            with pytest.raises(PeerAuthError) as caught:
                await sender.send_once()
            assert OTHER.hex() not in str(caught.value)

    asyncio.run(scenario())
    assert heal_store.stale_heartbeats(store, before=float("inf")) == set()
    sample = receiver.metrics.registry.get_sample_value
    assert sample("mewarden_heal_heartbeats_total", {"result": "bad-signature"}) == 1


def test_failures_are_logged_without_the_key_and_the_loop_goes_on() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there

    async def scenario() -> None:
        sender = HeartbeatSender(NodeKey("n1", KEY), "127.0.0.1", port, timeout_s=0.5)
        with pytest.raises(PeerUnreachableError):
            await sender.send_once()
        pusher = asyncio.create_task(sender.run(0.02))
        await asyncio.sleep(0.15)
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pusher

    with capture_logs() as logs:
        asyncio.run(scenario())
    failed = [entry for entry in logs if entry["event"] == "heartbeat failed"]
    assert len(failed) >= 2
    assert [entry["failures"] for entry in failed[:2]] == [1, 2]
    assert KEY.hex() not in repr(logs)


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # never answers
    writer.close()


async def _hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def _not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize(
    ("controller", "error", "message"),
    [
        (_silent, PeerUnreachableError, "no answer within 0.3 s"),
        (_hangs_up, PeerUnreachableError, "connection lost"),
        (_not_http, PeerError, "the answer is not HTTP"),
    ],
)
def test_controllers_that_do_not_answer_properly(
    controller: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    error: type[Exception],
    message: str,
) -> None:
    async def scenario() -> BaseException:
        listener = await asyncio.start_server(controller, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        sender = HeartbeatSender(NodeKey("n1", KEY), "127.0.0.1", port, timeout_s=0.3)
        try:
            with pytest.raises(error) as caught:
                await sender.send_once()
        finally:
            listener.close()
        return caught.value

    raised = asyncio.run(scenario())
    assert message in str(raised)
    assert KEY.hex() not in str(raised)


def test_key_files(tmp_path: Path) -> None:
    good = tmp_path / "good.key"
    good.write_text(heartbeat.key_file_text("n1", KEY))
    good.chmod(0o600)
    loaded = load_key_file(good)
    assert loaded == NodeKey("n1", KEY)
    assert KEY.hex() not in repr(loaded)
    cases = {
        "missing.key": None,
        "garbage.key": b"\xff\x00 not json",
        "short.key": heartbeat.key_file_text("n1", KEY).replace(KEY.hex(), "abcd").encode(),
        "empty.key": b"",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(BadInputError) as caught:
            load_key_file(path)
        assert str(path) in str(caught.value)
        assert KEY.hex() not in str(caught.value)
