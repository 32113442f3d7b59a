"""The pure device model: power state machine, one-shot boot overrides, consent, logs."""

from __future__ import annotations

import base64
import struct

import pytest

from mewarden.emulate.cim_logs import audit_record, event_record
from mewarden.emulate.cimbase import Context
from mewarden.emulate.digest import DigestAuthority, expected_response, md5_hex
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import (
    BootSource,
    ControlMode,
    Identity,
    OptInReturn,
    PowerReturn,
    PowerState,
    Timing,
)
from mewarden.secret import Secret

BOOT = 10.0


def _device(mode: ControlMode = ControlMode.CLIENT) -> DeviceState:
    identity = Identity.derive(index=3, address="127.20.0.4")
    return DeviceState.create(
        identity, Timing(boot_time_s=BOOT, shutdown_time_s=2.0), mode=mode, now=0.0
    )


def test_identity_formats_follow_amt() -> None:
    identity = Identity.derive(index=7, address="127.20.0.8")
    assert identity.realm.startswith("Digest:")
    assert len(identity.realm) == len("Digest:") + 32
    assert identity.realm[7:] == identity.realm[7:].upper()
    int(identity.realm[7:], 16)
    assert len(identity.mac.split("-")) == 6
    assert Identity.derive(index=8, address="127.20.0.9").realm != identity.realm


def test_power_off_then_on_boots_after_boot_time() -> None:
    dev = _device()
    assert dev.request_power(PowerState.POWER_OFF_HARD, 1.0) is PowerReturn.COMPLETED
    assert int(dev.power_state) == PowerState.POWER_OFF_HARD
    assert not dev.host_answers
    assert dev.request_power(PowerState.POWER_ON, 2.0) is PowerReturn.COMPLETED
    assert int(dev.power_state) == PowerState.POWER_ON
    dev.advance(2.0 + BOOT - 0.01)
    assert not dev.host_answers  # still booting
    dev.advance(2.0 + BOOT)
    assert dev.host_answers
    assert dev.boot_count == 1


def test_reset_of_a_machine_that_is_off_returns_2() -> None:
    dev = _device()
    dev.request_power(PowerState.POWER_OFF_HARD, 1.0)
    assert dev.request_power(PowerState.MASTER_BUS_RESET, 2.0) is PowerReturn.UNKNOWN
    assert dev.request_power(PowerState.POWER_CYCLE_OFF_SOFT, 2.0) is PowerReturn.UNKNOWN


@pytest.mark.parametrize("state", [3, 4, 7])
def test_sleep_and_hibernate_are_refused(state: int) -> None:
    dev = _device()
    assert dev.request_power(state, 1.0) is PowerReturn.NOT_SUPPORTED
    assert dev.powered


def test_unknown_power_state_is_an_invalid_parameter() -> None:
    assert _device().request_power(99, 1.0) is PowerReturn.INVALID_PARAMETER


def test_graceful_off_waits_for_the_os_to_shut_down() -> None:
    dev = _device()
    dev.request_power(PowerState.POWER_OFF_SOFT_GRACEFUL, 1.0)
    assert dev.powered
    dev.advance(3.0)
    assert not dev.powered


def test_pxe_override_is_one_shot_and_ends_re_enrolled() -> None:
    dev = _device()
    dev.change_boot_order(BootSource.PXE)
    dev.set_boot_config_role(1)
    dev.request_power(PowerState.MASTER_BUS_RESET, 1.0)
    assert dev.boot_target is BootSource.PXE
    dev.advance(1.0 + BOOT)
    assert dev.host_answers
    assert dev.reenroll_count == 1
    assert [e.kind for e in dev.events].count("re-enrolled") == 1
    # consumed: the next boot is a normal one
    dev.request_power(PowerState.MASTER_BUS_RESET, 20.0)
    assert dev.boot_target.value == BootSource.DEFAULT.value
    dev.advance(40.0)
    assert dev.reenroll_count == 1


def test_boot_order_without_role_does_not_apply() -> None:
    dev = _device()
    dev.change_boot_order(BootSource.PXE)
    dev.request_power(PowerState.MASTER_BUS_RESET, 1.0)
    assert dev.boot_target is BootSource.DEFAULT


def test_bios_setup_boot_never_reaches_the_os() -> None:
    dev = _device()
    dev.update_boot_settings({"bios_setup": True})
    dev.request_power(PowerState.MASTER_BUS_RESET, 1.0)
    dev.advance(100.0)
    assert dev.powered
    assert not dev.host_answers


def test_hung_host_keeps_power_but_stops_answering() -> None:
    dev = _device()
    dev.hang_host(True, 1.0)
    assert dev.power_state is PowerState.POWER_ON
    assert not dev.host_answers
    dev.request_power(PowerState.MASTER_BUS_RESET, 2.0)
    dev.advance(2.0 + BOOT)
    assert dev.host_answers  # a reset cures a hang


def test_ignored_power_action_still_answers_0() -> None:
    dev = _device()
    dev.ignore_power = True
    assert dev.request_power(PowerState.POWER_OFF_HARD, 1.0) is PowerReturn.COMPLETED
    assert dev.powered


def test_user_consent_code_flow() -> None:
    dev = _device()
    assert dev.opt_in_required == 4294967295  # CCM: consent for all redirection
    assert dev.send_opt_in_code("000000", 1.0) is OptInReturn.INVALID_STATE
    assert dev.start_opt_in(1.0) is OptInReturn.SUCCESS
    code = dev.opt_in_code
    assert code is not None
    assert len(code) == 6
    assert code.isdigit()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert dev.send_opt_in_code(wrong, 2.0) is not OptInReturn.SUCCESS
    assert dev.send_opt_in_code(code, 3.0) is OptInReturn.SUCCESS
    assert dev.consent_satisfied()
    assert _device(ControlMode.ADMIN).opt_in_required == 0


def test_console_shows_login_and_answers_input() -> None:
    dev = _device()
    assert dev.console[-1].endswith("login: ")
    dev.console_input("root\r")
    assert dev.console[-1] == "Password: "


def test_event_record_layout_matches_the_decoder_description() -> None:
    dev = _device()
    dev.request_power(PowerState.MASTER_BUS_RESET, 1.0)
    ctx = Context(now=1.0, wall=1_700_000_000.0)
    boot = next(e for e in dev.events if e.kind == "boot-start")
    record = event_record(ctx, boot)
    assert len(record) == 21  # go-wsman-messages messagelog decoder: 21-byte records
    timestamp, _address, sensor_type = struct.unpack_from("<IBB", record)
    assert timestamp == 1_700_000_000
    assert sensor_type == 0x0F  # system firmware progress, as in the capture's records
    captured = base64.b64decode("IgYBZf8PbwJoAf8iAEAHAAAAAAAA")
    assert record[4:13] == captured[4:13]


def test_audit_record_is_big_endian_with_a_digest_initiator() -> None:
    dev = _device()
    dev.request_power(PowerState.MASTER_BUS_RESET, 1.0)
    request = next(e for e in dev.events if e.kind == "power-request")
    record = audit_record(Context(now=1.0, wall=1_000.0), request, address="127.20.0.4")
    app_id, _event_id, initiator, user_len = struct.unpack_from(">HHBB", record)
    assert (app_id, initiator) == (17, 0)  # Remote Control, HTTP digest
    assert record[6 : 6 + user_len] == b"admin"
    assert struct.unpack_from(">I", record, 6 + user_len)[0] == 1_000


def _auth(authority: DigestAuthority, nonce: str, nc: int, password: str = "P@ss1") -> str:
    ha1 = md5_hex(f"admin:{authority.realm}:{password}")
    response = expected_response(
        ha1=ha1,
        nonce=nonce,
        nc=f"{nc:08x}",
        cnonce="abc123",
        qop="auth",
        method="POST",
        uri="/wsman",
    )
    return (
        f'Digest username="admin", realm="{authority.realm}", nonce="{nonce}", uri="/wsman", '
        f'cnonce="abc123", nc={nc:08x}, qop="auth", response="{response}"'
    )


def test_digest_accepts_a_growing_nc_and_rejects_replays() -> None:
    authority = DigestAuthority(
        realm="Digest:" + "A" * 32, username="admin", password=Secret("P@ss1")
    )
    authority.challenge("n" * 32)
    assert authority.verify(_auth(authority, "n" * 32, 1), method="POST", target="/wsman")
    assert authority.verify(_auth(authority, "n" * 32, 2), method="POST", target="/wsman")
    assert not authority.verify(_auth(authority, "n" * 32, 2), method="POST", target="/wsman")
    assert not authority.verify(
        _auth(authority, "n" * 32, 3, "wrong"), method="POST", target="/wsman"
    )
    assert not authority.verify(_auth(authority, "x" * 32, 4), method="POST", target="/wsman")


def test_empty_response_only_passes_on_vulnerable_firmware() -> None:
    authority = DigestAuthority(
        realm="Digest:" + "B" * 32, username="admin", password=Secret("P@ss1")
    )
    authority.challenge("n" * 32)
    header = (
        f'Digest username="admin", realm="{authority.realm}", nonce="{"n" * 32}", '
        'uri="index.htm", cnonce="1", nc=1, qop="auth", response=""'
    )
    assert not authority.verify(header, method="GET", target="/index.htm")
    authority.accept_empty_response = True
    assert authority.verify(header, method="GET", target="/index.htm")


def test_six_is_a_power_cycle_and_nine_a_power_off() -> None:
    """Reference amt.md §1.3: 6 PowerCycle (off soft), 9 PowerOff-Soft."""
    dev = _device()
    boots = dev.boot_count
    assert dev.request_power(6, 1.0) is PowerReturn.COMPLETED
    kinds = [e.kind for e in dev.events]
    assert kinds[-2:] == ["power-off", "boot-start"]
    assert dev.powered
    assert dev.boot_count == boots + 1
    assert dev.request_power(9, 2.0) is PowerReturn.COMPLETED
    dev.advance(100.0)
    assert not dev.powered
    assert int(dev.power_state) == 8  # what AMT reports while off
    assert dev.request_power(6, 101.0) is PowerReturn.UNKNOWN  # a cycle needs a running machine
