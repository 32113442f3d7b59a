"""RSA signature check of ``$MN2`` manifests (pure, with ``cryptography``).

Facts (``../shared/reference/firmware.md`` §1.5, §2.3, §6.4): the signed data is
``manifest[0:0x80] + manifest[header_len:size]``; modulus and signature are stored little-endian.
A 2048-bit key means RSASSA-PKCS1-v1_5 with SHA-256 (ME 6 - CSME 15); a 3072-bit key means
RSASSA-PSS with MGF1-SHA-384 and SHA-384 (CSME 16+), the salt length recovered from the
signature. Unlike me_cleaner, which only compares the hash suffix, the full padding is checked.

PKCS#1 v1.5 is checked the way RFC 8017 §8.2.2 specifies (encode the expected block, compare it
whole with the public-key operation's result), with Python's ``pow``: loading ``cryptography``
costs more start-up time than me_cleaner's whole run, and every image up to CSME 15 uses this
scheme. PSS (CSME 16+) goes through ``cryptography``, imported when such an image is seen; a
property test checks both paths against ``cryptography`` on random keys and messages.
"""

from __future__ import annotations

import enum

from mewarden.firmware.digest import sha256_digest

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

RSA2048_BYTES = 0x100
RSA3072_BYTES = 0x180
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
"""The DER DigestInfo prefix of a SHA-256 hash (RFC 8017 §9.2, note 1)."""


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
    signature = int.from_bytes(signature_le, "little")
    if signature >= modulus:
        return False
    if scheme is SignatureScheme.PKCS1V15_SHA256:
        return _pkcs1v15_sha256(modulus, exponent, signature, message, len(modulus_le))
    return _pss_sha384(modulus, exponent, signature_le[::-1], message)


def _pkcs1v15_sha256(
    modulus: int, exponent: int, signature: int, message: bytes, size: int
) -> bool:
    """RSASSA-PKCS1-v1_5 verification: the whole encoded block must match (RFC 8017 §8.2.2)."""
    digest_info = SHA256_DIGEST_INFO + sha256_digest(message)
    padding_length = size - 3 - len(digest_info)
    expected = b"\x00\x01" + b"\xff" * padding_length + b"\x00" + digest_info
    return pow(signature, exponent, modulus).to_bytes(size, "big") == expected


def _pss_sha384(modulus: int, exponent: int, signature_be: bytes, message: bytes) -> bool | None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys

    try:
        key = rsa_keys.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        return None
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.AUTO)
    try:
        key.verify(signature_be, message, pss, hashes.SHA384())
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_for_tests(private_key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    """Sign ``message`` the way Intel does for the key size (little-endian result)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if private_key.key_size == 3072:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
        return private_key.sign(message, pss, hashes.SHA384())[::-1]
    return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())[::-1]
