"""Serving an image over IDE redirection: the asyncio shell around the IDER channel.

:func:`serve_image` opens the redirection session (16994, or 16995 with TLS, digest auth, the
pinning of WS-MAN), connects the devices, optionally starts the boot (``boot``: a coroutine
that sets the one-shot IDER boot and resets the host), then answers the host's commands until
one of: the host ejects the CD, the host resets after it has read from the medium, the caller
sets ``stop`` (Ctrl-C), or the device ends the session. Every way out ends the session cleanly
when the link is still up; a dropped link raises :class:`~mewarden.errors.AmtUnreachableError`
and a sequence gap :class:`~mewarden.errors.RedirectionProtocolError`.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mewarden.amt.client import Endpoint
from mewarden.ider.channel import (
    CommandServed,
    DeviceError,
    DevicesConnected,
    HostReset,
    IderChannel,
    MediumEjected,
)
from mewarden.ider.medium import Medium
from mewarden.ider.scsi import Opcode, ScsiTarget
from mewarden.ider.wire import StartMode
from mewarden.redirect.protocol import SessionEnded
from mewarden.redirect.session import RedirectionSession

KEEP_ALIVE_S = 5.0
POLL_S = 0.25
_READS = frozenset({Opcode.READ_10, Opcode.READ_12})


class EndReason(enum.StrEnum):
    """Why serving stopped."""

    EJECTED = "ejected"
    HOST_RESET = "host-reset"
    INTERRUPTED = "interrupted"
    DEVICE_CLOSED = "device-closed"
    TIMED_OUT = "timed-out"


@dataclass(frozen=True, slots=True, kw_only=True)
class IderSummary:
    """What one serving session did (the ``--json`` summary)."""

    image: str
    device: str
    booted: bool
    ended: EndReason
    commands: int
    blocks_read: int
    bytes_served: int
    seconds: float
    observed_pin: str | None = None


@dataclass(slots=True)
class _Tally:
    reads_since_reset: int = 0
    ended: EndReason | None = None


async def serve_image(
    endpoint: Endpoint,
    medium: Medium,
    *,
    floppy: bool = False,
    boot: Callable[[], Awaitable[object]] | None = None,
    progress: Callable[[ScsiTarget], None] | None = None,
    stop: asyncio.Event | None = None,
    enable_hint: str = "",
    timeout_s: float | None = None,
) -> IderSummary:
    """Serve ``medium`` read-only as the device's CD (or floppy) until an end (module doc)."""
    target = ScsiTarget(medium.read, medium.sectors, floppy=floppy)
    start = StartMode.ON_REBOOT if boot is not None else StartMode.NOW
    channel = IderChannel(
        cd=None if floppy else target, floppy=target if floppy else None, start=start
    )
    began = time.monotonic()
    session = await RedirectionSession.open(endpoint, channel, enable_hint=enable_hint)
    tally = _Tally()
    try:
        await _until_connected(session, endpoint.timeout_s)
        if boot is not None:
            await boot()
        await _serve(session, target, tally, progress=progress, stop=stop, timeout_s=timeout_s)
    except BaseException:
        session.abort()
        raise
    await session.aclose()
    return IderSummary(
        image=str(medium.path),
        device="floppy" if floppy else "cd",
        booted=boot is not None,
        ended=tally.ended or EndReason.INTERRUPTED,
        commands=target.commands,
        blocks_read=target.blocks_read,
        bytes_served=target.bytes_served,
        seconds=time.monotonic() - began,
        observed_pin=session.observed_pin,
    )


async def _until_connected(session: RedirectionSession, timeout_s: float) -> None:
    from mewarden.errors import AmtTimeoutError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = await session.receive(max(0.0, deadline - time.monotonic()))
        if any(isinstance(e, DevicesConnected) for e in events):
            return
    raise AmtTimeoutError(f"{session.label} did not connect the IDER devices in time")


async def _serve(
    session: RedirectionSession,
    target: ScsiTarget,
    tally: _Tally,
    *,
    progress: Callable[[ScsiTarget], None] | None,
    stop: asyncio.Event | None,
    timeout_s: float | None,
) -> None:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    next_ping = time.monotonic() + KEEP_ALIVE_S
    while tally.ended is None:
        if stop is not None and stop.is_set():
            tally.ended = EndReason.INTERRUPTED
            return
        if deadline is not None and time.monotonic() >= deadline:
            tally.ended = EndReason.TIMED_OUT
            return
        for event in await session.receive(POLL_S):
            tally.ended = tally.ended or _ending(event, tally)
        if progress is not None:
            progress(target)
        if time.monotonic() >= next_ping:
            next_ping = time.monotonic() + KEEP_ALIVE_S
            await session.keep_alive()


def _ending(event: object, tally: _Tally) -> EndReason | None:
    if isinstance(event, CommandServed) and event.opcode in _READS and event.good:
        tally.reads_since_reset += 1
    elif isinstance(event, MediumEjected):
        return EndReason.EJECTED
    elif isinstance(event, HostReset):
        read, tally.reads_since_reset = tally.reads_since_reset, 0
        return EndReason.HOST_RESET if read else None  # the reset that starts a boot is expected
    elif isinstance(event, SessionEnded | DeviceError):
        return EndReason.DEVICE_CLOSED
    return None
