"""A test PKI for ACM activation, built with ``cryptography``: root CA, intermediate CA and an
AMT provisioning certificate (EKU 2.16.840.1.113741.1.2.3), packed as a PFX."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    pkcs12,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mewarden.amt.acm_crypto import AMT_PROVISIONING_OID

PFX_PASSWORD = "Pfx-Secret-42"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: str,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, AMT_PROVISIONING_OID])
        builder = builder.add_extension(usage, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True, slots=True)
class Pki:
    root: x509.Certificate
    pfx: Path
    leaf_cn: str

    @property
    def root_sha256(self) -> bytes:
        return hashlib.sha256(self.root.public_bytes(Encoding.DER)).digest()


def build_pki(directory: Path, *, leaf_cn: str = "amtprov.corp.example") -> Pki:
    """Root -> intermediate -> provisioning leaf; the PFX holds the leaf key and all three."""
    root_key, inter_key, leaf_key = _key(), _key(), _key()
    root = _certificate("Test Root CA", root_key, "Test Root CA", root_key, ca=True)
    inter = _certificate("Test Issuing CA", inter_key, "Test Root CA", root_key, ca=True)
    leaf = _certificate(leaf_cn, leaf_key, "Test Issuing CA", inter_key, ca=False)
    data = pkcs12.serialize_key_and_certificates(
        b"provisioning",
        leaf_key,
        leaf,
        [root, inter],  # out of order on purpose: mewarden orders the chain itself
        BestAvailableEncryption(PFX_PASSWORD.encode()),
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "provisioning.pfx"
    path.write_bytes(data)
    return Pki(root=root, pfx=path, leaf_cn=leaf_cn)
