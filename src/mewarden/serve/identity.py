"""Roles, password hashes, API token and session secrets (no I/O, no clock).

* Passwords: Argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile).
* API tokens: ``mwt_<token_id>.<secret>``; the id is public (listed, revoked by), the secret is
  32 random bytes stored only as its SHA-256 (a random secret needs no slow hash).
* Sessions: a random cookie value stored only as its SHA-256, with its own CSRF token.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mewarden.errors import BadInputError

TOKEN_PREFIX = "mwt_"  # noqa: S105 - a public prefix, not a secret
_TOKEN = re.compile(r"^mwt_([A-Za-z0-9]{12})\.([A-Za-z0-9_-]{43})$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


class Role(enum.StrEnum):
    """What a user or token may do: each role includes the ones before it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """True when this role may do what ``needed`` may."""
        return self.rank >= needed.rank


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise BadInputError(f"unknown role {text!r} (expected one of: {valid})") from None


def check_user_name(name: str) -> str:
    if not _USER.match(name):
        raise BadInputError(
            f"user name {name[:40]!r} must be 1-64 letters, digits or . _ @ - (no space)"
        )
    return name


def hash_password(password: str) -> str:
    """An Argon2id PHC string; refuses passwords shorter than :data:`MIN_PASSWORD`."""
    if len(password) < MIN_PASSWORD:
        raise BadInputError(f"the password must be at least {MIN_PASSWORD} characters long")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown user) a dummy one is checked, so
    the answer takes as long and is always False."""
    try:
        return _hasher.verify(stored_hash or DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# a hash to verify against when the user does not exist, so timing does not tell names apart
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class NewToken:
    """A freshly minted API token: ``text`` is shown once, the rest is stored."""

    token_id: str
    secret_sha256: str
    text: str


def mint_token() -> NewToken:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    token_id = "".join(secrets.choice(alphabet) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    return NewToken(
        token_id=token_id,
        secret_sha256=sha256_hex(secret),
        text=f"{TOKEN_PREFIX}{token_id}.{secret}",
    )


def split_token(text: str) -> tuple[str, str] | None:
    """(token id, SHA-256 of the secret) of a well-formed token, else None."""
    found = _TOKEN.match(text.strip())
    if found is None:
        return None
    return found.group(1), sha256_hex(found.group(2))


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_session_secret() -> tuple[str, str, str]:
    """(cookie value, its SHA-256 as stored, the session's CSRF token)."""
    value = secrets.token_urlsafe(32)
    return value, sha256_hex(value), secrets.token_urlsafe(32)
