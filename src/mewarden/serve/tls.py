"""TLS for ``mewarden serve``: the operator's certificate and key files, or a self-signed
certificate made once (EC P-256, kept in the state directory, key mode 0600) whose SHA-256
fingerprint is printed so browsers and scripts can check it."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mewarden.errors import ConfigError
from mewarden.fsutil import atomic_write_bytes, read_input_file

_VALID_DAYS = 825


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsFiles:
    cert: Path
    key: Path
    fingerprint: str
    """SHA-256 of the certificate (DER), hex with colons."""


def fingerprint(cert_pem: bytes) -> str:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError("the TLS certificate file is not a PEM certificate") from None
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def self_signed(host: str, now: datetime.datetime) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for ``host`` (and localhost), valid from ``now``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mewarden serve {host}")])
    names = {_san(host), x509.DNSName("localhost")}
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(sorted(names, key=str)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_signed(directory: Path, host: str, now: datetime.datetime) -> TlsFiles:
    """The certificate kept in ``directory`` (made on first use)."""
    cert, key = directory / "serve-cert.pem", directory / "serve-key.pem"
    if not (cert.exists() and key.exists()):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_pem, key_pem = self_signed(host, now)
        atomic_write_bytes(key, key_pem, mode=0o600)
        atomic_write_bytes(cert, cert_pem)
    return TlsFiles(cert=cert, key=key, fingerprint=fingerprint(read_input_file(cert)))


def given_files(cert: Path, key: Path) -> TlsFiles:
    read_input_file(key, what="TLS key file")
    pem = read_input_file(cert, what="TLS certificate file")
    return TlsFiles(cert=cert, key=key, fingerprint=fingerprint(pem))
