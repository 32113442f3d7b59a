"""The emulator's KVM over the redirection port, read by the bridge's own upstream side: the
screen follows the host (DesktopSize when it powers off and boots), keys reach the console."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from mewarden.amt.client import Endpoint
from mewarden.emulate.screen import BOOT_HEIGHT, BOOT_WIDTH, HEIGHT, WIDTH, Screen
from mewarden.redirect.kvm_bridge import Mirror
from mewarden.redirect.kvm_screen import grab_frame, open_kvm
from mewarden.rfb.messages import KeyEvent
from mewarden.secret import Secret
from tests.amt.emulated import PASSWORD, ThreadedEmulator
from tests.kvm.test_vnc_clients import give_consent

POWER_OFF, POWER_ON = 8, 2


def _endpoint(emu: ThreadedEmulator) -> Endpoint:
    return Endpoint(host=emu.device().address, password=Secret(PASSWORD), timeout_s=5)


async def _until(mirror: Mirror, shape: tuple[int, int], timeout_s: float = 10) -> np.ndarray:
    deadline = time.monotonic() + timeout_s
    wake = mirror.subscribe()
    while mirror.frame is None or mirror.frame.shape[:2] != shape:
        remaining = deadline - time.monotonic()
        assert remaining > 0, (
            f"no {shape} frame; last {None if mirror.frame is None else mirror.frame.shape}"
        )
        await asyncio.wait_for(wake.wait(), remaining)
        wake.clear()
    return mirror.frame


def test_screen_size_follows_power_and_boot_with_desktop_size() -> None:
    with ThreadedEmulator() as emu:
        give_consent(emu)

        def power(requested: int) -> None:
            emu.call(lambda: emu.device().state.request_power(requested, emu.device().now()))

        async def watch() -> list[tuple[int, int]]:
            mirror = Mirror(await open_kvm(_endpoint(emu)))
            pump = None
            try:
                await mirror.start(5)
                pump = asyncio.create_task(mirror.pump())
                sizes = [mirror.frame.shape[:2]] if mirror.frame is not None else []
                power(POWER_OFF)
                off = await _until(mirror, (BOOT_HEIGHT, BOOT_WIDTH))
                assert not off.any()  # powered off: a black screen
                sizes.append(off.shape[:2])
                power(POWER_ON)
                up = await _until(mirror, (HEIGHT, WIDTH))
                sizes.append(up.shape[:2])
                return sizes
            finally:
                if pump is not None:
                    pump.cancel()
                mirror.close()

        sizes = asyncio.run(watch())
        assert sizes == [(HEIGHT, WIDTH), (BOOT_HEIGHT, BOOT_WIDTH), (HEIGHT, WIDTH)]
        final = asyncio.run(_grab_after_consent(emu))
        assert (final == emu.call(lambda: Screen().frame(emu.device().state))).all()


async def _grab_after_consent(emu: ThreadedEmulator) -> np.ndarray:
    give_consent(emu)
    return (await grab_frame(_endpoint(emu), timeout_s=5)).frame


def test_keys_sent_upstream_type_on_the_console_and_the_mirror_sees_them() -> None:
    with ThreadedEmulator() as emu:
        give_consent(emu)

        async def type_root() -> np.ndarray:
            mirror = Mirror(await open_kvm(_endpoint(emu)))
            try:
                await mirror.start(5)
                pump = asyncio.create_task(mirror.pump())
                before = mirror.version
                for key in (*b"root", 0xFF0D):
                    mirror.send_input(KeyEvent(down=True, key=key))
                    mirror.send_input(KeyEvent(down=False, key=key))
                await mirror.flush_input()
                deadline = time.monotonic() + 10
                wake = mirror.subscribe()
                while "Password: " not in emu.call(
                    lambda: list(emu.device().state.console.lines())
                ):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
                want = emu.call(lambda: Screen().frame(emu.device().state))
                while mirror.frame is None or not (mirror.frame == want).all():
                    await asyncio.wait_for(wake.wait(), max(0.1, deadline - time.monotonic()))
                    wake.clear()
                assert mirror.version > before
                pump.cancel()
                return mirror.frame
            finally:
                mirror.close()

        frame = asyncio.run(type_root())
        lines = emu.call(lambda: list(emu.device().state.console.lines()))
        assert any(line.endswith("login: root") for line in lines)
        assert frame.shape[:2] == (HEIGHT, WIDTH)


def test_port_5900_refuses_without_consent_when_its_opt_in_policy_is_on() -> None:
    from mewarden.errors import RedirectionProtocolError
    from mewarden.rfb.client import RfbClient

    with ThreadedEmulator() as emu:

        def enable() -> None:
            kvm = emu.device().state.kvm
            kvm.is_5900_port_enabled, kvm.rfb_password = True, Secret("Rfb-pw12")

        emu.call(enable)
        asyncio.run_coroutine_threadsafe(emu.fleet.sync_vnc(emu.device()), emu.loop).result(5)

        async def connect() -> None:
            reader, writer = await asyncio.open_connection(emu.device().address, 5900)
            client = RfbClient(password=Secret("Rfb-pw12"))
            try:
                while data := await asyncio.wait_for(reader.read(4096), 5):
                    client.receive(data)
                    writer.write(client.data_to_send())
            finally:
                writer.close()

        with pytest.raises(RedirectionProtocolError, match="user consent required"):
            asyncio.run(connect())
