"""Admin-control-mode activation crypto (pure): the provisioning certificate and the nonces.

Reference ``amt.md`` §1.11: the provisioning certificate (a PFX) must chain to a root whose
SHA-256 (of its DER) is in the firmware's trusted hash list, and its leaf's CN must lie in the
device's PKI DNS suffix. The chain is injected leaf first. AdminSetup carries a 20-byte
McNonce and ``DigitalSignature = base64(RSA-SHA256-sign(fwNonce || McNonce))`` with the leaf's
private key, PKCS#1 v1.5, ``SigningAlgorithm = 2`` (firmware has no SHA-384 here).
Randomness is injected: the caller passes the McNonce.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID

from mewarden.errors import BadInputError, RefusedError
from mewarden.secret import Secret

SIGNING_ALGORITHM_RSA_SHA256 = 2
MC_NONCE_BYTES = 20
AMT_PROVISIONING_OID = x509.ObjectIdentifier("2.16.840.1.113741.1.2.3")
"""The Intel AMT provisioning extended key usage a provisioning certificate carries."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisioningCertificate:
    """A loaded PFX: the chain leaf first, root last, and the leaf's key (never printed)."""

    chain: tuple[x509.Certificate, ...]
    key: rsa.RSAPrivateKey = field(repr=False)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def root_sha256(self) -> str:
        return hashlib.sha256(self.chain[-1].public_bytes(Encoding.DER)).hexdigest()

    @property
    def leaf_cn(self) -> str:
        return common_name(self.leaf)

    def chain_der(self) -> tuple[bytes, ...]:
        return tuple(c.public_bytes(Encoding.DER) for c in self.chain)


def common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def order_chain(leaf: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """``leaf`` then each issuer found in ``others``; refuses a chain that ends unrooted."""
    chain = [leaf]
    pool = list(others)
    while chain[-1].issuer != chain[-1].subject:
        parent = next((c for c in pool if _issued_by(chain[-1], c)), None)
        if parent is None:
            issuer = chain[-1].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
            missing = str(issuer[0].value) if issuer else chain[-1].issuer.rfc4514_string()
            raise BadInputError(
                f"the provisioning certificate's chain stops at {common_name(chain[-1])!r}: "
                f"its issuer {missing!r} is not in the PFX, which must carry the whole chain"
            )
        pool.remove(parent)
        chain.append(parent)
    return chain


def load_pfx(
    data: bytes, password: Secret, *, name: str = "certificate file"
) -> ProvisioningCertificate:
    """Decode a PKCS#12 file; a wrong password or a broken file is a one-line error."""
    try:
        key, leaf, others = pkcs12.load_key_and_certificates(
            data, password.reveal().encode() if password else None
        )
    except ValueError:
        raise BadInputError(
            f"{name}: cannot open the PFX (wrong certificate password, or not a PKCS#12 file)"
        ) from None
    if leaf is None or key is None:
        raise BadInputError(f"{name}: the PFX holds no certificate with its private key")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BadInputError(f"{name}: the provisioning key must be RSA (AMT signs RSA-SHA256)")
    return ProvisioningCertificate(chain=tuple(order_chain(leaf, list(others))), key=key)


def domain_matches(cn: str, suffix: str) -> bool:
    """Whether the leaf's CN (``host.example.com`` or ``*.example.com``) is in ``suffix``."""
    name = cn.lower().removeprefix("*.").rstrip(".")
    wanted = suffix.lower().strip().rstrip(".")
    return bool(wanted) and (name == wanted or name.endswith("." + wanted))


def check_against_device(
    certificate: ProvisioningCertificate, trusted_sha256: set[str], dns_suffix: str
) -> None:
    """The two checks made before anything is changed; :class:`RefusedError` names the mismatch."""
    root = certificate.root_sha256
    if root not in trusted_sha256:
        raise RefusedError(
            f"the provisioning certificate's root ({common_name(certificate.chain[-1])!r}, "
            f"SHA-256 {root}) is not among the device's {len(trusted_sha256)} active trusted "
            "root hashes; nothing was changed"
        )
    if not domain_matches(certificate.leaf_cn, dns_suffix):
        where = f"PKI DNS suffix {dns_suffix!r}" if dns_suffix else "no PKI DNS suffix"
        raise RefusedError(
            f"the provisioning certificate is for {certificate.leaf_cn!r} but the device has "
            f"{where} (DHCP option 15 or MEBx); nothing was changed"
        )


def signed_material(fw_nonce: bytes, mc_nonce: bytes) -> bytes:
    """What AdminSetup's signature covers: the firmware's nonce, then ours."""
    return fw_nonce + mc_nonce


def sign_nonces(key: rsa.RSAPrivateKey, fw_nonce: bytes, mc_nonce: bytes) -> str:
    """base64 of the PKCS#1 v1.5 RSA-SHA256 signature over fwNonce || McNonce."""
    if len(mc_nonce) != MC_NONCE_BYTES:
        raise ValueError("McNonce must be 20 bytes")
    signature = key.sign(signed_material(fw_nonce, mc_nonce), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_nonce_signature(
    certificate: x509.Certificate, fw_nonce: bytes, mc_nonce: bytes, signature: bytes
) -> bool:
    """The firmware's side of :func:`sign_nonces` (the emulator uses it)."""
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(
            signature, signed_material(fw_nonce, mc_nonce), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True
