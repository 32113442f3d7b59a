"""The asyncio shell against the emulator: plain 16994 and TLS 16995 (pinning as for WS-MAN),
and each refusal as its typed error."""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import AsyncIterator

import pytest

from mewarden.amt.client import Endpoint
from mewarden.emulate import EmulatedFleet
from mewarden.emulate.redirection import HANDLERS
from mewarden.emulate.values import ControlMode
from mewarden.errors import (
    AmtAuthError,
    AmtUnreachableError,
    AmtUnsupportedError,
    TlsPinMismatchError,
)
from mewarden.redirect.protocol import Authenticated, Channel, ChannelOpened, Event, InsecureAuth
from mewarden.redirect.session import RedirectionSession, open_kvm_stream
from mewarden.redirect.sol import SolChannel, SolData, SolLineStatus
from mewarden.redirect.wire import SessionType
from mewarden.secret import Secret

PASSWORD = "P@ssw0rd-Redir1"


def base_ip() -> str:
    """A free-ish block in this suite's loopback range (127.151.0.0/16)."""
    return f"127.151.{random.randrange(1, 255)}.1"


@pytest.fixture
async def fleet() -> AsyncIterator[EmulatedFleet]:
    async with EmulatedFleet.start(
        nodes=1, base_ip=base_ip(), password=PASSWORD, boot_time_s=0.2, tls=True,
        mode=ControlMode.ADMIN,
    ) as running:  # fmt: skip
        yield running


def endpoint(fleet: EmulatedFleet, **changes: object) -> Endpoint:
    values: dict[str, object] = {
        "host": fleet.devices[0].address, "password": Secret(PASSWORD), "timeout_s": 5.0,
    }  # fmt: skip
    values.update(changes)
    return Endpoint(**values)  # type: ignore[arg-type]


async def read_until(session: RedirectionSession, text: bytes, rounds: int = 60) -> bytes:
    seen = b""
    for _ in range(rounds):
        for event in await session.receive(0.05):
            if isinstance(event, SolData):
                seen += event.data
        if text in seen:
            return seen
    raise AssertionError(f"{text!r} never came; saw {seen!r}")


async def receive_for(session: RedirectionSession, rounds: int) -> None:
    for _ in range(rounds):
        await session.receive(0.05)


@pytest.mark.parametrize("tls", [False, True])
async def test_sol_over_digest_plain_and_tls(fleet: EmulatedFleet, tls: bool) -> None:
    dev = fleet.devices[0]
    session = await RedirectionSession.open(endpoint(fleet, tls=tls), SolChannel())
    assert any(isinstance(e, Authenticated) and e.method == 4 for e in session.opening)
    assert (session.observed_pin is not None) == tls
    await read_until(session, f"{dev.identity.hostname} login: ".encode())
    assert isinstance(session.channel, SolChannel)
    session.channel.send(b"root\rsecret\recho typed-over-sol\r")
    await session.flush()
    await read_until(session, b"\r\ntyped-over-sol\r\n")
    assert "echo typed-over-sol" in dev.state.console.lines()[-3]
    await session.aclose()
    assert session.client.closed


async def test_tls_pin_is_checked_before_anything_is_sent(fleet: EmulatedFleet) -> None:
    first = await RedirectionSession.open(endpoint(fleet, tls=True), SolChannel())
    pin = first.observed_pin
    await first.aclose()
    assert pin is not None
    again = await RedirectionSession.open(endpoint(fleet, tls=True, pin_sha256=pin), SolChannel())
    await again.aclose()
    wrong = hashlib.sha256(b"another certificate").hexdigest()
    with pytest.raises(TlsPinMismatchError, match="not the pinned fingerprint"):
        await RedirectionSession.open(endpoint(fleet, tls=True, pin_sha256=wrong), SolChannel())


async def test_wrong_password_and_disabled_sol(fleet: EmulatedFleet) -> None:
    with pytest.raises(AmtAuthError):
        await RedirectionSession.open(
            endpoint(fleet, password=Secret("Wr0ng-Passw0rd")), SolChannel()
        )
    fleet.devices[0].state.request_redirection_state(32769, 0.0)  # IDE-R only
    with pytest.raises(AmtUnsupportedError, match="enable it with: mewarden amt"):
        await RedirectionSession.open(
            endpoint(fleet), SolChannel(), enable_hint="mewarden amt redirection enable --sol"
        )
    fleet.devices[0].state.listener_enabled = False
    with pytest.raises(AmtUnsupportedError, match="refused to start SOL"):
        await RedirectionSession.open(endpoint(fleet), SolChannel())


async def test_client_control_mode_needs_consent_for_sol() -> None:
    async with EmulatedFleet.start(
        nodes=1, base_ip=base_ip(), password=PASSWORD, boot_time_s=0.2
    ) as fleet:
        state = fleet.devices[0].state
        with pytest.raises(AmtUnsupportedError, match="consent"):
            await RedirectionSession.open(endpoint(fleet), SolChannel())
        state.start_opt_in(0.0)
        assert state.opt_in_code is not None
        state.send_opt_in_code(state.opt_in_code, 0.0)
        session = await RedirectionSession.open(endpoint(fleet), SolChannel())
        await session.aclose()


async def test_host_off_is_reported_by_the_status_bit(fleet: EmulatedFleet) -> None:
    state = fleet.devices[0].state
    state.request_power(8, fleet.devices[0].now())
    session = await RedirectionSession.open(endpoint(fleet), SolChannel())
    statuses = []
    for _ in range(20):
        statuses += [e for e in await session.receive(0.05) if isinstance(e, SolLineStatus)]
        if statuses:
            break
    assert statuses
    assert not statuses[0].host_powered
    await session.aclose()


async def test_a_link_dropped_mid_session_is_unreachable(fleet: EmulatedFleet) -> None:
    session = await RedirectionSession.open(endpoint(fleet), SolChannel())
    fleet.inject_fault(fleet.devices[0].address, "amt-unreachable")
    with pytest.raises(AmtUnreachableError, match="dropped"):
        await receive_for(session, rounds=40)
    session.abort()


async def test_plain_only_devices_warn_and_digest_3_devices_work(fleet: EmulatedFleet) -> None:
    state = fleet.devices[0].state
    state.redirection_auth = (1,)
    session = await RedirectionSession.open(endpoint(fleet), SolChannel())
    assert any(isinstance(e, InsecureAuth) for e in session.opening)
    await session.aclose()
    state.redirection_auth = (3,)
    session = await RedirectionSession.open(endpoint(fleet), SolChannel())
    assert any(isinstance(e, Authenticated) and e.method == 3 for e in session.opening)
    await session.aclose()


async def test_kvm_stream_opens_or_is_refused(fleet: EmulatedFleet) -> None:
    stream = await open_kvm_stream(endpoint(fleet, tls=True))
    assert stream.observed_pin is not None
    stream.writer.close()
    fleet.devices[0].state.kvm_enabled = False
    with pytest.raises(AmtUnsupportedError, match="refused to start KVM"):
        await open_kvm_stream(endpoint(fleet))


class IderStartOnly(Channel):
    """A session type from outside the core: only the IDE-R start exchange (§3.2)."""

    session_type = SessionType.IDER

    def start_request(self) -> bytes:
        body = struct.pack("<HHHI", 30000, 0, 20000, 1)
        return b"\x40\x00\x00\x00" + struct.pack("<I", self.sent.next()) + body

    def message_length(self, buffer: bytearray) -> int | None:
        return 30

    def handle(self, raw: bytes) -> list[Event]:
        return [ChannelOpened(SessionType.IDER, (("major", raw[8]),))]


async def test_other_session_types_plug_in_on_both_sides(
    fleet: EmulatedFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(HANDLERS, SessionType.IDER, ("tests.redirect.ider_double", "serve_ider"))
    channel = IderStartOnly()
    session = await RedirectionSession.open(endpoint(fleet, tls=True), channel)
    opened = [e for e in session.opening if isinstance(e, ChannelOpened)]
    assert opened == [ChannelOpened(SessionType.IDER, (("major", 1),))]
    assert len(channel.start_request()) == 18
    session.abort()
