"""The heartbeat receiver (``heal run --heartbeat-listen``): ``POST /heartbeat``, h11 over asyncio.

Every replica may run one; an accepted heartbeat goes to org state (``heal_heartbeats``), so the
replica holding the node's lease sees it at its next pass whoever received it. A request is
authenticated with the node's heartbeat key from the vault (:mod:`mewarden.heal.heartbeat`);
unknown nodes, nodes without a key and bad signatures get the same answer (401), so the
receiver does not tell which nodes have keys. Keys are kept in memory once read (32 bytes per
node that sent one); a signature that fails is checked once more against the vault, so a new
key (``heal heartbeat-key`` again) takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import h11

from mewarden.errors import MewardenError
from mewarden.heal import heartbeat
from mewarden.heal.heartbeat import Rejection
from mewarden.heal.metrics import HealMetrics
from mewarden.log import get_logger
from mewarden.netio import RequestTooLarge, close_quietly, read_request
from mewarden.state import heal_store
from mewarden.state.store import Store

KeySource = Callable[[str], bytes | None]
"""Node name -> its heartbeat key (None: no such node, or no heartbeat key)."""

READ_TIMEOUT_S = 5.0
_STATUS = {
    None: (204, b"No Content"),
    Rejection.MALFORMED: (400, b"Bad Request"),
    Rejection.UNKNOWN_KEY: (401, b"Unauthorized"),
    Rejection.BAD_SIGNATURE: (401, b"Unauthorized"),
    Rejection.REPLAY: (409, b"Conflict"),
}


class HeartbeatReceiver:
    """Checks heartbeats and records the accepted ones."""

    def __init__(
        self,
        store: Store,
        keys: KeySource,
        *,
        clock: Callable[[], float] = time.time,
        metrics: HealMetrics | None = None,
    ) -> None:
        self.store, self.keys, self.clock = store, keys, clock
        self.metrics = metrics or HealMetrics()
        self._keys: dict[str, bytes] = {}
        self.log = get_logger("mewarden.heal.heartbeat")

    def accept(self, body: bytes, given: str | None) -> Rejection | None:
        """None when the heartbeat is authentic and new (then it is recorded), else why not."""
        result = self._check(body, given)
        self.metrics.heartbeats.labels(result.value if result else "accepted").inc()
        return result

    def _check(self, body: bytes, given: str | None) -> Rejection | None:
        claim = heartbeat.parse(body)
        if claim is None or not given:
            return Rejection.MALFORMED
        key = self._key(claim.node, fresh=False)
        if key is None:
            return Rejection.UNKNOWN_KEY
        if not heartbeat.verify(key, body, given):
            newer = self._key(claim.node, fresh=True)
            if newer is None or newer == key or not heartbeat.verify(newer, body, given):
                return Rejection.BAD_SIGNATURE
        if not heal_store.record_heartbeat(self.store, claim.node, claim.counter, at=self.clock()):
            return Rejection.REPLAY
        return None

    def _key(self, node: str, *, fresh: bool) -> bytes | None:
        key = None if fresh else self._keys.get(node)
        if key is None:
            key = self.keys(node)
            if key is None:
                self._keys.pop(node, None)
            else:
                self._keys[node] = key
        return key

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Listen on ``host:port`` (port 0: any free one; see ``server.sockets``)."""
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=8192)
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                try:
                    status, reason = await self._answer(conn, reader)
                except MewardenError as exc:  # the org database hiccuped: the node sends again
                    self.log.warning("heartbeat not recorded", error=str(exc))
                    status, reason = 503, b"Service Unavailable"
            response = h11.Response(
                status_code=status,
                reason=reason,
                headers=[("Content-Length", "0"), ("Connection", "close")],
            )
            writer.write(conn.send(response) + conn.send(h11.EndOfMessage()))
            await writer.drain()
        except (OSError, TimeoutError, h11.ProtocolError):
            pass
        finally:
            await close_quietly(writer)

    async def _answer(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[int, bytes]:
        try:
            got = await read_request(conn, reader, max_body=heartbeat.MAX_BODY)
        except RequestTooLarge:
            return 413, b"Content Too Large"
        if got is None:  # the client went away before a whole request
            raise h11.RemoteProtocolError("incomplete request")
        request, body = got
        if request.target.split(b"?")[0] != heartbeat.PATH.encode():
            return 404, b"Not Found"
        if request.method != b"POST":
            return 405, b"Method Not Allowed"
        given = dict(request.headers).get(heartbeat.SIGNATURE_HEADER.encode())
        result = self.accept(body, given.decode("ascii", "replace") if given else None)
        return _STATUS[result]
