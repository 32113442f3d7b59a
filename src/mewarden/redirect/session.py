"""The asyncio shell of a redirection session: one TCP (16994) or TLS (16995) connection.

TLS is trusted the way WS-MAN is (:mod:`mewarden.amt.pinning`): with a pin the certificate
must match, without one the first certificate seen is accepted and exposed as
:attr:`RedirectionSession.observed_pin` (trust on first use); the check runs right after the
handshake, before a byte of the redirection protocol (and so before any credential) is sent.
Real AMT serves one certificate on 16993 and 16995, so a WS-MAN pin applies here too.

The opening handshake (session start, authentication, the channel's start) is bounded by the
endpoint's ``timeout_s``. After it the caller reads with :meth:`RedirectionSession.receive`,
queues through the channel and calls :meth:`RedirectionSession.flush`; a relay that wants the
raw stream (KVM) takes it with :meth:`RedirectionSession.detach`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from dataclasses import dataclass

from mewarden.amt.client import Endpoint, tls_context
from mewarden.amt.pinning import check_certificate, normalize_pin
from mewarden.errors import (
    AmtTimeoutError,
    AmtTlsHandshakeError,
    AmtUnreachableError,
)
from mewarden.redirect.protocol import (
    Channel,
    ChannelOpened,
    Event,
    RedirectionClient,
    StreamEvent,
)
from mewarden.redirect.wire import PORT_PLAIN, PORT_TLS

READ_SIZE = 64 * 1024
CLOSE_WAIT_S = 2.0


def redirection_port(endpoint: Endpoint, port: int | None = None) -> int:
    """``port`` if given, else 16995 with TLS and 16994 without."""
    return port or (PORT_TLS if endpoint.tls else PORT_PLAIN)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


class RedirectionSession:
    """An open redirection session (after authentication and the channel's start)."""

    def __init__(
        self,
        client: RedirectionClient,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        label: str,
    ) -> None:
        self.client = client
        self.channel = client.channel
        self.label = label
        self.observed_pin: str | None = None
        self.opening: list[Event] = []
        """The events of the handshake (session reply, insecure-auth warning, channel start)."""
        self._reader = reader
        self._writer = writer
        self._pending: list[Event] = []
        self.last_received = asyncio.get_running_loop().time()
        """Event-loop time of the last bytes from the device (pongs count): link liveness."""

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        channel: Channel,
        *,
        port: int | None = None,
        enable_hint: str = "",
    ) -> RedirectionSession:
        """Connect, authenticate and start ``channel``; typed errors on every failure."""
        chosen = redirection_port(endpoint, port)
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        label = f"{host}:{chosen}"
        client = RedirectionClient(
            channel,
            user=endpoint.username,
            password=endpoint.password,
            cnonce=secrets.token_hex(8),
            label=label,
            enable_hint=enable_hint,
        )
        try:
            async with asyncio.timeout(endpoint.timeout_s):
                reader, writer, pin = await _connect(endpoint, chosen, label, enable_hint)
                session = cls(client, reader, writer, label=label)
                session.observed_pin = pin
                try:
                    await session._handshake()
                except BaseException:
                    session.abort()
                    raise
        except TimeoutError:
            raise AmtTimeoutError(
                f"{label} did not complete the redirection handshake within "
                f"{endpoint.timeout_s:g} s"
            ) from None
        return session

    async def _handshake(self) -> None:
        self.client.start()
        await self.flush()
        while True:
            events = await self._read_events()
            self.opening += [e for e in events if not isinstance(e, StreamEvent)]
            self._pending += [e for e in events if isinstance(e, StreamEvent)]
            if any(isinstance(e, ChannelOpened) for e in events):
                return

    async def flush(self) -> None:
        """Write whatever the core and the channel queued."""
        data = self.client.outgoing()
        if not data:
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            raise self._dropped(exc) from None

    async def receive(self, timeout_s: float | None = None) -> list[Event]:
        """The next events; ``[]`` when nothing came within ``timeout_s``.

        AmtUnreachableError when the link drops (end of file or reset) before a clean end.
        """
        if self._pending:
            events, self._pending = self._pending, []
            return events
        try:
            async with asyncio.timeout(timeout_s):
                events = await self._read_events()
        except TimeoutError:
            return []
        await self.flush()  # pongs the channel queued
        return events

    async def _read_events(self) -> list[Event]:
        try:
            data = await self._reader.read(READ_SIZE)
        except OSError as exc:
            raise self._dropped(exc) from None
        if not data:
            if self.client.closed:
                return []
            if not self.client.open:
                raise AmtUnreachableError(
                    f"{self.label} closed the connection during the redirection handshake "
                    "(is the redirection listener enabled?)"
                )
            raise self._dropped(None)
        self.last_received = asyncio.get_running_loop().time()
        events = self.client.receive(data)
        await self.flush()
        return events

    def _dropped(self, exc: BaseException | None) -> AmtUnreachableError:
        why = f": {_reason(exc)}" if exc is not None else ""
        return AmtUnreachableError(f"the redirection link to {self.label} dropped{why}")

    async def keep_alive(self) -> None:
        """Send the channel's keep-alive (the device's answer moves :attr:`last_received`)."""
        self.channel.out += self.channel.keep_alive()
        await self.flush()

    async def aclose(self) -> None:
        """End cleanly (the channel's end, EndRedirectionSession), then close the socket."""
        with contextlib.suppress(OSError, AmtUnreachableError, TimeoutError):
            self.client.end()
            await self.flush()
            async with asyncio.timeout(CLOSE_WAIT_S):
                while not self.client.closed:
                    if not await self._read_events():
                        break
                await self.flush()
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT_S):
                await self._writer.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once (no clean end)."""
        self._writer.transport.abort()

    def detach(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The raw streams, for a relay that bypasses the core once the channel is raw."""
        return self._reader, self._writer


async def _connect(
    endpoint: Endpoint, port: int, label: str, enable_hint: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str | None]:
    try:
        reader, writer = await asyncio.open_connection(endpoint.host, port)
    except OSError as exc:
        hint = f"; is redirection enabled? enable it with: {enable_hint}" if enable_hint else ""
        raise AmtUnreachableError(f"cannot connect to {label}: {_reason(exc)}{hint}") from None
    if not endpoint.tls:
        return reader, writer, None
    try:
        return reader, writer, await _start_tls(endpoint, writer, label)
    except BaseException:
        writer.transport.abort()
        raise


async def _start_tls(endpoint: Endpoint, writer: asyncio.StreamWriter, label: str) -> str:
    context: ssl.SSLContext = tls_context(endpoint)
    try:
        await writer.start_tls(context, server_hostname=endpoint.host)
    except OSError as exc:
        raise AmtTlsHandshakeError(
            f"the TLS handshake with {label} failed ({_reason(exc)}); old firmware may need "
            "--legacy-ciphers, or the port may not speak TLS"
        ) from None
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    pin = normalize_pin(endpoint.pin_sha256) if endpoint.pin_sha256 else None
    return check_certificate(der, pin, label)


@dataclass(frozen=True, slots=True, kw_only=True)
class KvmStream:
    """An authenticated KVM redirection connection, raw RFB from here on."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    leftover: bytes
    """RFB bytes that arrived with the KVM start reply (read these first)."""
    observed_pin: str | None


async def open_kvm_stream(
    endpoint: Endpoint, *, port: int | None = None, enable_hint: str = ""
) -> KvmStream:
    """Connect, authenticate, start KVM (0x40/0x41); the streams then carry raw RFB."""
    from mewarden.redirect.kvm import KvmChannel, RawData

    session = await RedirectionSession.open(
        endpoint, KvmChannel(), port=port, enable_hint=enable_hint
    )
    leftover = b"".join(e.data for e in session._pending if isinstance(e, RawData))
    session._pending.clear()
    reader, writer = session.detach()
    return KvmStream(
        reader=reader, writer=writer, leftover=leftover, observed_pin=session.observed_pin
    )
