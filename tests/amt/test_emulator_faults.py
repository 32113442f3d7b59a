"""Every fault the emulator injects, mapped to the client's typed error and the CLI's exit code.

Each failing fault is checked three ways: the library raises the typed error (exactly that
class), the CLI exits with that class's exit code and a one-line message without a traceback,
and once the fault is cleared the same command succeeds (so the fault, not the test, caused it).
The behavioural faults (hang-host, flapping, ignore-power, cve-2017-5689) are checked for what
they imply (docs/emulator.md, "Faults").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mewarden.amt import power
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.cli.main import main
from mewarden.errors import (
    AmtError,
    AmtTimeoutError,
    AmtTlsHandshakeError,
    AmtUnreachableError,
    MewardenError,
    TlsPinMismatchError,
    WsmanError,
    WsmanFaultError,
)
from mewarden.secret import Secret
from tests.amt.emulated import PASSWORD, ThreadedEmulator
from tests.emulate.helpers import challenge_params, get

GENERAL = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
TIMEOUT_S = 0.5  # the client's; the emulator's slow fault adds 1.5 s (tests.amt.emulated.FAST)
Result = tuple[int, str, str]


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    """One TLS-capable fleet for the module; every test clears its faults afterwards."""
    with ThreadedEmulator(nodes=2, tls=True) as running:
        yield running


@pytest.fixture
def faulty(emu: ThreadedEmulator) -> Iterator[ThreadedEmulator]:
    emu.clear()
    try:
        yield emu
    finally:
        emu.clear()


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", PASSWORD)

    def run(host: str, *args: str) -> Result:
        argv = ["amt", "--host", host, "--timeout", str(TIMEOUT_S), *args]
        with pytest.raises(SystemExit) as info:
            main(argv)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        assert PASSWORD not in out + err
        return int(info.value.code or 0), out, err

    return run


def _library_error(emu: ThreadedEmulator, *, tls: bool = False) -> MewardenError | None:
    device = emu.device()
    endpoint = Endpoint(
        host=device.address,
        port=device.tls_port if tls else device.http_port,
        tls=tls,
        password=Secret(PASSWORD),
        timeout_s=TIMEOUT_S,
    )

    async def read() -> None:
        async with AmtClient(endpoint) as client:
            await power.read_power(client)

    try:
        asyncio.run(read())
    except MewardenError as exc:
        return exc
    return None


SLOW_S = 1.6  # slow_extra_s of tests.amt.emulated.FAST, plus a margin
# kind, over TLS, the typed error, fragments of its message (any one)
FAILING: list[tuple[str, bool, type[AmtError], tuple[str, ...]]] = [
    ("amt-unreachable", False, AmtTimeoutError, ("did not answer",)),
    ("slow", False, AmtTimeoutError, ("did not answer",)),  # a timeout, not "busy"
    ("refuse", False, AmtUnreachableError, ("cannot connect", "dropped the connection")),
    ("tls-failure", True, AmtTlsHandshakeError, ("TLS",)),
    ("http-500", False, WsmanError, ("HTTP 500",)),
    ("malformed-xml", False, WsmanError, ("well-formed", "not XML")),
]


@pytest.mark.parametrize(("kind", "tls", "error", "fragments"), FAILING)
def test_fault_maps_to_typed_error_and_exit_code(
    faulty: ThreadedEmulator,
    cli: Any,
    kind: str,
    tls: bool,
    error: type[AmtError],
    fragments: tuple[str, ...],
) -> None:
    # an abandoned slow request keeps the device busy until it completes: wait it out
    settle_s = SLOW_S if kind == "slow" else 0.0
    faulty.inject(kind)
    raised = _library_error(faulty, tls=tls)
    assert type(raised) is error, repr(raised)
    assert any(f in str(raised) for f in fragments), str(raised)
    time.sleep(settle_s)

    tls_args = ("--tls",) if tls else ()
    code, out, err = cli(faulty.host(tls=tls), *tls_args, "power", "status", "--json")
    assert code == error.exit_code
    assert len(err.strip().splitlines()) == 1, err
    assert any(f in err for f in fragments), err
    assert out == ""

    faulty.clear()
    time.sleep(settle_s)
    code, out, err = cli(faulty.host(tls=tls), *tls_args, "power", "status", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "power-on"


def test_exit_codes_are_distinct_per_error_family() -> None:
    codes = {
        AmtUnreachableError.exit_code,
        AmtTimeoutError.exit_code,
        AmtTlsHandshakeError.exit_code,
        WsmanError.exit_code,
        WsmanFaultError.exit_code,
    }
    assert codes == {4, 14, 16, 9, 15}
    assert issubclass(AmtTimeoutError, AmtUnreachableError)
    assert issubclass(WsmanFaultError, WsmanError)


def test_hang_host_keeps_amt_answering_with_power_on(faulty: ThreadedEmulator, cli: Any) -> None:
    faulty.inject("hang-host")
    code, out, err = cli(faulty.host(), "power", "status", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "power-on"
    device = faulty.device()
    with socket.create_connection((device.address, device.agent_port), timeout=2) as sock:
        sock.settimeout(0.5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(TimeoutError):  # the agent accepts and never answers
            sock.recv(1)
    code, _, err = cli(faulty.host(), "power", "reset", "--json")
    assert code == 0, err  # the way out of a hung host: AMT still takes a reset


def test_flapping_reads_succeed_through_retries(faulty: ThreadedEmulator, cli: Any) -> None:
    faulty.inject("flapping")
    before = faulty.call(lambda: faulty.device().connections)
    for _ in range(4):
        code, out, err = cli(faulty.host(), "power", "status", "--json")
        assert code == 0, err
        assert json.loads(out)["state"] == "power-on"
    opened = faulty.call(lambda: faulty.device().connections) - before
    assert opened >= 8  # each run needs two good connections (401 + close); half were reset


def test_flapping_power_change_is_not_retried(faulty: ThreadedEmulator, cli: Any) -> None:
    faulty.inject("flapping")
    before = faulty.actions().count(("power-request", "10"))
    succeeded = 0
    for _ in range(4):
        code, _, err = cli(faulty.host(), "power", "reset", "--json")
        assert code in (0, AmtUnreachableError.exit_code), err
        succeeded += code == 0
    # each success is exactly one request on the device: a failed change is never re-sent
    assert faulty.actions().count(("power-request", "10")) - before == succeeded


def test_ignore_power_acknowledges_but_changes_nothing(faulty: ThreadedEmulator, cli: Any) -> None:
    faulty.inject("ignore-power")
    code, out, err = cli(faulty.host(), "power", "off", "--json")
    assert code == 0, err
    assert json.loads(out)["accepted"] is True  # ReturnValue 0 ...
    time.sleep(0.5)  # longer than the emulated shutdown
    code, out, _ = cli(faulty.host(), "power", "status", "--json")
    assert json.loads(out)["state"] == "power-on"  # ... and the machine stays on
    assert faulty.state().powered


def _digest_probe(emu: ThreadedEmulator, response: str) -> int:
    """A raw POST answering the challenge with the given digest ``response`` value."""
    device = emu.device()

    async def probe() -> int:
        from tests.emulate.helpers import RawHttp

        conn = await RawHttp.open(device.address, device.http_port)
        await conn.send(get(GENERAL))
        _, headers, _, _ = await conn.response()
        conn.close()
        params = challenge_params(headers["www-authenticate"])
        conn = await RawHttp.open(device.address, device.http_port)
        await conn.send(
            get(GENERAL),
            authorization=(
                f'Digest username="admin", realm="{params["realm"]}", nonce="{params["nonce"]}", '
                f'uri="/wsman", cnonce="1", nc=00000001, qop="auth", response="{response}"'
            ),
        )
        status, _, _, _ = await conn.response()
        conn.close()
        return status

    return asyncio.run(probe())


def test_cve_2017_5689_accepts_an_empty_digest(faulty: ThreadedEmulator, cli: Any) -> None:
    assert _digest_probe(faulty, "") == 401
    faulty.inject("cve-2017-5689")
    assert _digest_probe(faulty, "") == 200  # the vulnerable firmware lets anyone in
    assert _digest_probe(faulty, "0" * 32) == 401  # a wrong digest is still refused
    code, _, err = cli(faulty.host(), "power", "status", "--json")
    assert code == 0, err  # the honest client is unaffected


def test_wrong_password_is_an_auth_error(
    emu: ThreadedEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wr0ng-Passw0rd!"
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", wrong)
    with pytest.raises(SystemExit) as info:
        main(["amt", "--host", emu.host(), "power", "status"])
    out, err = capsys.readouterr()
    assert info.value.code == 5
    assert "rejected user 'admin'" in err
    assert len(err.strip().splitlines()) == 1
    assert wrong not in out + err


def test_tls_pinning_against_the_devices_certificate(emu: ThreadedEmulator, cli: Any) -> None:
    device = emu.device()
    assert device.tls_port is not None
    # the fingerprint, taken independently of mewarden's client
    pem = ssl.get_server_certificate((device.address, device.tls_port))
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    tls = (emu.host(tls=True), "--tls")
    code, _, err = cli(*tls, "power", "status", "--json")
    assert code == 0, err
    assert fingerprint in err  # trust on first use: the pin to store
    code, _, err = cli(*tls, "--pin", fingerprint, "power", "status", "--json")
    assert code == 0, err
    code, _, err = cli(*tls, "--pin", "00" * 32, "power", "status", "--json")
    assert code == TlsPinMismatchError.exit_code
    assert fingerprint in err
