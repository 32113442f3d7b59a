"""The async client against the fake AMT: digest reuse, pinning, every error kind."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from mewarden.amt import power
from mewarden.amt.client import AmtClient, Endpoint, _ssl_context, normalize_pin
from mewarden.amt.power import PowerAction
from mewarden.errors import (
    AmtAuthError,
    AmtBusyError,
    AmtTimeoutError,
    AmtUnreachableError,
    BadInputError,
    TlsPinMismatchError,
    WsmanError,
    WsmanFaultError,
)
from mewarden.secret import Secret
from mewarden.wsman.resources import PowerState
from tests.amt.conftest import Certificate, Running, make_certificate
from tests.amt.fakeamt import FakeAmt, start
from tests.support import require_corpus

CONCURRENCY_REASON = "The action could not be completed due to concurrency or locking problems."


async def test_one_challenge_then_nonce_reuse_with_rising_nc(amt: Running) -> None:
    async with AmtClient(amt.endpoint()) as client:
        for _ in range(5):
            status = await power.read_power(client)
            assert status.state is PowerState.POWER_ON
    # the fake checks nc > previous nc for the nonce, so five accepted calls prove reuse
    assert amt.fake.challenges == 1
    assert client.auth.challenges == 1
    assert len(amt.fake.seen) == 5
    assert amt.fake.connections == 2  # the 401 closes the first connection; then keep-alive


async def test_stale_nonce_gets_one_fresh_challenge(amt: Running) -> None:
    async with AmtClient(amt.endpoint()) as client:
        await power.read_power(client)
        amt.fake.nonces.clear()  # the device forgets the nonce (reboot, expiry)
        await power.read_power(client)
    assert amt.fake.challenges == 2
    assert len(amt.fake.seen) == 2


async def test_wrong_password_is_auth_error_without_the_password(amt: Running) -> None:
    wrong = "Wr0ng-Secret!"
    async with AmtClient(amt.endpoint(password=Secret(wrong))) as client:
        with pytest.raises(AmtAuthError) as info:
            await power.read_power(client)
    assert wrong not in str(info.value)
    assert "\n" not in str(info.value)
    assert not amt.fake.seen


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_host() -> None:
    endpoint = Endpoint(host="127.0.0.1", port=_closed_port(), password=Secret("x"), retries=0)
    async with AmtClient(endpoint) as client:
        with pytest.raises(AmtUnreachableError) as info:
            await power.read_power(client)
    assert "cannot connect" in str(info.value)
    assert info.value.exit_code == 4


async def test_slow_reply_times_out(amt: Running) -> None:
    amt.fake.delay_s = 1.0
    async with AmtClient(amt.endpoint(timeout_s=0.2, retries=0)) as client:
        with pytest.raises(AmtTimeoutError):
            await power.read_power(client)


async def test_timed_out_read_is_not_retried(amt: Running) -> None:
    """The device may still be working on it: a retry would collide and report "busy"."""
    amt.fake.delay_s = 1.0
    async with AmtClient(amt.endpoint(timeout_s=0.2, retries=2)) as client:
        with pytest.raises(AmtTimeoutError):
            await power.read_power(client)
    assert len(amt.fake.seen) == 1


async def test_fault_reply_is_typed(amt: Running) -> None:
    amt.fake.faults["Get"] = ("b:DestinationUnreachable", "No route can be determined.")
    async with AmtClient(amt.endpoint()) as client:
        with pytest.raises(WsmanFaultError) as info:
            await power.read_power(client)
    assert info.value.subcode == "DestinationUnreachable"


async def test_busy_read_is_retried(amt: Running) -> None:
    amt.fake.faults["Get"] = ("c:Concurrency", CONCURRENCY_REASON)
    async with AmtClient(amt.endpoint()) as client:
        status = await power.read_power(client)
    assert status.state is PowerState.POWER_ON
    assert [s.method for s in amt.fake.seen] == ["Get", "Get"]


async def test_busy_power_change_is_not_retried(amt: Running) -> None:
    amt.fake.faults["RequestPowerStateChange"] = ("c:Concurrency", CONCURRENCY_REASON)
    async with AmtClient(amt.endpoint()) as client:
        with pytest.raises(AmtBusyError):
            await power.change_power(client, PowerAction.RESET)
    assert [s.method for s in amt.fake.seen] == ["RequestPowerStateChange"]


async def test_malformed_xml_reply(amt: Running) -> None:
    amt.fake.malformed.add("Get")
    async with AmtClient(amt.endpoint(retries=0)) as client:
        with pytest.raises(WsmanError) as info:
            await power.read_power(client)
    assert "well-formed" in str(info.value)


async def test_one_request_in_flight_per_device(amt: Running) -> None:
    in_flight = 0
    peak = 0

    def observe(_: object) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    amt.fake.on_request = observe
    amt.fake.delay_s = 0.01
    async with AmtClient(amt.endpoint()) as client:

        async def read() -> None:
            await power.read_power(client)
            nonlocal in_flight
            in_flight -= 1

        await asyncio.gather(*(read() for _ in range(6)))
    assert peak == 1
    assert len(amt.fake.seen) == 6


async def test_tls_trust_on_first_use_reports_the_pin(
    amt_tls: Running, certificate: Certificate
) -> None:
    async with AmtClient(amt_tls.endpoint(tls=True)) as client:
        await power.read_power(client)
    assert client.observed_pin == certificate.sha256


async def test_tls_strict_pin_accepts_the_right_certificate(
    amt_tls: Running, certificate: Certificate
) -> None:
    pin = ":".join(certificate.sha256[i : i + 2] for i in range(0, 64, 2)).upper()
    async with AmtClient(amt_tls.endpoint(tls=True, pin_sha256=pin)) as client:
        status = await power.read_power(client)
    assert status.is_on


async def test_tls_pin_mismatch_stops_before_credentials_are_used(amt_tls: Running) -> None:
    async with AmtClient(amt_tls.endpoint(tls=True, pin_sha256="ab" * 32)) as client:
        with pytest.raises(TlsPinMismatchError) as info:
            await power.read_power(client)
    assert info.value.exit_code == 8
    assert not amt_tls.fake.seen  # no authenticated request reached the impostor


async def test_plain_client_on_tls_port_fails_cleanly(amt_tls: Running) -> None:
    async with AmtClient(amt_tls.endpoint(retries=0)) as client:
        with pytest.raises(AmtUnreachableError):
            await power.read_power(client)


def test_bad_pin_is_bad_input() -> None:
    with pytest.raises(BadInputError):
        normalize_pin("abc")
    assert normalize_pin("AB:" * 31 + "AB") == "ab" * 32


def test_endpoint_repr_hides_the_password() -> None:
    endpoint = Endpoint(host="h", password=Secret("hunter2-Secret"))
    assert "hunter2" not in repr(endpoint)
    assert endpoint.url == "http://h:16992/wsman"
    assert Endpoint(host="h", password=Secret("x"), tls=True).url == "https://h:16993/wsman"


async def test_impostor_after_reconnect_gets_no_request(tmp_path: Path) -> None:
    """TOFU then strict: a different certificate on a later connection is refused at the
    handshake, before the kept nonce's Authorization header (or anything) is written."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    genuine, impostor_cert = make_certificate(tmp_path / "a"), make_certificate(tmp_path / "b")
    real = FakeAmt(corpus=require_corpus())
    server, port = await start(real, tls=_server_context(genuine))
    endpoint = Endpoint(host="127.0.0.1", port=port, tls=True, password=Secret(real.password))
    async with AmtClient(endpoint) as client:
        await power.read_power(client)
        assert client.observed_pin == genuine.sha256
        server.close()
        for writer in list(real.writers):
            writer.close()
        await server.wait_closed()
        impostor = FakeAmt(corpus=require_corpus())
        fake_server, _ = await start(impostor, tls=_server_context(impostor_cert), port=port)
        try:
            with pytest.raises(TlsPinMismatchError):
                await power.read_power(client)
        finally:
            fake_server.close()
    assert impostor.requests_received == 0


def _server_context(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    return context


def test_legacy_ciphers_only_on_request() -> None:
    modern = _ssl_context(Endpoint(host="h", password=Secret("x"), tls=True))
    legacy = _ssl_context(Endpoint(host="h", password=Secret("x"), tls=True, legacy_ciphers=True))
    names = {c["name"] for c in legacy.get_ciphers()}
    assert "AES128-SHA" in names  # TLS_RSA_WITH_AES_128_CBC_SHA
    assert "AES128-SHA" not in {c["name"] for c in modern.get_ciphers()}
    assert legacy.minimum_version == ssl.TLSVersion.TLSv1
