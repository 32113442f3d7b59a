"""The in-process LMS (`mewarden.host.lme`) against the emulator's LME client: channel limits,
channel reuse after a close, and a firmware that goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mewarden.errors import MeiError
from mewarden.host import apf
from mewarden.host.lme import connect_lme
from tests.host.mei_emulator import MeiEmulator

_GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:16992\r\n\r\n"


async def _redirect_over(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(_GET)
    await writer.drain()
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


def test_eight_channels_then_resource_shortage_then_reuse(tmp_path: Path) -> None:
    with MeiEmulator(tmp_path / "mei") as emu:

        async def scenario() -> None:
            async with await connect_lme(emu.mei_path) as lme:
                assert 16992 in lme.forwarded_ports
                streams = [await lme.open_stream() for _ in range(8)]
                head = await _redirect_over(*streams[3])
                assert head.startswith(b"HTTP/1.1 303 ")  # AMT's web root, over APF
                with pytest.raises(MeiError, match="resource shortage"):
                    await lme.open_stream()
                streams[0][1].close()  # host closes one: firmware frees its slot
                for _ in range(50):
                    try:
                        again = await lme.open_stream()
                        break
                    except MeiError:
                        await asyncio.sleep(0.02)
                else:
                    raise AssertionError("the closed channel's slot never came back")
                assert (await _redirect_over(*again)).startswith(b"HTTP/1.1 303 ")

        asyncio.run(scenario())


def test_lme_is_single_user_and_a_dead_link_ends_every_channel(tmp_path: Path) -> None:
    with MeiEmulator(tmp_path / "mei") as emu:

        async def scenario() -> None:
            lme = await connect_lme(emu.mei_path)
            with pytest.raises(MeiError, match="EBUSY"):
                await connect_lme(emu.mei_path)
            reader, _writer = await lme.open_stream()
            await emu_close(emu)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the stream ends
            with pytest.raises(MeiError, match="ENODEV"):
                await lme.open_stream()
            await lme.aclose()

        asyncio.run(scenario())


async def emu_close(emu: MeiEmulator) -> None:
    """Stop the emulator's endpoints (the firmware goes away mid-session)."""
    assert emu._mei is not None
    future = asyncio.run_coroutine_threadsafe(emu._mei.close(), emu.loop)
    await asyncio.wrap_future(future)


class _FakeFirmware:
    """A simulated endpoint whose LME client sends scripted APF messages (bad firmware)."""

    def __init__(self, path: Path, script: list[bytes]) -> None:
        import socket as sockets

        self.path = str(path)
        self._script = script
        self._listener = sockets.socket(sockets.AF_UNIX, sockets.SOCK_SEQPACKET)
        self._listener.bind(self.path)
        self._listener.listen(1)
        self._listener.setblocking(False)

    async def serve_one(self) -> None:
        from mewarden.host import mei_sim
        from mewarden.host.mei import ClientProperties

        loop = asyncio.get_running_loop()
        conn, _ = await loop.sock_accept(self._listener)
        await loop.sock_recv(conn, 64)
        props = ClientProperties(max_message_length=4096, protocol_version=1)
        await loop.sock_sendall(conn, mei_sim.build_connect_reply(0, props))
        for message in self._script:
            await loop.sock_sendall(conn, message)
        await asyncio.sleep(0.2)
        conn.close()
        self._listener.close()


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ([apf.encode(apf.ProtocolVersion(2, 0, 3))], "APF 2.0, not 1.0"),
        ([b"\x63garbage"], "APF message type 99 is unknown"),
        ([apf.encode(apf.ServiceRequest(apf.SERVICE_PFWD))[:-3]], "truncated"),
        ([apf.encode(apf.Disconnect(2))], "ended the APF session (reason 2)"),
        ([], "ENODEV"),
    ],
)
def test_bad_firmware_is_a_typed_error(tmp_path: Path, script: list[bytes], expected: str) -> None:
    firmware = _FakeFirmware(tmp_path / "fw.sock", script)

    async def scenario() -> None:
        server = asyncio.create_task(firmware.serve_one())
        with pytest.raises(MeiError, match="did not forward port 16992") as info:
            await connect_lme(firmware.path)
        assert expected in str(info.value)
        await server

    asyncio.run(scenario())


def test_emulator_survives_garbage_on_lme(tmp_path: Path) -> None:
    import socket as sockets

    from mewarden.host import mei_sim
    from mewarden.host.lme import LME_UUID

    with MeiEmulator(tmp_path / "mei") as emu:
        for garbage in (b"", b"\xff", apf.encode(apf.ChannelData(1, b"x"))[:-2], bytes(300)):
            sock = sockets.socket(sockets.AF_UNIX, sockets.SOCK_SEQPACKET)
            sock.settimeout(5)
            sock.connect(emu.mei_path)
            sock.send(mei_sim.build_connect_request(LME_UUID))
            assert mei_sim.parse_connect_reply(sock.recv(64), LME_UUID).max_message_length
            sock.send(garbage or b"\x00")
            while sock.recv(8192):  # the firmware's opening messages, then it hangs up
                pass
            sock.close()

        async def still_works() -> None:
            async with await connect_lme(emu.mei_path) as lme:
                assert 16992 in lme.forwarded_ports

        asyncio.run(still_works())
