"""`mewarden amt ider` as a user runs it, against the emulator on 127.16.0.0/16."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from mewarden.emulate import EmulatedFleet
from tests.ider.fleet import PASSWORD, ider_fleet
from tests.ider.images import BuiltIso, genisoimage_iso, pycdlib_iso, xorriso_iso


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
    env["MEWARDEN_AMT_PASSWORD"] = PASSWORD
    return env


async def _start(fleet: EmulatedFleet, *args: str) -> asyncio.subprocess.Process:
    host = fleet.devices[0].address
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mewarden",
        "amt",
        "--host",
        host,
        "--timeout",
        "5",
        "ider",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )


async def _finish(proc: asyncio.subprocess.Process, timeout_s: float = 60) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    text = err.decode()
    assert "Traceback" not in text
    assert PASSWORD not in out.decode() + text
    return int(proc.returncode or 0), out.decode(), text


async def _run(fleet: EmulatedFleet, *args: str) -> tuple[int, str, str]:
    return await _finish(await _start(fleet, *args))


async def _attached(fleet: EmulatedFleet, limit_s: float = 20) -> None:
    for _ in range(int(limit_s / 0.05)):
        if fleet.devices[0].state.ider_attached:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the IDER session never connected the devices")


@pytest.mark.parametrize("builder", ["xorriso", "genisoimage", "pycdlib"])
def test_ider_boot_reports_the_images_volume_id_and_boot_hash(tmp_path: Path, builder: str) -> None:
    volume = f"{builder.upper()}_INSTALL"
    built: BuiltIso = {
        "xorriso": xorriso_iso,
        "genisoimage": genisoimage_iso,
        "pycdlib": pycdlib_iso,
    }[builder](tmp_path, volume)

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            dev = fleet.devices[0]
            fleet.inject_fault(dev.address, "broken-os")
            code, out, err = await _run(fleet, "--image", str(built.path), "--boot", "--json")
            assert code == 0, err
            summary = json.loads(out)
            assert summary["ended"] == "ejected"
            assert summary["booted"] is True
            state = dev.state
            assert state.ider_boot is not None
            assert state.ider_boot.volume_id == volume
            assert state.ider_boot.boot_image_sha256 == built.boot_sha256
            assert summary["blocks_read"] == state.ider_sectors
            assert state.reenroll_count == 1
            assert not state.os_broken

    asyncio.run(scenario())


def test_bad_images_are_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.iso"
    junk.write_bytes(bytes(100 * 2048))
    unreadable = tmp_path / "secret.iso"
    unreadable.write_bytes(bytes(100 * 2048))
    unreadable.chmod(0)

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            cases: list[tuple[Any, ...]] = [
                (str(tmp_path / "missing.iso"), "does not exist"),
                (str(junk), "not an ISO 9660 image"),
            ]
            if os.geteuid() != 0:  # root reads a mode-0 file anyway
                cases.append((str(unreadable), "not readable"))
            for image, message in cases:
                code, _out, err = await _run(fleet, "--image", image)
                assert code == 2
                assert err.count("\n") == 1
                assert message in err

    asyncio.run(scenario())


def test_ider_disabled_names_the_command_that_enables_it(tmp_path: Path) -> None:
    built = xorriso_iso(tmp_path, "DISABLED")

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            fleet.devices[0].state.redirection_state = 32770  # SOL only
            code, _out, err = await _run(fleet, "--image", str(built.path))
            assert code == 7
            assert err.count("\n") == 1
            assert "IDER is disabled" in err
            assert "redirection enable --ider" in err

    asyncio.run(scenario())


def test_ctrl_c_ends_cleanly_with_a_summary(tmp_path: Path) -> None:
    built = xorriso_iso(tmp_path, "CTRL_C")

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            proc = await _start(fleet, "--image", str(built.path), "--json")
            await _attached(fleet)
            proc.send_signal(signal.SIGINT)
            code, out, err = await _finish(proc)
            assert code == 0, err
            assert json.loads(out)["ended"] == "interrupted"
            for _ in range(40):
                if not fleet.devices[0].state.ider_attached:
                    break
                await asyncio.sleep(0.05)
            assert not fleet.devices[0].state.ider_attached  # the session was closed

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        ("amt-unreachable", 4, "dropped"),
        ("ider-sequence-gap", 9, "sequence number 2 after 0"),
    ],
)
def test_device_that_drops_or_skips_a_sequence_number(
    tmp_path: Path, fault: str, code: int, message: str
) -> None:
    built = xorriso_iso(tmp_path, "BAD_DEVICE")

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            dev = fleet.devices[0]
            if fault == "ider-sequence-gap":
                fleet.inject_fault(dev.address, fault)
                result = await _run(fleet, "--image", str(built.path))
            else:
                proc = await _start(fleet, "--image", str(built.path))
                await _attached(fleet)
                fleet.inject_fault(dev.address, fault)
                result = await _finish(proc)
            assert result[0] == code, result
            assert result[2].count("\n") == 1
            assert message in result[2]

    asyncio.run(scenario())
