"""The local WS-MAN channel: LMS present (a stand-in LMS that forwards TCP into LME, as Intel's
does), LMS absent (mewarden speaks LME itself), LME held by LMS (EBUSY), and the MEI link
dying in the middle of Setup."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mewarden.emulate.values import ControlMode
from mewarden.errors import AmtUnreachableError, MeiError
from mewarden.host.lme import LmeSession, connect_lme
from tests.host.mei_emulator import NEW_PASSWORD, MeiEmulator, json_of, refused_port, run_cli


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class StandInLms:
    """Listens on 127.14.255.253 and forwards each TCP connection over its own LME session."""

    def __init__(self, emu: MeiEmulator) -> None:
        self._emu = emu
        self.session: LmeSession | None = None
        self.server: asyncio.Server | None = None

    async def _start(self) -> str:
        self.session = await connect_lme(self._emu.mei_path)
        self.server = await asyncio.start_server(self._forward, "127.14.255.253", 0)
        return f"127.14.255.253:{self.server.sockets[0].getsockname()[1]}"

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.session is not None
        amt_reader, amt_writer = await self.session.open_stream()
        await asyncio.gather(_pipe(reader, amt_writer), _pipe(amt_reader, writer))

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.session is not None:
            await self.session.aclose()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        loop = self._emu.loop
        address = asyncio.run_coroutine_threadsafe(self._start(), loop).result(10)
        try:
            yield address
        finally:
            asyncio.run_coroutine_threadsafe(self._stop(), loop).result(10)


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[MeiEmulator]:
    with MeiEmulator(tmp_path / "mei") as running:
        yield running


def test_activation_goes_through_lms_when_it_listens(
    emu: MeiEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    with StandInLms(emu).running() as lms:
        # LMS holds the LME client: mewarden's own LME connection is refused (EBUSY) ...
        code, _, err = run_cli(
            capsys, "host", "activate", "--mode", "ccm", "--mei", emu.mei_path, "--lms", "off"
        )
        assert code == MeiError.exit_code
        assert "EBUSY" in err
        assert emu.state().control_mode is ControlMode.PRE_PROVISIONING
        # ... so with LMS listening, activation goes through it
        report = json_of(
            run_cli(
                capsys,
                "host",
                "activate",
                "--mode",
                "ccm",
                "--mei",
                emu.mei_path,
                "--lms",
                lms,
                "--json",
            )
        )
    assert (report["channel"], report["after"]) == ("lms", "ccm")
    assert report["steps"][0] == f"local WS-MAN over LMS at {lms}"
    assert emu.state().control_mode is ControlMode.CLIENT


def test_mei_closed_in_the_middle_of_setup(
    emu: MeiEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    setup = emu.fleet.devices[0].state.host_setup
    emu.call(lambda: setattr(setup, "drop_mei_on", frozenset({"Setup"})))
    with refused_port() as no_lms:
        code, out, err = run_cli(
            capsys, "host", "activate", "--mode", "ccm", "--mei", emu.mei_path, "--lms", no_lms
        )
    assert code == AmtUnreachableError.exit_code
    assert err.count("\n") == 1
    assert "the MEI link failed" in err
    assert "ENODEV" in err
    assert "nothing was activated" in err
    assert out == ""
    assert emu.state().control_mode is ControlMode.PRE_PROVISIONING
    # the endpoint is usable again once the firmware comes back
    emu.call(lambda: setattr(setup, "drop_mei_on", frozenset()))
    info = json_of(run_cli(capsys, "host", "amt-info", "--mei", emu.mei_path, "--json"))
    assert info["control_mode"] == "none"


def test_hung_lms_is_an_error_without_fallback(
    emu: MeiEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port that accepts no connection (its backlog full) is LMS up but not ready: LMS holds
    LME, so falling back to it would only meet EBUSY; the error says what to do."""
    import socket

    from mewarden.host import local_channel

    monkeypatch.setattr(local_channel, "LMS_PROBE_TIMEOUT_S", 0.5)
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    listener = socket.socket()
    listener.bind(("127.14.255.252", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    pending = []
    for _ in range(4):  # fill the backlog: further SYNs are dropped, connects hang
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            client.connect(("127.14.255.252", port))
        pending.append(client)
    try:
        code, _, err = run_cli(
            capsys,
            "host",
            "activate",
            "--mode",
            "ccm",
            "--mei",
            emu.mei_path,
            "--lms",
            f"127.14.255.252:{port}",
        )
    finally:
        for sock in [*pending, listener]:
            sock.close()
    assert code == AmtUnreachableError.exit_code
    assert "accepts no connection within 0.5 s" in err
    assert emu.state().control_mode is ControlMode.PRE_PROVISIONING
