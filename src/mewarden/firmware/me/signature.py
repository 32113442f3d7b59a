"""RSA signature check of ``$MN2`` manifests (pure, with ``cryptography``).

Facts (``../shared/reference/firmware.md`` §1.5, §2.3, §6.4): the signed data is
``manifest[0:0x80] + manifest[header_len:size]``; modulus and signature are stored little-endian.
A 2048-bit key means RSASSA-PKCS1-v1_5 with SHA-256 (ME 6 - CSME 15); a 3072-bit key means
RSASSA-PSS with MGF1-SHA-384 and SHA-384 (CSME 16+), the salt length recovered from the
signature. Unlike me_cleaner, which only compares the hash suffix, the full padding is checked.
"""

from __future__ import annotations

import enum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

RSA2048_BYTES = 0x100
RSA3072_BYTES = 0x180


class SignatureScheme(enum.StrEnum):
    """How a manifest is signed."""

    PKCS1V15_SHA256 = "rsa-pkcs1v15-sha256"
    PSS_SHA384 = "rsa-pss-sha384"
    UNKNOWN = "unknown"


def scheme_for_key(key_bytes: int) -> SignatureScheme:
    """The signature scheme implied by the modulus size in bytes."""
    if key_bytes == RSA2048_BYTES:
        return SignatureScheme.PKCS1V15_SHA256
    if key_bytes == RSA3072_BYTES:
        return SignatureScheme.PSS_SHA384
    return SignatureScheme.UNKNOWN


def verify(*, modulus_le: bytes, exponent: int, signature_le: bytes, message: bytes) -> bool | None:
    """True/False for a valid/invalid signature; None when the scheme is unknown or key bad."""
    scheme = scheme_for_key(len(modulus_le))
    modulus = int.from_bytes(modulus_le, "little")
    if scheme is SignatureScheme.UNKNOWN or exponent < 3 or exponent % 2 == 0 or modulus < 3:
        return None
    if len(signature_le) != len(modulus_le):
        return False
    try:
        key = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        return None
    signature = signature_le[::-1]
    try:
        if scheme is SignatureScheme.PKCS1V15_SHA256:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.AUTO)
            key.verify(signature, message, pss, hashes.SHA384())
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_for_tests(private_key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    """Sign ``message`` the way Intel does for the key size (little-endian result)."""
    if private_key.key_size == 3072:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
        return private_key.sign(message, pss, hashes.SHA384())[::-1]
    return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())[::-1]
