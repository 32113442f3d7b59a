"""TLS certificate pinning for the AMT client (pure): the certificate's SHA-256, strict or TOFU.

AMT certificates are self-signed, so the SHA-256 fingerprint is the trust anchor. The transport
(:mod:`mewarden.amt.transport`) runs the check right after every TLS handshake, before a single
byte of HTTP is written on the connection, so neither a request nor a Digest response ever
reaches an impostor (also on the reconnects that follow AMT's ``Connection: close``, when the
kept nonce lets the first request carry an ``Authorization`` header).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from mewarden.errors import BadInputError, TlsPinMismatchError

Verify = Callable[[bytes | None], None]
"""Called with the peer certificate (DER); raises :class:`TlsPinMismatchError` to refuse it."""

_HEX = frozenset("0123456789abcdef")


def normalize_pin(pin: str) -> str:
    """Lower-case hex without separators; a bad pin is bad input."""
    cleaned = pin.replace(":", "").replace(" ", "").lower()
    if len(cleaned) != 64 or not _HEX.issuperset(cleaned):
        raise BadInputError("a TLS pin must be a SHA-256 fingerprint: 64 hex digits")
    return cleaned


def check_certificate(der: bytes | None, expected: str | None, label: str) -> str:
    """The certificate's SHA-256 (hex) when it is acceptable: any certificate if ``expected``
    is None (trust on first use), else only the one with that fingerprint."""
    if not der:
        raise TlsPinMismatchError(f"{label} presented no TLS certificate")
    seen = hashlib.sha256(der).hexdigest()
    if expected is not None and not hmac.compare_digest(seen, expected):
        raise TlsPinMismatchError(
            f"the TLS certificate of {label} has SHA-256 {seen}, "
            "not the pinned fingerprint; refusing to talk to it"
        )
    return seen
