"""The ``pow`` PKCS#1 v1.5 check agrees with ``cryptography`` on valid, tampered and foreign
signatures, and PSS still goes through ``cryptography``."""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from mewarden.firmware.me.signature import sign_for_tests, verify


@cache
def _key(bits: int, exponent: int = 65537) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=exponent, key_size=bits)


def _public_le(key: rsa.RSAPrivateKey) -> tuple[bytes, int]:
    numbers = key.public_key().public_numbers()
    return numbers.n.to_bytes(key.key_size // 8, "little"), numbers.e


def _cryptography_says(key: rsa.RSAPrivateKey, signature_le: bytes, message: bytes) -> bool:
    try:
        key.public_key().verify(signature_le[::-1], message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # InvalidSignature or a malformed input: both mean "no"
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(message=st.binary(max_size=600), flip=st.integers(min_value=-1, max_value=255))
def test_pkcs1v15_agrees_with_cryptography(message: bytes, flip: int) -> None:
    key = _key(2048)
    modulus, exponent = _public_le(key)
    signature = bytearray(sign_for_tests(key, message))
    if flip >= 0:
        signature[flip] ^= 0x01
    ours = verify(
        modulus_le=modulus, exponent=exponent, signature_le=bytes(signature), message=message
    )
    assert ours is _cryptography_says(key, bytes(signature), message)
    assert ours is (flip < 0)


def test_a_signature_of_another_message_or_key_fails() -> None:
    key, other = _key(2048), _key(2048, 3)
    modulus, exponent = _public_le(key)
    signature = sign_for_tests(key, b"manifest")
    assert verify(
        modulus_le=modulus, exponent=exponent, signature_le=signature, message=b"manifest"
    )
    assert not verify(modulus_le=modulus, exponent=exponent, signature_le=signature, message=b"x")
    foreign = sign_for_tests(other, b"manifest")
    assert not verify(
        modulus_le=modulus, exponent=exponent, signature_le=foreign, message=b"manifest"
    )


def test_a_hash_only_block_without_padding_fails() -> None:
    """me_cleaner accepts any block ending in the hash; the whole encoding must match here."""
    import hashlib

    key = _key(2048)
    numbers = key.private_numbers()
    n = numbers.public_numbers.n
    block = int.from_bytes(hashlib.sha256(b"m").digest(), "big")  # no 00 01 FF.. DigestInfo
    forged = pow(block, numbers.d, n).to_bytes(256, "big")[::-1]
    modulus, exponent = _public_le(key)
    assert not verify(modulus_le=modulus, exponent=exponent, signature_le=forged, message=b"m")


def test_pss_3072_goes_through_cryptography() -> None:
    key = _key(3072)
    modulus, exponent = _public_le(key)
    signature = sign_for_tests(key, b"csme16")
    assert verify(modulus_le=modulus, exponent=exponent, signature_le=signature, message=b"csme16")
    bad = bytes([signature[0] ^ 1]) + signature[1:]
    assert (
        verify(modulus_le=modulus, exponent=exponent, signature_le=bad, message=b"csme16") is False
    )
