"""The host agent's wire rules (pure): the ``/healthz`` answer, routing, heartbeat counters.

The agent (:mod:`mewarden.host.agent`, ``mewarden host agent``) is the node side of the heal
controller's liveness detection: it answers the controller's ``GET /healthz`` probe
(:mod:`mewarden.heal.agent`) and may push signed heartbeats (:mod:`mewarden.heal.heartbeat`).
Everything here is bytes and numbers in, values out: no sockets, files or clock.
"""

from __future__ import annotations

import json
from enum import IntEnum

from mewarden.errors import (
    BadInputError,
    MewardenError,
    PeerAuthError,
    PeerBusyError,
    PeerError,
)
from mewarden.heal.agent import split_address
from mewarden.heal.heartbeat import MAX_COUNTER

HEALTH_PATH = "/healthz"
DEFAULT_PORT = 9100
MAX_REQUEST_HEAD = 8192
"""Request line and headers together; a probe sends about 100 bytes."""
MAX_REQUEST_BODY = 1024
"""A probe sends no body at all; anything bigger is refused (413)."""
MAX_REENROLL_FILE = 64
"""The re-enrolment count file holds one integer; more than this is not one."""
JITTER = 0.1
"""Heartbeat intervals vary by up to this fraction either way, so a fleet that booted together
does not push in lockstep."""


class Route(IntEnum):
    """What a request gets: its HTTP status."""

    HEALTH = 200
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405


REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
}


def route(method: bytes, target: bytes) -> Route:
    """``GET /healthz`` (any query string) is the only thing the agent answers."""
    if target.split(b"?", 1)[0] != HEALTH_PATH.encode():
        return Route.NOT_FOUND
    if method != b"GET":
        return Route.METHOD_NOT_ALLOWED
    return Route.HEALTH


def health_body(node: str, reenroll_count: int | None, uptime_s: float) -> bytes:
    """The JSON the controller's probe reads; ``reenroll_count`` only when known."""
    document: dict[str, object] = {"status": "ok", "node": node}
    if reenroll_count is not None:
        document["reenroll_count"] = reenroll_count
    document["uptime_s"] = round(max(uptime_s, 0.0), 3)
    return json.dumps(document, separators=(",", ":")).encode()


def parse_reenroll_count(raw: bytes) -> int | None:
    """The integer in a re-enrolment count file, or None when it holds something else."""
    if len(raw) > MAX_REENROLL_FILE:
        return None
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not text.isdigit():  # also refuses signs, "1_000" and an empty file
        return None
    value = int(text)
    return value if value <= MAX_COUNTER else None


def next_counter(previous: int, now_ms: int) -> int:
    """Milliseconds since the epoch, but always above the last counter sent (a clock step back
    or two heartbeats in one millisecond must not look like a replay)."""
    return min(max(previous + 1, now_ms), MAX_COUNTER)


def jittered(interval_s: float, unit: float) -> float:
    """``interval_s`` moved by up to ``JITTER`` either way; ``unit`` is uniform in [0, 1)."""
    return interval_s * (1.0 + JITTER * (2.0 * unit - 1.0))


def parse_address(
    text: str, *, option: str, default_port: int, any_port: bool = False
) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``[V6][:PORT]`` for an option; BadInputError when it is not one.

    ``any_port``: port 0 (a free one, for a listener) is allowed.
    """
    try:
        host, port = split_address(text.strip(), default_port)
    except ValueError:
        host, port = "", -1
    if not host or not (0 if any_port else 1) <= port < 65536:
        raise BadInputError(f"{option} {text!r}: expected HOST:PORT")
    return host, port


def heartbeat_error(status: int, controller: str) -> MewardenError | None:
    """None for an accepted heartbeat (2xx), else the typed error for the controller's answer."""
    if 200 <= status < 300:
        return None
    where = f"heartbeat to {controller}"
    if status == 401:
        return PeerAuthError(
            f"{where} refused (401): the controller does not know this node's key "
            "(wrong node, or the key file was replaced by 'mewarden heal heartbeat-key')"
        )
    if status == 409:
        return PeerError(
            f"{where} refused as a replay (409): its counter is not above the last accepted one "
            "(did the clock go back?)"
        )
    if status == 503:
        return PeerBusyError(f"{where}: the controller could not record it (503); retry later")
    if status in (400, 404, 405, 413):
        return PeerError(f"{where} refused ({status}): is that a heartbeat receiver?")
    return PeerError(f"{where}: unexpected HTTP status {status}")
