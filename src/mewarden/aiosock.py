"""Closing a socket that cancelled asyncio tasks were still reading, without an fd race.

``loop.sock_recv`` registers a reader for the socket's file descriptor and removes it in a
callback that runs after the awaiting task is cancelled. Closing the socket right after
``task.cancel()`` frees the descriptor first; a new connection opened meanwhile can receive the
same number, and the late callback then fails on (or unregisters) the new connection's reader.
That hung an activation through LMS in CI. So the socket is closed once every cancelled task
has finished, which is after asyncio's own cleanup callbacks for it have run.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


def cancel_then_close(tasks: list[asyncio.Task[None]], sock: socket.socket) -> None:
    """Cancel ``tasks`` (all but the running one) and close ``sock`` when they have finished."""
    current = asyncio.current_task()
    pending = [task for task in tasks if task is not current and not task.done()]
    if not pending:
        _close(sock)
        return
    remaining = len(pending)

    def finished(_: asyncio.Task[None]) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            _close(sock)

    for task in pending:
        task.add_done_callback(finished)
        task.cancel()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
