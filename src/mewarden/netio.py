"""Small asyncio + h11 pieces the controller's and the node's tiny HTTP endpoints share.

The host agent (``mewarden host agent``), the heartbeat receiver (``heal run
--heartbeat-listen``) and the controller's agent probe each speak one request per connection
with h11 over asyncio streams; these are the parts that are the same in all of them.
"""

from __future__ import annotations

import asyncio
import contextlib

import h11

READ_SIZE = 4096


class RequestTooLarge(Exception):
    """The request body went past the endpoint's limit (answer 413)."""


async def read_request(
    conn: h11.Connection, reader: asyncio.StreamReader, *, max_body: int
) -> tuple[h11.Request, bytes] | None:
    """One whole request on a server connection: its head and body, or None when the client
    closed first. A head over the connection's ``max_incomplete_event_size`` or bytes that are
    not HTTP raise h11's ``RemoteProtocolError``; a body over ``max_body``,
    :class:`RequestTooLarge` (read no further: the limit is what bounds memory)."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_body:
                raise RequestTooLarge
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None  # h11 ends a message only after its head
            return request, bytes(body)
        else:  # ConnectionClosed: the client went away before a whole request
            return None


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close a stream whose peer may already be gone (a reset then is no error of ours)."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
