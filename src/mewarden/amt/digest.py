"""HTTP Digest for AMT, sans-IO: one challenge, then nonce reuse with a rising nc.

AMT (like Intel's and MeshCentral's clients, reference §1.2 and §6) accepts one nonce for many
requests as long as ``nc`` increases, so after the first 401 every request carries an
``Authorization`` header and costs one round trip. A 401 on a request that carried one means
the nonce went stale (or the password is wrong): the client (:mod:`mewarden.amt.client`) takes
the fresh challenge and tries exactly once more; a second 401 is an auth failure.

Only ``qop=auth`` (and RFC 2069 without qop) is implemented; ``auth-int`` offers also list
``auth`` on the firmware the reference describes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from mewarden.errors import AmtAuthError
from mewarden.secret import Secret

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
URI = "/wsman"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """The parameters of a ``WWW-Authenticate: Digest`` header."""

    realm: str
    nonce: str
    opaque: str = ""
    qop: str = ""
    algorithm: str = "MD5"
    stale: bool = False


def parse_challenge(header: str) -> Challenge:
    """Parse a Digest challenge (tolerates AMT's missing spaces after commas)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        raise AmtAuthError(f"the device asked for {scheme or 'no'} authentication, not Digest")
    params = {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _PARAM.finditer(rest)}
    if "nonce" not in params or "realm" not in params:
        raise AmtAuthError("the device's Digest challenge has no realm or nonce")
    offered = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if offered and "auth" not in offered:
        raise AmtAuthError(f"the device offers only Digest qop {offered}, not 'auth'")
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise AmtAuthError(f"the device asks for Digest algorithm {algorithm}, not MD5")
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        opaque=params.get("opaque", ""),
        qop="auth" if offered else "",
        algorithm=algorithm,
        stale=params.get("stale", "").lower() == "true",
    )


def digest_response(
    *, ha1: str, challenge: Challenge, method: str, uri: str, nc: int, cnonce: str
) -> str:
    """RFC 2617 response (RFC 2069 form when the challenge had no qop)."""
    ha2 = _md5(f"{method}:{uri}")
    if not challenge.qop:
        return _md5(f"{ha1}:{challenge.nonce}:{ha2}")
    return _md5(f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:{challenge.qop}:{ha2}")


class DigestSession:
    """Sans-IO Digest state for one device: the kept challenge, its HA1 and the nonce count.

    HA1 is as good as the password to an attacker, so neither appears in the repr.
    """

    __slots__ = ("_challenge", "_ha1", "_nc", "_password", "_username", "challenges")

    def __init__(self, username: str, password: Secret) -> None:
        self._username = username
        self._password = password
        self._challenge: Challenge | None = None
        self._ha1 = ""
        self._nc = 0
        self.challenges = 0
        """How many 401 challenges this session has adopted (for tests and benchmarks)."""

    def __repr__(self) -> str:
        return f"DigestSession(username={self._username!r}, challenges={self.challenges})"

    @property
    def ready(self) -> bool:
        """Whether a challenge is kept, so requests can carry ``Authorization`` up front."""
        return self._challenge is not None

    def adopt(self, header: str) -> None:
        """Take a fresh ``WWW-Authenticate`` challenge (the nonce count starts again)."""
        challenge = parse_challenge(header)
        secret = self._password.reveal()
        self._ha1 = _md5(f"{self._username}:{challenge.realm}:{secret}")
        self._challenge = challenge
        self._nc = 0
        self.challenges += 1

    def authorization(self) -> str:
        """The ``Authorization`` value for the next ``POST /wsman`` (the nonce count rises)."""
        challenge = self._challenge
        if challenge is None:
            raise AmtAuthError("no Digest challenge to answer yet")
        self._nc += 1
        cnonce = secrets.token_hex(8)
        response = digest_response(
            ha1=self._ha1, challenge=challenge, method="POST", uri=URI, nc=self._nc, cnonce=cnonce
        )
        value = (
            f'Digest username="{self._username}", realm="{challenge.realm}", '
            f'nonce="{challenge.nonce}", uri="{URI}", response="{response}"'
        )
        if challenge.qop:
            value += f', qop={challenge.qop}, nc={self._nc:08x}, cnonce="{cnonce}"'
        if challenge.opaque:
            value += f', opaque="{challenge.opaque}"'
        return value
