"""Envelope encryption (pure): AES-256-GCM data keys wrapped by the org key.

Each secret gets its own random 256-bit data key. The secret is sealed with the data key and
associated data naming its node and purpose, so a ciphertext copied to another node's row fails
to open. The data key is sealed with the org key and associated data naming the org key id.
Rotating the org key re-wraps data keys only; secrets are never re-encrypted.

Wire form of both blobs: 12-byte nonce || AES-GCM ciphertext+tag.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mewarden.errors import VaultError
from mewarden.secret import Secret

KEY_BYTES = 32
NONCE_BYTES = 12
_FORMAT = b"mewarden-vault-v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgKey:
    """The org key (256 bits) and its public id (a hash prefix, safe to store and print)."""

    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise VaultError(f"the org key must be {KEY_BYTES} bytes, got {len(self.material)}")

    @property
    def key_id(self) -> str:
        """First 16 hex digits of a domain-separated SHA-256 of the key."""
        return hashlib.sha256(_FORMAT + b"/key-id/" + self.material).hexdigest()[:16]

    @classmethod
    def generate(cls) -> OrgKey:
        """A fresh random org key."""
        return cls(material=os.urandom(KEY_BYTES))


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedSecret:
    """A secret at rest: which org key wrapped its data key, the wrapped key, the ciphertext."""

    key_id: str
    wrapped_key: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


def secret_aad(node: str, purpose: str) -> bytes:
    """Associated data binding a secret to its node and purpose."""
    return b"|".join((_FORMAT, b"secret", node.encode("utf-8"), purpose.encode("utf-8")))


def _wrap_aad(key_id: str) -> bytes:
    return b"|".join((_FORMAT, b"data-key", key_id.encode("ascii")))


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise VaultError(f"{what} is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise VaultError(f"{what} failed to decrypt (wrong org key or tampered data)") from None


def seal(org_key: OrgKey, secret: Secret, *, node: str, purpose: str) -> SealedSecret:
    """Encrypt ``secret`` for ``node``/``purpose`` under a fresh data key."""
    data_key = AESGCM.generate_key(bit_length=256)
    ciphertext = _seal(data_key, secret.reveal().encode("utf-8"), secret_aad(node, purpose))
    wrapped = _seal(org_key.material, data_key, _wrap_aad(org_key.key_id))
    return SealedSecret(key_id=org_key.key_id, wrapped_key=wrapped, ciphertext=ciphertext)


def _unwrap(org_key: OrgKey, sealed: SealedSecret) -> bytes:
    if sealed.key_id != org_key.key_id:
        raise VaultError(
            f"secret was wrapped by org key {sealed.key_id}, but the key given is {org_key.key_id}"
        )
    return _open(org_key.material, sealed.wrapped_key, _wrap_aad(sealed.key_id), "a data key")


def unseal(org_key: OrgKey, sealed: SealedSecret, *, node: str, purpose: str) -> Secret:
    """Decrypt a sealed secret; any mismatch (key, node, purpose, tampering) is a VaultError."""
    data_key = _unwrap(org_key, sealed)
    what = f"the {purpose} secret of node {node}"
    plaintext = _open(data_key, sealed.ciphertext, secret_aad(node, purpose), what)
    return Secret(plaintext.decode("utf-8"))


def rewrap(sealed: SealedSecret, *, old: OrgKey, new: OrgKey) -> SealedSecret:
    """The same secret with its data key wrapped by ``new`` instead of ``old``."""
    data_key = _unwrap(old, sealed)
    wrapped = _seal(new.material, data_key, _wrap_aad(new.key_id))
    return SealedSecret(key_id=new.key_id, wrapped_key=wrapped, ciphertext=sealed.ciphertext)
