"""The in-process LMS (`mewarden.host.lme`) against the emulator's LME client: channel limits,
channel reuse after a close, and a firmware that goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mewarden.errors import MeiError
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
                assert {16992, 623} <= lme.forwarded_ports
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
