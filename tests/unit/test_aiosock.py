"""A socket read by a cancelled task is closed only after asyncio's cleanup for it has run, so a
new connection that reuses the descriptor keeps working (the race that hung an LMS activation)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from mewarden.aiosock import cancel_then_close


async def _reader(sock: socket.socket) -> None:
    await asyncio.get_running_loop().sock_recv(sock, 1024)


def _cancel_and_close_at_once(tasks: list[asyncio.Task[None]], sock: socket.socket) -> None:
    """What the LME code did before: cancel, then close the socket straight away."""
    for task in tasks:
        task.cancel()
    sock.close()


async def _reuse_after(close: Any) -> tuple[str, list[str], bool]:
    """("ok" | "hung" | "not reused", errors asyncio reported) for a new connection made right
    after ``close`` ran on a socket a cancelled task was reading, and whether that socket ended
    up closed."""
    loop = asyncio.get_running_loop()
    problems: list[str] = []
    loop.set_exception_handler(lambda _, context: problems.append(str(context.get("exception"))))
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    task = asyncio.create_task(_reader(ours))
    await asyncio.sleep(0)  # the reader is registered for ours' descriptor
    old_fd = ours.fileno()
    close([task], ours)
    a, b = socket.socketpair()  # the lowest free descriptors: often ours' again
    reused = old_fd in (a.fileno(), b.fileno())
    reader, writer = await asyncio.open_connection(sock=a)
    b.sendall(b"hello")
    try:
        outcome = "ok" if await asyncio.wait_for(reader.read(5), 2) == b"hello" else "hung"
    except TimeoutError:
        outcome = "hung"
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    closed = ours.fileno() == -1
    writer.close()
    for s in (b, theirs):
        s.close()
    return outcome if reused else "not reused", problems, closed


def test_a_reused_descriptor_keeps_working_after_cancel_then_close() -> None:
    outcome, problems, closed = asyncio.run(_reuse_after(cancel_then_close))
    assert outcome in ("ok", "not reused")
    assert problems == []
    assert closed  # once the cancelled reader finished


def test_closing_at_once_is_the_race_this_guards_against() -> None:
    outcome, problems, _ = asyncio.run(_reuse_after(_cancel_and_close_at_once))
    if outcome == "not reused":
        return  # the kernel handed out other numbers this time: nothing to show
    assert outcome == "hung" or problems  # the new connection's reader was lost or clashed
