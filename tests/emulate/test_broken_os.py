"""The broken-OS fault: it survives power cycles and only a re-install (PXE or IDER) heals it."""

from __future__ import annotations

from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import (
    BootSource,
    ControlMode,
    Identity,
    IderBootResult,
    PowerState,
    Timing,
)

BOOT = 10.0


def _device() -> DeviceState:
    identity = Identity.derive(index=1, address="127.16.0.2")
    return DeviceState.create(identity, Timing(boot_time_s=BOOT), mode=ControlMode.CLIENT, now=0.0)


def _kinds(dev: DeviceState) -> list[str]:
    return [f"{e.kind}:{e.detail}" if e.detail else e.kind for e in dev.events]


def _cycle(dev: DeviceState, at: float) -> None:
    dev.request_power(PowerState.POWER_OFF_HARD, at)
    dev.request_power(PowerState.POWER_ON, at + 1.0)
    dev.advance(at + 1.0 + BOOT)


def _force(dev: DeviceState, source: BootSource) -> None:
    if source is BootSource.IDER:
        dev.update_boot_settings({"use_ider": True, "ider_boot_device": 1})
    else:
        dev.change_boot_order(source)
        dev.set_boot_config_role(1)


def test_broken_os_crashes_now_and_after_every_disk_boot() -> None:
    dev = _device()
    dev.break_os(1.0)
    assert not dev.host_answers
    assert dev.powered
    for at in (10.0, 30.0, 50.0):
        _cycle(dev, at)
        assert dev.powered
        assert not dev.host_answers
    assert dev.console[-1].startswith("Kernel panic")
    assert dev.reenroll_count == 0
    assert _kinds(dev).count("host-hung:broken-os") == 4


def test_pxe_boot_reinstalls_and_reenrolls() -> None:
    dev = _device()
    dev.break_os(1.0)
    _force(dev, BootSource.PXE)
    dev.request_power(PowerState.MASTER_BUS_RESET, 2.0)
    dev.advance(2.0 + BOOT)
    assert dev.host_answers
    assert not dev.os_broken
    assert dev.reenroll_count == 1
    assert "re-enrolled:pxe" in _kinds(dev)
    _cycle(dev, 30.0)  # healed for good: the next disk boot comes up
    assert dev.host_answers
    assert dev.reenroll_count == 1


def test_ider_boot_waits_for_the_bios_then_runs_the_installer() -> None:
    dev = _device()
    dev.break_os(1.0)
    _force(dev, BootSource.IDER)
    dev.request_power(PowerState.MASTER_BUS_RESET, 2.0)
    assert dev.ider_boot_pending
    found = IderBootResult(
        bootable=True, volume_id="INSTALLER", boot_image_sha256="ab" * 32, sectors_read=40
    )
    dev.ider_booted(found, 5.0)
    assert not dev.ider_boot_pending
    dev.advance(5.0 + BOOT - 0.1)
    assert not dev.host_answers  # the installer runs
    dev.advance(5.0 + BOOT)
    assert dev.host_answers
    assert not dev.os_broken
    assert dev.reenroll_count == 1
    assert "re-enrolled:ider" in _kinds(dev)
    assert any("INSTALLER" in line for line in dev.console)


def test_non_bootable_ider_image_stops_the_boot_like_a_bios() -> None:
    dev = _device()
    dev.break_os(1.0)
    _force(dev, BootSource.IDER)
    dev.request_power(PowerState.MASTER_BUS_RESET, 2.0)
    dev.ider_booted(IderBootResult(bootable=False, error="no El Torito boot record"), 3.0)
    dev.advance(100.0)
    assert dev.powered
    assert not dev.host_answers
    assert dev.os_broken
    assert "boot-failed:no El Torito boot record" in _kinds(dev)
    assert dev.console[-1].startswith("No bootable device")


def test_ider_boot_without_a_session_gives_up_after_a_boot_time() -> None:
    dev = _device()
    _force(dev, BootSource.IDER)
    dev.request_power(PowerState.MASTER_BUS_RESET, 2.0)
    dev.advance(2.0 + BOOT)
    assert not dev.ider_boot_pending
    assert not dev.host_answers
    assert any(k.startswith("boot-failed:no IDER session") for k in _kinds(dev))
