"""VNC Authentication (RFC 6143 §7.2.2): the server sends a 16-byte challenge, the client
answers with it DES-encrypted (ECB) under the password.

The key is the password's first 8 bytes (zero-padded) with the bits of each byte reversed — the
RFB quirk every VNC implementation follows. DES comes from ``cryptography``: Triple-DES with the
same 8-byte key three times is single DES.
"""

from __future__ import annotations

import hmac

from mewarden.secret import Secret

CHALLENGE_LENGTH = 16
KEY_LENGTH = 8
_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def des_key(password: Secret) -> bytes:
    """The DES key of a VNC password (at most 8 bytes count)."""
    raw = password.reveal().encode("latin-1", "replace")[:KEY_LENGTH].ljust(KEY_LENGTH, b"\0")
    return raw.translate(_REVERSED)


def response(password: Secret, challenge: bytes) -> bytes:
    """The client's 16-byte answer to ``challenge``."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    if len(challenge) != CHALLENGE_LENGTH:
        raise ValueError("a VNC challenge is 16 bytes")
    encryptor = Cipher(TripleDES(des_key(password) * 3), modes.ECB()).encryptor()  # noqa: S305 - RFB mandates DES-ECB
    return encryptor.update(challenge) + encryptor.finalize()


def verify(password: Secret, challenge: bytes, answer: bytes) -> bool:
    """Whether ``answer`` proves knowledge of ``password`` (constant-time compare)."""
    return len(answer) == CHALLENGE_LENGTH and hmac.compare_digest(
        response(password, challenge), answer
    )
