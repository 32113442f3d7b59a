"""Heartbeats pushed by nodes (pure): the wire format, its HMAC, and the key file.

A node may push ``POST /heartbeat`` to any controller replica (``heal run --heartbeat-listen``).
The body is a small JSON object ``{"node": NAME, "counter": N}``; the header
``X-Mewarden-Signature`` carries ``hex(HMAC-SHA256(key, "mewarden-heartbeat-v1\\n" + body))``
over the exact body bytes, with the node's own heartbeat key (``mewarden heal heartbeat-key``,
sealed in the vault under purpose ``heartbeat``). ``counter`` must rise from one heartbeat to
the next (Unix time in milliseconds does, across reboots, without state on the node): the
receiver stores the highest accepted counter per node and rejects any other as a replay.

What a heartbeat means to the controller is in :mod:`mewarden.heal.controller` and docs/heal.md:
only a *stale* one has an effect (the node is probed at once); it never causes or prevents an
action by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import StrEnum

from mewarden.errors import BadInputError

PURPOSE = "heartbeat"
"""Vault purpose of a node's heartbeat key (part of the sealed secret's associated data)."""
SIGNATURE_HEADER = "x-mewarden-signature"
PATH = "/heartbeat"
KEY_BYTES = 32
MAX_BODY = 1024
MAX_COUNTER = 2**63 - 1
"""The stored counter is a signed 64-bit integer."""
_DOMAIN = b"mewarden-heartbeat-v1\n"
_KEY_FORMAT = "mewarden-heartbeat-key-v1"


class Rejection(StrEnum):
    """Why a heartbeat was not accepted (metric label and HTTP answer)."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class Claim:
    """What a heartbeat body says (not yet authenticated)."""

    node: str
    counter: int


def signature(key: bytes, body: bytes) -> str:
    """The signature header value for ``body``."""
    return hmac.new(key, _DOMAIN + body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, given: str) -> bool:
    """Whether ``given`` is the signature of ``body`` under ``key`` (constant-time compare)."""
    return hmac.compare_digest(signature(key, body), given.strip().lower())


def encode(node: str, counter: int, key: bytes) -> tuple[bytes, str]:
    """A sender's (body, signature header) for one heartbeat."""
    body = json.dumps({"node": node, "counter": counter}, separators=(",", ":")).encode()
    return body, signature(key, body)


def parse(body: bytes) -> Claim | None:
    """The claim in a heartbeat body, or None when it is not one (size, JSON, types)."""
    if len(body) > MAX_BODY:
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    node, counter = data.get("node"), data.get("counter")
    if not isinstance(node, str) or not 0 < len(node) <= 128:
        return None
    if isinstance(counter, bool) or not isinstance(counter, int):
        return None
    if not 0 <= counter <= MAX_COUNTER:
        return None
    return Claim(node=node, counter=counter)


def key_file_text(node: str, key: bytes) -> str:
    """The content of a node's heartbeat key file (JSON; the key in hex)."""
    body = {"format": _KEY_FORMAT, "node": node, "key": key.hex(), "path": PATH}
    return json.dumps(body, indent=2) + "\n"


def key_from_file_text(text: str) -> tuple[str, bytes]:
    """(node, key) from a key file's content; BadInputError when it is not one."""
    try:
        data = json.loads(text)
        if data.get("format") != _KEY_FORMAT:
            raise ValueError("not a heartbeat key file")
        key = bytes.fromhex(data["key"])
        node = str(data["node"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadInputError("not a mewarden heartbeat key file") from None
    if len(key) != KEY_BYTES:
        raise BadInputError("heartbeat key file: the key must be 32 bytes")
    return node, key
