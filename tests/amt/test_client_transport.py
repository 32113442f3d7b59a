"""The client's own transport on the wire: keep-alive, reconnects, resends, limits and TLS.

Against the fake AMT (tests.amt.fakeamt) and, for replies no device should send, small raw
servers on 127.0.0.1 that count their connections.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from mewarden.amt import power, transport
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.power import PowerAction
from mewarden.emulate.webserver import chunked
from mewarden.errors import (
    AmtAuthError,
    AmtTimeoutError,
    AmtTlsHandshakeError,
    AmtUnreachableError,
    TlsPinMismatchError,
    WsmanError,
)
from mewarden.secret import Secret
from mewarden.wsman.resources import PowerState
from tests.amt.conftest import Certificate, Running
from tests.amt.fakeamt import REALM, md5
from tests.support import require_corpus

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _power_reply() -> bytes:
    path = require_corpus() / "responses/cim/associatedpower/managementservice/get.xml"
    data = path.read_bytes()
    return re.sub(rb">\s+<", b"><", data[data.find(b"<") :]).strip()


@dataclass
class Raw:
    """A raw server's port and how many connections it accepted."""

    port: int
    connections: int = 0

    def endpoint(self, **overrides: object) -> Endpoint:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "password": Secret("x"),
            "timeout_s": 2.0,
        }
        values.update(overrides)
        return Endpoint(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[Raw]:
    """Serve ``handler`` (which reads the request itself) on an ephemeral port."""
    raw = Raw(port=0)
    tasks: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    raw.port = int(server.sockets[0].getsockname()[1])
    try:
        yield raw
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)


# --- keep-alive, 401 reconnect, idle connections --------------------------------------------


async def test_keep_alive_reuses_one_connection_after_the_challenge(amt: Running) -> None:
    async with AmtClient(amt.endpoint()) as client:
        for _ in range(10):
            await power.read_power(client)
    assert amt.fake.connections == 2  # the 401 closes the first, the rest share the second
    assert client.transport.connections == 2
    assert amt.fake.requests_received == 11


async def test_first_call_may_be_a_state_change(amt: Running) -> None:
    """A 401 means the device did nothing: the request is sent again with the digest."""
    async with AmtClient(amt.endpoint()) as client:
        await power.change_power(client, PowerAction.OFF)
    assert [s.method for s in amt.fake.seen] == ["RequestPowerStateChange"]
    assert amt.fake.power_state == PowerState.POWER_OFF_HARD
    assert amt.fake.connections == 2


async def _close_idle_connections(amt: Running) -> None:
    for writer in list(amt.fake.writers):
        writer.close()
    await asyncio.sleep(0.05)  # the device's FIN reaches the client


async def test_connection_closed_while_idle_is_replaced_before_writing(amt: Running) -> None:
    async with AmtClient(amt.endpoint()) as client:
        await power.read_power(client)
        await _close_idle_connections(amt)
        await power.change_power(client, PowerAction.OFF)  # not idempotent: must not fail
    assert [s.method for s in amt.fake.seen] == ["Get", "RequestPowerStateChange"]
    assert amt.fake.connections == 3
    assert amt.fake.challenges == 1  # the kept nonce carries over to the new connection


async def test_long_idle_connection_is_checked_again(
    amt: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "IDLE_RECHECK_S", 0.0)
    async with AmtClient(amt.endpoint()) as client:
        await power.read_power(client)
        await power.read_power(client)  # still open: reused after the look
        assert amt.fake.connections == 2
        await _close_idle_connections(amt)
        await power.change_power(client, PowerAction.OFF)
    assert amt.fake.connections == 3


async def test_read_on_a_kept_connection_that_dies_is_resent_once(amt: Running) -> None:
    async with AmtClient(amt.endpoint(retries=0)) as client:
        await power.read_power(client)
        amt.fake.drop.add("Get")  # read, then the connection closes without a reply
        status = await power.read_power(client)
    assert status.is_on
    assert [s.method for s in amt.fake.seen] == ["Get", "Get", "Get"]
    assert amt.fake.connections == 3


async def test_state_change_on_a_kept_connection_that_dies_is_never_resent(
    amt: Running,
) -> None:
    async with AmtClient(amt.endpoint()) as client:
        await power.read_power(client)
        amt.fake.drop.add("RequestPowerStateChange")
        with pytest.raises(AmtUnreachableError) as info:
            await power.change_power(client, PowerAction.RESET)
        assert "not resent" in str(info.value)
        status = await power.read_power(client)  # the client itself is still usable
    assert status.is_on
    methods = [s.method for s in amt.fake.seen]
    assert methods.count("RequestPowerStateChange") == 1


async def test_fresh_connection_dropped_is_unreachable_and_retried_for_reads(
    amt: Running,
) -> None:
    amt.fake.drop.add("Get")  # on the connection opened after the 401: nothing was kept
    async with AmtClient(amt.endpoint(retries=0)) as client:
        with pytest.raises(AmtUnreachableError) as info:
            await power.read_power(client)
    assert "dropped the connection" in str(info.value)
    amt.fake.drop.add("Get")
    async with AmtClient(amt.endpoint(retries=1)) as client:
        assert (await power.read_power(client)).is_on


async def test_reply_with_connection_close_means_a_new_connection_each_time() -> None:
    body = _power_reply()

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()

    async with raw_server(once) as raw, AmtClient(raw.endpoint(retries=0)) as client:
        for _ in range(3):
            assert (await power.read_power(client)).is_on
    assert raw.connections == 3


# --- framing and limits ------------------------------------------------------------------------


async def test_chunked_reply_arriving_in_pieces() -> None:
    framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(_power_reply())
    framed += b"0\r\n\r\n"

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_head(reader)
            for start in range(0, len(framed), 333):
                writer.write(framed[start : start + 333])
                await writer.drain()
                await asyncio.sleep(0.001)

    async with raw_server(trickle) as raw, AmtClient(raw.endpoint()) as client:
        for _ in range(3):
            status = await power.read_power(client)
            assert status.state is PowerState.POWER_ON
    assert raw.connections == 1


async def test_oversized_body_is_refused_and_not_retried() -> None:
    piece = b"100000\r\n" + b"y" * 0x100000 + b"\r\n"  # 1 MiB chunks, without end

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(transport.MAX_BODY // len(piece) + 8):
            writer.write(piece)
            await writer.drain()

    async with raw_server(flood) as raw, AmtClient(raw.endpoint(timeout_s=10)) as client:
        with pytest.raises(WsmanError) as info:
            await power.read_power(client)
    assert "16 MiB" in str(info.value)
    assert raw.connections == 1


async def test_oversized_declared_length_is_refused_without_reading() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1 << 40))
        await writer.drain()
        await asyncio.sleep(5)

    async with raw_server(huge) as raw, AmtClient(raw.endpoint()) as client:
        started = time.monotonic()
        with pytest.raises(WsmanError):
            await power.read_power(client)
    assert time.monotonic() - started < 1.0


async def test_oversized_head_is_refused() -> None:
    async def headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(2 * transport.MAX_HEAD // 16):
            writer.write(b"X-Pad: 1234567\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async with raw_server(headers) as raw, AmtClient(raw.endpoint(retries=0)) as client:
        with pytest.raises(AmtUnreachableError):
            await power.read_power(client)


async def test_whole_request_is_bounded_by_the_timeout() -> None:
    """A device that trickles a byte at a time never trips a per-read timeout; ours is for
    the whole exchange."""

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while True:
            writer.write(b"<")
            await writer.drain()
            await asyncio.sleep(0.02)

    async with raw_server(drip) as raw, AmtClient(raw.endpoint(timeout_s=0.3)) as client:
        started = time.monotonic()
        with pytest.raises(AmtTimeoutError) as info:
            await power.read_power(client)
        elapsed = time.monotonic() - started
    assert "did not answer within 0.3 s" in str(info.value)
    assert elapsed < 1.5
    assert raw.connections == 1  # a timed-out read is not retried


async def test_timed_out_connection_is_discarded(amt: Running) -> None:
    async with AmtClient(amt.endpoint(timeout_s=0.2, retries=0)) as client:
        await power.read_power(client)
        amt.fake.delay_s = 0.5
        with pytest.raises(AmtTimeoutError):
            await power.read_power(client)
        amt.fake.delay_s = 0.0
        await asyncio.sleep(0.4)  # the abandoned reply would have arrived by now
        assert (await power.read_power(client)).is_on
    assert amt.fake.connections == 3  # the late reply never reaches the next request


# --- TLS ---------------------------------------------------------------------------------------


async def test_tls_keep_alive_and_pin_checked_per_connection(
    amt_tls: Running, certificate: Certificate
) -> None:
    async with AmtClient(amt_tls.endpoint(tls=True, pin_sha256=certificate.sha256)) as client:
        for _ in range(4):
            await power.read_power(client)
    assert amt_tls.fake.connections == 2
    assert client.observed_pin == certificate.sha256


async def test_tls_pin_mismatch_sends_nothing_and_is_not_retried(amt_tls: Running) -> None:
    async with AmtClient(amt_tls.endpoint(tls=True, pin_sha256="cd" * 32, retries=2)) as client:
        with pytest.raises(TlsPinMismatchError):
            await power.read_power(client)
    assert amt_tls.fake.requests_received == 0  # not even the unauthenticated first request
    assert client.transport.connections == 1


async def test_tls_handshake_failure_is_typed_and_not_retried() -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)  # the ClientHello
        writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
        await writer.drain()

    async with raw_server(plain_http) as raw, AmtClient(raw.endpoint(tls=True)) as client:
        with pytest.raises(AmtTlsHandshakeError) as info:
            await power.read_power(client)
    assert info.value.exit_code == 16
    assert "--legacy-ciphers" in str(info.value)
    assert raw.connections == 1


# --- secrets -----------------------------------------------------------------------------------


async def test_no_secret_in_reprs_or_errors(amt: Running) -> None:
    password = "Sup3r-Secret-Pw!"
    async with AmtClient(amt.endpoint(password=Secret(password), retries=0)) as client:
        with pytest.raises(AmtAuthError) as info:
            await power.read_power(client)
        texts = [repr(client.auth), repr(client.transport), repr(client.endpoint), str(info)]
    assert client.auth.challenges >= 1
    ha1 = md5(f"admin:{REALM}:{password}")  # as good as the password to an attacker
    assert not any(password in text or ha1 in text for text in texts)
