"""The host-agent probe against real sockets on loopback: live, dead, slow, broken answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mewarden.heal.agent import get_health, split_address
from mewarden.heal.probe import AgentReport, NodeIo, NodeTarget
from mewarden.secret import Secret

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def _server(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def _answer(status: str, body: bytes, *, chunked: bool = False) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if chunked:
            head = f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        else:
            head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            payload = body
        writer.write(head + payload)
        await writer.drain()
        writer.close()

    return handle


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)  # a hung host: the TCP stack accepts, nothing answers
    writer.close()


async def _reports(handler: Handler) -> AgentReport:
    async with _server(handler) as port:
        io = NodeIo(lambda _n: Secret("x"), timeout_s=0.3)
        node = NodeTarget(
            name="n", group="g", amt_host="127.0.0.1", agent_address=f"127.0.0.1:{port}"
        )
        try:
            return await io.agent(node)
        finally:
            await io.aclose()


@pytest.mark.parametrize("chunked", [False, True])
def test_live_agent_with_reenroll_count(chunked: bool) -> None:
    body = json.dumps({"status": "ok", "reenroll_count": 3}).encode()
    report = asyncio.run(_reports(_answer("200 OK", body, chunked=chunked)))
    assert report == AgentReport(alive=True, reenroll_count=3)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        ("500 Internal Server Error", b'{"status": "ok"}'),
        ("200 OK", b"<html>not json</html>"),
        ("200 OK", b"[1, 2]"),
        ("200 OK", b'{"pad": "' + b"x" * 70_000 + b'"}'),
    ],
)
def test_anything_but_a_json_object_with_200_is_dead(status: str, body: bytes) -> None:
    report = asyncio.run(_reports(_answer(status, body)))
    assert report == AgentReport(alive=False)


def test_silent_agent_times_out_as_dead() -> None:
    async def probe() -> tuple[object, float]:
        async with _server(_silent) as port:
            loop = asyncio.get_running_loop()
            began = loop.time()
            answer = await get_health("127.0.0.1", port, timeout_s=0.2)
            return answer, loop.time() - began

    answer, took = asyncio.run(probe())
    assert answer is None
    assert took < 2.0  # bounded by the timeout, not by the server


def test_refused_connection_is_dead() -> None:
    async def probe() -> object:
        server = await asyncio.start_server(_silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return await get_health("127.0.0.1", port, timeout_s=0.5)

    assert asyncio.run(probe()) is None


def test_garbage_instead_of_http_is_dead() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    async def probe() -> object:
        async with _server(garbage) as port:
            return await get_health("127.0.0.1", port, timeout_s=0.5)

    assert asyncio.run(probe()) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5", ("10.0.0.5", 9100)),
        ("10.0.0.5:9200", ("10.0.0.5", 9200)),
        ("[fd00::5]:9300", ("fd00::5", 9300)),
        ("[fd00::5]", ("fd00::5", 9100)),
        ("fd00::5", ("fd00::5", 9100)),
        ("node7.example", ("node7.example", 9100)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address, 9100) == expected
