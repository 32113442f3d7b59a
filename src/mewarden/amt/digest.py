"""HTTP Digest for AMT as an httpx ``Auth`` flow: one challenge, then nonce reuse with rising nc.

AMT (like Intel's and MeshCentral's clients, reference §1.2 and §6) accepts one nonce for many
requests as long as ``nc`` increases, so after the first 401 every request carries an
``Authorization`` header and costs one round trip. A 401 on a request that carried one means
the nonce went stale (or the password is wrong): the flow takes the fresh challenge and tries
exactly once more; a second 401 is returned to the caller, which reports an auth failure.

Only ``qop=auth`` (and RFC 2069 without qop) is implemented; ``auth-int`` offers also list
``auth`` on the firmware the reference describes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

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


class AmtDigestAuth(httpx.Auth):
    """Digest auth that keeps the nonce; ``check`` sees every response first (TLS pinning)."""

    requires_response_body = False

    def __init__(
        self,
        username: str,
        password: Secret,
        *,
        check: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self._username = username
        self._password = password
        self._check = check
        self._challenge: Challenge | None = None
        self._ha1 = ""
        self._nc = 0
        self.challenges = 0
        """How many 401 challenges this auth has answered (for tests and benchmarks)."""

    def _adopt(self, response: httpx.Response) -> bool:
        header = response.headers.get("www-authenticate", "")
        if not header:
            return False
        self._challenge = parse_challenge(header)
        realm = self._challenge.realm
        self._ha1 = _md5(f"{self._username}:{realm}:{self._password.reveal()}")
        self._nc = 0
        self.challenges += 1
        return True

    def _authorize(self, request: httpx.Request) -> None:
        challenge = self._challenge
        assert challenge is not None
        self._nc += 1
        cnonce = secrets.token_hex(8)
        uri = request.url.raw_path.decode("ascii") or URI
        response = digest_response(
            ha1=self._ha1,
            challenge=challenge,
            method=request.method,
            uri=uri,
            nc=self._nc,
            cnonce=cnonce,
        )
        parts = [
            f'username="{self._username}"',
            f'realm="{challenge.realm}"',
            f'nonce="{challenge.nonce}"',
            f'uri="{uri}"',
            f'response="{response}"',
        ]
        if challenge.qop:
            parts += [f"qop={challenge.qop}", f"nc={self._nc:08x}", f'cnonce="{cnonce}"']
        if challenge.opaque:
            parts.append(f'opaque="{challenge.opaque}"')
        request.headers["Authorization"] = "Digest " + ", ".join(parts)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the kept nonce; on 401 adopt the fresh challenge and try exactly once more."""
        had_auth = self._challenge is not None
        if had_auth:
            self._authorize(request)
        response = yield request
        if self._check is not None:
            self._check(response)
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        if not self._adopt(response):
            return
        self._authorize(request)
        response = yield request
        if self._check is not None:
            self._check(response)
