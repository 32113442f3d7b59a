"""Fixtures: a fake AMT on loopback (plain or TLS) and clients for it."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mewarden.amt.client import Endpoint
from mewarden.cli.main import main
from mewarden.secret import Secret
from tests.amt.fakeamt import FakeAmt, start
from tests.support import require_corpus


@dataclass
class Running:
    """A started fake and how to reach it."""

    fake: FakeAmt
    port: int

    def endpoint(self, **overrides: object) -> Endpoint:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "password": Secret(self.fake.password),
            "timeout_s": 5.0,
        }
        values.update(overrides)
        return Endpoint(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for the TLS fake, and its SHA-256 fingerprint."""

    cert_file: Path
    key_file: Path
    sha256: str


def make_certificate(directory: Path) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iAMT Fake")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return Certificate(cert_file, key_file, hashlib.sha256(der).hexdigest())


async def _shut(server: asyncio.Server, fake: FakeAmt) -> None:
    server.close()
    for writer in list(fake.writers):
        writer.close()
    await asyncio.sleep(0)  # let the connection handlers see the close and finish
    await server.wait_closed()


@pytest.fixture
async def amt() -> AsyncIterator[Running]:
    fake = FakeAmt(corpus=require_corpus())
    server, port = await start(fake)
    try:
        yield Running(fake, port)
    finally:
        await _shut(server, fake)


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path)


@pytest.fixture
async def amt_tls(certificate: Certificate) -> AsyncIterator[Running]:
    fake = FakeAmt(corpus=require_corpus())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    server, port = await start(fake, tls=context)
    try:
        yield Running(fake, port)
    finally:
        await _shut(server, fake)


class ThreadedFake:
    """The fake AMT served from a background thread (for CLI tests that call asyncio.run)."""

    def __init__(self, fake: FakeAmt, tls: ssl.SSLContext | None = None) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self._tls = tls
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("fake AMT did not start")

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        server, self.port = self.loop.run_until_complete(start(self.fake, tls=self._tls))
        self.server = server
        self.ready.set()
        self.loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture
def threaded_amt() -> Iterator[ThreadedFake]:
    running = ThreadedFake(FakeAmt(corpus=require_corpus()))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def threaded_amt_tls(certificate: Certificate) -> Iterator[ThreadedFake]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    running = ThreadedFake(FakeAmt(corpus=require_corpus()), tls=context)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def amt_cli(
    threaded_amt: ThreadedFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """``amt_cli(*args)`` runs ``mewarden amt --host <the fake> *args`` in-process: (code, out,
    err); ``amt_cli.fake`` is the fake device."""
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", threaded_amt.fake.password)

    def run(*args: str, host: bool = True) -> tuple[int, str, str]:
        argv = ["amt"]
        if host:
            argv += ["--host", f"127.0.0.1:{threaded_amt.port}", "--timeout", "5"]
        with pytest.raises(SystemExit) as info:
            main([*argv, *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return int(info.value.code or 0), out, err

    run.fake = threaded_amt.fake  # type: ignore[attr-defined]
    return run
