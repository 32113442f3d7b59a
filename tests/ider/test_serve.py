"""IDER end to end: the console serves ISO images to the emulated device's BIOS over 16994/16995."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mewarden.amt.boot import BootTarget, set_boot
from mewarden.amt.client import AmtClient
from mewarden.errors import AmtUnsupportedError
from mewarden.ider.medium import open_medium
from mewarden.ider.serve import EndReason, serve_image
from tests.ider.fleet import endpoint, ider_fleet
from tests.ider.images import pycdlib_iso, xorriso_iso


@pytest.mark.parametrize("tls", [False, True])
def test_ider_boot_installs_and_reports_the_images_volume_and_hash(
    tmp_path: Path, tls: bool
) -> None:
    built = xorriso_iso(tmp_path, "MEWARDEN_INSTALL")

    async def scenario() -> None:
        async with ider_fleet(tls=tls) as fleet:
            dev = fleet.devices[0]
            fleet.inject_fault(dev.address, "broken-os")
            target = endpoint(dev.address, tls=tls)
            async with AmtClient(target) as client:

                async def boot() -> None:
                    await set_boot(client, BootTarget.IDER_CD, reset=True)

                with open_medium(built.path) as medium:
                    summary = await serve_image(target, medium, boot=boot, timeout_s=20)
            state = dev.state
            assert summary.ended is EndReason.EJECTED
            assert summary.booted
            assert state.ider_boot is not None
            assert state.ider_boot.volume_id == "MEWARDEN_INSTALL"
            assert state.ider_boot.boot_image_sha256 == built.boot_sha256
            # the BIOS read a few sectors, the installer the whole CD
            assert summary.blocks_read == state.ider_sectors
            assert (
                summary.blocks_read
                > built.path.stat().st_size // 2048 + state.ider_boot.sectors_read - 1
            )
            assert summary.bytes_served >= summary.blocks_read * 2048
            assert state.reenroll_count == 1
            assert not state.os_broken
            assert dev.host_up
            log = [(r.kind, r.detail) for r in fleet.action_log if r.address == dev.address]
            assert ("boot-start", "ider") in log
            assert log[-1] == ("re-enrolled", "ider")
            assert any("MEWARDEN_INSTALL" in line for line in state.console)

    asyncio.run(scenario())


def test_non_bootable_image_fails_the_boot_like_a_bios(tmp_path: Path) -> None:
    data_only = xorriso_iso(tmp_path, "DATA_ONLY", bootable=False)

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            dev = fleet.devices[0]
            target = endpoint(dev.address)
            async with AmtClient(target) as client:

                async def boot() -> None:
                    await set_boot(client, BootTarget.IDER_CD, reset=True)

                with open_medium(data_only.path) as medium:
                    summary = await serve_image(target, medium, boot=boot, timeout_s=3)
            assert summary.ended is EndReason.TIMED_OUT  # the host sits at "no bootable device"
            boot_result = dev.state.ider_boot
            assert boot_result is not None
            assert not boot_result.bootable
            assert "no El Torito boot record" in boot_result.error
            assert dev.state.reenroll_count == 0
            assert not dev.host_up
            failed = [r.detail for r in fleet.action_log if r.kind == "boot-failed"]
            assert failed == [boot_result.error]

    asyncio.run(scenario())


def test_ider_disabled_names_the_enabling_command(tmp_path: Path) -> None:
    built = pycdlib_iso(tmp_path, "PYCDLIB_VOL")

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            dev = fleet.devices[0]
            dev.state.redirection_state = 32770  # SOL only
            with open_medium(built.path) as medium, pytest.raises(AmtUnsupportedError) as err:
                await serve_image(endpoint(dev.address), medium, enable_hint="ENABLE-IT")
            assert "IDER" in str(err.value)
            assert "ENABLE-IT" in str(err.value)

    asyncio.run(scenario())


def test_floppy_image_boots_from_its_boot_sector(tmp_path: Path) -> None:
    sector = bytearray(512)
    sector[38], sector[43:54] = 0x29, b"MEWFLOPPY  "
    sector[510:512] = b"\x55\xaa"
    image = tmp_path / "floppy.img"
    image.write_bytes(bytes(sector) + bytes(512 * 2879))

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            dev = fleet.devices[0]
            target = endpoint(dev.address)
            async with AmtClient(target) as client:

                async def boot() -> None:
                    await set_boot(client, BootTarget.IDER_FLOPPY, reset=True)

                with open_medium(image, floppy=True) as medium:
                    summary = await serve_image(target, medium, floppy=True, boot=boot, timeout_s=2)
            assert summary.device == "floppy"
            boot_result = dev.state.ider_boot
            assert boot_result is not None
            assert (boot_result.bootable, boot_result.volume_id) == (True, "MEWFLOPPY")
            assert dev.state.reenroll_count == 1

    asyncio.run(scenario())
