"""HTTP Digest as AMT does it (RFC 2617, qop=auth, MD5), server side (pure).

A nonce stays valid for many requests as long as the client's ``nc`` keeps growing (clients
keep one nonce and count up: go-wsman-messages ``hash.go``, MeshCentral ``amt-wsman-comm.js``).
A replayed or lower ``nc`` is rejected. An empty ``response`` is always rejected unless the
device emulates firmware vulnerable to CVE-2017-5689, which accepted it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from mewarden.secret import Secret

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
MAX_NONCES = 16


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def parse_digest_header(header: str) -> dict[str, str] | None:
    """The parameters of an ``Authorization: Digest ...`` header, or None if not Digest."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }


def expected_response(
    *, ha1: str, nonce: str, nc: str, cnonce: str, qop: str, method: str, uri: str
) -> str:
    ha2 = md5_hex(f"{method}:{uri}")
    return md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


@dataclass(slots=True, kw_only=True)
class DigestAuthority:
    """One device's digest state: realm, the admin's HA1 and the nonces it handed out."""

    realm: str
    username: str
    password: Secret
    accept_empty_response: bool = False
    ha1: str | None = None  # once set (by activation), it replaces the password
    nonces: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def challenge(self, nonce: str) -> str:
        """The ``WWW-Authenticate`` value, formatted as AMT does (no space after two commas)."""
        self.nonces[nonce] = 0
        while len(self.nonces) > MAX_NONCES:
            self.nonces.popitem(last=False)
        return f'Digest realm="{self.realm}", nonce="{nonce}",stale="false",qop="auth"'

    def verify(self, header: str | None, *, method: str, target: str) -> bool:
        """True when ``header`` authenticates ``method target`` for the admin user."""
        if not header:
            return False
        params = parse_digest_header(header)
        if params is None:
            return False
        nonce = params.get("nonce", "")
        uri = params.get("uri", "")
        if (
            params.get("username") != self.username
            or params.get("realm") != self.realm
            or nonce not in self.nonces
            or uri.lstrip("/") != target.lstrip("/")
        ):
            return False
        given = params.get("response", "")
        if given == "" and self.accept_empty_response:
            return True
        if len(given) != 32 or params.get("qop") != "auth":
            return False
        return self._check_counted(params, nonce=nonce, uri=uri, method=method, given=given)

    def _check_counted(
        self, params: dict[str, str], *, nonce: str, uri: str, method: str, given: str
    ) -> bool:
        nc_text = params.get("nc", "")
        try:
            nc = int(nc_text, 16)
        except ValueError:
            return False
        if nc <= self.nonces[nonce]:
            return False  # replay, or a counter that went backwards
        ha1 = self.ha1 or md5_hex(f"{self.username}:{self.realm}:{self.password.reveal()}")
        want = expected_response(
            ha1=ha1,
            nonce=nonce,
            nc=nc_text,
            cnonce=params.get("cnonce", ""),
            qop="auth",
            method=method,
            uri=uri,
        )
        if not hmac.compare_digest(want, given.lower()):
            return False
        self.nonces[nonce] = nc
        return True
