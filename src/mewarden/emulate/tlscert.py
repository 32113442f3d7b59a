"""Per-device self-signed TLS certificates for port 16993 (``cryptography``).

Generating an RSA key per device would take minutes for 10,000 devices, so one RSA-2048 key is
made per fleet and each device gets its own self-signed certificate (own subject, serial and
SHA-256 fingerprint, so pinning behaves per device). Certificates are made on the device's
first TLS connection and, with a state directory, cached there (``tls/``, key mode 0600).
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from collections import OrderedDict
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mewarden.fsutil import atomic_write_bytes

_CONTEXT_CACHE = 256


class CertificateStore:
    """Makes, caches and loads the device certificates of one fleet."""

    def __init__(self, state_dir: Path | None) -> None:
        self._dir = (state_dir / "tls") if state_dir is not None else None
        self._key: rsa.RSAPrivateKey | None = None
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def _private_key(self) -> rsa.RSAPrivateKey:
        if self._key is not None:
            return self._key
        path = self._dir / "fleet-key.pem" if self._dir is not None else None
        if path is not None and path.is_file():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(loaded, rsa.RSAPrivateKey):
                self._key = loaded
                return loaded
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, _key_pem(key), mode=0o600)
        self._key = key
        return key

    def certificate_pem(self, address: str, uuid: str) -> bytes:
        """The device's certificate (PEM), made on first use."""
        path = self._dir / f"{address}.crt" if self._dir is not None else None
        if path is not None and path.is_file():
            return path.read_bytes()
        key = self._private_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"iAMT-{uuid}"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, address),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, pem)
        return pem

    def context(self, address: str, uuid: str) -> ssl.SSLContext:
        """A server SSL context for the device (a small LRU keeps memory bounded)."""
        cached = self._contexts.get(address)
        if cached is not None:
            self._contexts.move_to_end(address)
            return cached
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as tmp:
            cert_path = Path(tmp) / "cert.pem"
            key_path = Path(tmp) / "key.pem"
            cert_path.write_bytes(self.certificate_pem(address, uuid))
            key_path.touch(mode=0o600)
            key_path.write_bytes(_key_pem(self._private_key()))
            ctx.load_cert_chain(cert_path, key_path)
        self._contexts[address] = ctx
        while len(self._contexts) > _CONTEXT_CACHE:
            self._contexts.popitem(last=False)
        return ctx


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
