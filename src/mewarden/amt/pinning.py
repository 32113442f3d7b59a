"""The httpcore network backend of the AMT client: asyncio streams plus certificate pinning.

Plain asyncio streams (with ``asyncio.timeout``) cost about 8 % less CPU per request than
httpcore's anyio backend (measured with ``bench/amt_fleet.py``), which matters at fleet scale.

The pin is checked right after the handshake, before httpcore writes a single byte of HTTP on
the connection, so neither a request nor a Digest response ever reaches an impostor (also on
the reconnects that follow AMT's ``Connection: close``, when the kept nonce lets the first
request carry an ``Authorization`` header).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import typing
from collections.abc import Callable

import httpcore

Verify = Callable[[bytes | None], None]
"""Called with the peer certificate (DER); raises :class:`TlsPinMismatchError` to refuse it."""


class TlsHandshakeFailed(httpcore.ConnectError):
    """The TLS handshake itself failed; httpx re-raises it as ``ConnectError`` *from* this,
    so the client can tell it from a refused connection without parsing messages."""


class _PinnedStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, verify: Verify) -> None:
        self._inner = inner
        self._verify = verify

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        ssl_object = stream.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            self._verify(der)
        except BaseException:
            await stream.aclose()
            raise
        return _PinnedStream(stream, self._verify)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _AsyncioStream(httpcore.AsyncNetworkStream):
    """A plain asyncio stream for httpcore: cheaper than the anyio backend per read/write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("read timed out") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("write timed out") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from None

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            self._writer.close()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            self._writer.close()
            raise TlsHandshakeFailed(f"TLS handshake failed: {exc}") from None
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "is_readable":
            return self._reader.at_eof()
        return self._writer.get_extra_info(info)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP through asyncio streams, with ``verify`` checking every TLS upgrade."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connect to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        return _AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class PinningBackend(httpcore.AsyncNetworkBackend):
    """asyncio (anyio) TCP whose TLS upgrades are checked by ``verify``."""

    def __init__(self, verify: Verify) -> None:
        self._inner = AsyncioBackend()
        self._verify = verify

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _PinnedStream(stream, self._verify)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
