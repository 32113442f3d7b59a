"""The terminal side of ``mewarden amt console`` and ``mewarden node console``.

* Interactive: the local terminal in raw mode (restored on every way out: the escape, the link
  dropping, an error, SIGTERM/SIGHUP), keys to the host as typed (UTF-8 passes through as
  bytes; Ctrl-C goes to the host, as in ssh), the host's bytes to the terminal as they come.
  The escape (:mod:`mewarden.redirect.escape`) is shown at the start. A keep-alive goes out
  every few seconds; silence for longer than :data:`DEAD_AFTER_S` is a dropped link.
* Capture (``--capture SECONDS``): read for that long, hand back what the console showed.
* ``--log FILE``: a transcript of the host's bytes, written to ``FILE.part`` and renamed over
  ``FILE`` when the session ends (never a half-written FILE).

Notices go to stderr, with ``\\r\\n`` line ends while the terminal is raw.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mewarden.errors import AmtUnreachableError
from mewarden.redirect.escape import EscapeScanner
from mewarden.redirect.session import RedirectionSession
from mewarden.redirect.sol import SolChannel, SolData, SolLineStatus

KEEPALIVE_S = 5.0
DEAD_AFTER_S = 16.0
"""No byte from the device this long (three keep-alives unanswered): the link is gone."""
POLL_S = 0.25
STDIN_EOF_GRACE_S = 1.0
"""After stdin ends (a script piped its keys), how long the host's answer is still shown."""

Notice = Callable[[str], None]


class Transcript:
    """The host's bytes, to ``path`` once the session ends (``None``: no transcript)."""

    def __init__(self, path: str | None) -> None:
        self._final = Path(path) if path else None
        self._part = self._final.with_name(self._final.name + ".part") if self._final else None
        self._file = open(self._part, "wb") if self._part else None  # noqa: SIM115 - closed in finish

    def write(self, data: bytes) -> None:
        if self._file is not None:
            self._file.write(data)

    def finish(self) -> None:
        if self._file is None or self._part is None or self._final is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._part, self._final)

    def __enter__(self) -> Transcript:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[bool]:
    """The terminal on ``fd`` in raw mode for the block (True), untouched when not a tty."""
    if not os.isatty(fd):
        yield False
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(columns, rows) of the terminal on ``fd``, None when it is not one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.columns, size.lines


@dataclass(slots=True, kw_only=True)
class PowerWatch:
    """Tells the user once each time the host's power changes (SOL status bit 4)."""

    notice: Notice
    label: str
    powered: bool | None = None

    def see(self, status: SolLineStatus) -> None:
        if status.host_powered == self.powered:
            return
        if status.host_powered:
            if self.powered is not None:
                self.notice(f"the host behind {self.label} is powered on again")
        else:
            self.notice(
                f"the host behind {self.label} is powered off (AMT's SOL status); its console "
                "stays silent until it is powered on"
            )
        self.powered = status.host_powered


def _sol(session: RedirectionSession) -> SolChannel:
    channel = session.channel
    assert isinstance(channel, SolChannel)  # the console opens SOL sessions only
    return channel


async def _pump_device(
    session: RedirectionSession,
    out_fd: int,
    transcript: Transcript,
    watch: PowerWatch,
) -> None:
    """Host bytes to the terminal, keep-alives out, until the link drops."""
    loop = asyncio.get_running_loop()
    last_ping = loop.time()
    while True:
        for event in await session.receive(POLL_S):
            if isinstance(event, SolData):
                _write_all(out_fd, event.data)
                transcript.write(event.data)
            elif isinstance(event, SolLineStatus):
                watch.see(event)
        now = loop.time()
        if now - session.last_received > DEAD_AFTER_S:
            raise AmtUnreachableError(
                f"the redirection link to {session.label} dropped (no answer for "
                f"{DEAD_AFTER_S:g} s)"
            )
        if now - last_ping >= KEEPALIVE_S:
            last_ping = now
            await session.keep_alive()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


async def _pump_keys(session: RedirectionSession, in_fd: int, *, read_only: bool) -> None:
    """Keys to the host until the escape (or the end of stdin, after a grace period)."""
    loop = asyncio.get_running_loop()
    keys: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(in_fd, 4096)
        except OSError:
            data = b""
        keys.put_nowait(data)
        if not data:
            loop.remove_reader(in_fd)

    loop.add_reader(in_fd, readable)
    scanner = EscapeScanner()
    try:
        while True:
            data = await keys.get()
            if not data:
                await asyncio.sleep(STDIN_EOF_GRACE_S)
                return
            send, leave = scanner.feed(data)
            if send and not read_only:
                _sol(session).send(send)
                await session.flush()
            if leave:
                return
    finally:
        loop.remove_reader(in_fd)


async def run_interactive(
    session: RedirectionSession,
    *,
    in_fd: int,
    out_fd: int,
    read_only: bool,
    transcript: Transcript,
    notice: Notice,
) -> None:
    """Until the escape, the end of stdin, a signal (SIGTERM, SIGHUP) or the link dropping."""
    loop = asyncio.get_running_loop()
    watch = PowerWatch(notice=notice, label=session.label)
    device = asyncio.create_task(_pump_device(session, out_fd, transcript, watch))
    keys = asyncio.create_task(_pump_keys(session, in_fd, read_only=read_only))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({device, keys, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        for task in (device, keys, stopper):
            task.cancel()
        await asyncio.gather(device, keys, stopper, return_exceptions=True)
    if device.done() and not device.cancelled() and device.exception() is not None:
        session.abort()
        raise device.exception()  # type: ignore[misc]
    await session.aclose()


async def run_capture(
    session: RedirectionSession, *, seconds: float, transcript: Transcript, notice: Notice
) -> tuple[bytes, bool | None]:
    """What the console shows within ``seconds``; and whether the host is powered (None: the
    device did not say)."""
    loop = asyncio.get_running_loop()
    watch = PowerWatch(notice=notice, label=session.label)
    shown = bytearray()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        for event in await session.receive(min(POLL_S, left)):
            if isinstance(event, SolData):
                shown += event.data
                transcript.write(event.data)
            elif isinstance(event, SolLineStatus):
                watch.see(event)
    await session.aclose()
    return bytes(shown), watch.powered


def stderr_notice(raw: bool) -> Notice:
    """Notices on stderr, one line each (``\\r\\n`` while the terminal is raw)."""
    end = "\r\n" if raw else "\n"

    def notice(text: str) -> None:
        sys.stderr.write(f"{end if raw else ''}mewarden: {text}{end}")
        sys.stderr.flush()

    return notice
