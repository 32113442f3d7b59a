"""MEI exchanges against recorded bytes (reference A3: fwupd's ThinkPad AMT 11.8 recording,
the kernel's MKHI layout) through the transport seam, plus the real ioctl path on a non-device."""

from __future__ import annotations

import errno
import json
import uuid
from pathlib import Path

import pytest

from mewarden.errors import HostDataError, MeiError
from mewarden.host import amthi, mkhi
from mewarden.host.amthi import AmthiCommand, ProvisioningState
from mewarden.host.mei import (
    IOCTL_MEI_CONNECT_CLIENT,
    IoctlTransport,
    RecordedSession,
    RecordingTransport,
    ReplayTransport,
    parse_connect_reply,
    sessions_from_json,
    sessions_to_json,
)
from mewarden.host.queries import query_amt, query_fw_version

from .conftest import MEI_RECORDINGS, TREES


def _thinkpad() -> list[RecordedSession]:
    return sessions_from_json(json.loads((MEI_RECORDINGS / "thinkpad-amt11.json").read_text()))


def test_ioctl_number_and_uuid_byte_order_match_the_recorded_connect() -> None:
    # fwupd's recording: Ioctl 0xc0104801 with data 28 00 f8 12 b7 b4 2d 4b ac a8 46 e0 ff 65 81 4c
    assert IOCTL_MEI_CONNECT_CLIENT == 0xC0104801
    recorded = bytes.fromhex("2800f812b7b42d4baca846e0ff65814c")
    assert amthi.AMTHI_UUID.bytes_le == recorded


def test_connect_reply_from_the_recording() -> None:
    # fwupd's DataOut for that ioctl, base64 "ABQAAAG0LUusqEbg/2WBTA=="
    out = bytes.fromhex("0014000001b42d4baca846e0ff65814c")
    props = parse_connect_reply(out)
    assert props.max_message_length == 0x1400
    assert props.protocol_version == 1


def test_request_bytes_are_the_recorded_ones() -> None:
    assert amthi.build_request(AmthiCommand.GET_CODE_VERSIONS) == bytes.fromhex(
        "010100001a00000400000000"
    )
    assert amthi.build_request(AmthiCommand.GET_PROVISIONING_STATE) == bytes.fromhex(
        "010100001100000400000000"
    )
    assert mkhi.build_get_fw_version() == bytes.fromhex("ff020000")


def test_query_amt_replays_the_thinkpad_recording() -> None:
    replay = ReplayTransport(_thinkpad())
    facts = query_amt(lambda: replay)
    assert facts.present is True
    assert facts.provisioning_state == ProvisioningState.PRE  # "state 0 (unprovisioned)"
    versions = facts.code_versions
    assert versions is not None
    assert versions.bios_version == "N1EETA2W (1.75 )".strip()
    assert versions.get("AMT") == "11.8.93"
    assert versions.get("Build Number") == "4323"
    assert versions.get("Sku") == "8"
    assert versions.get("VendorID") == "8086"
    assert versions.get("Legacy Mode") == "False"
    assert len(versions.versions) == 10
    # commands not in the recording are reported, not fatal
    assert facts.control_mode is None
    assert any("GET_CONTROL_MODE" in p for p in facts.problems)


def test_code_versions_response_length_field_counts_status_plus_payload() -> None:
    response = bytes.fromhex(_thinkpad()[0].exchanges[0]["response"])
    assert len(response) == 525
    assert int.from_bytes(response[8:12], "little") == 513 == len(response) - 12


def test_provisioning_state_recorded_bytes() -> None:
    # verbatim from the reference: 20 bytes, status 0, state 0 (unprovisioned)
    response = bytes.fromhex("01 01 00 00 11 00 80 04 08 00 00 00 00 00 00 00 00 00 00 00")
    assert amthi.parse_provisioning_state(response) == ProvisioningState.PRE


def test_wrong_command_and_bad_status_are_rejected() -> None:
    response = bytes.fromhex("0101000011008004080000000000000000000000")
    with pytest.raises(HostDataError):
        amthi.parse_control_mode(response)  # a provisioning-state reply
    failed = bytes.fromhex("0101000011008004080000000100000000000000")
    with pytest.raises(HostDataError, match="status"):
        amthi.parse_provisioning_state(failed)
    with pytest.raises(HostDataError):
        amthi.parse_code_versions(b"\x01\x01")


def test_control_mode_uuid_and_lan_settings_layouts() -> None:
    def reply(command: AmthiCommand, payload: bytes) -> bytes:
        body = b"\0\0\0\0" + payload
        return (
            bytes([1, 1, 0, 0])
            + (command | 0x00800000).to_bytes(4, "little")
            + len(body).to_bytes(4, "little")
            + body
        )

    assert amthi.parse_control_mode(reply(AmthiCommand.GET_CONTROL_MODE, b"\2\0\0\0")) == 2
    smbios = uuid.UUID("4c4c4544-0042-3510-8052-b4c04f4b4d32")
    parsed = amthi.parse_uuid(reply(AmthiCommand.GET_UUID, smbios.bytes_le))
    assert parsed == smbios
    lan = (
        (1).to_bytes(4, "little")
        + (0xC0A8010A).to_bytes(4, "little")
        + (1).to_bytes(4, "little")
        + bytes([2, 1])
        + bytes.fromhex("001122334455")
    )
    settings = amthi.parse_lan_settings(reply(AmthiCommand.GET_LAN_INTERFACE_SETTINGS, lan))
    assert settings.enabled
    assert settings.dhcp_enabled
    assert settings.link_up
    assert settings.ipv4_address == "192.168.1.10"
    assert settings.mac_address == "00:11:22:33:44:55"


def test_mkhi_fw_version_reply_matches_the_sysfs_fw_ver() -> None:
    # The Z790 tree's MKHI reply and its fw_ver (fwupd's recording) must say the same thing
    sessions = sessions_from_json(
        json.loads((TREES / "csme16-z790-running" / "mewarden-record.json").read_text())["mei"]
    )
    replay = ReplayTransport(sessions)
    blocks, problem = query_fw_version(lambda: replay)
    assert problem == ""
    fw_ver = (TREES / "csme16-z790-running/sys/class/mei/mei0/fw_ver").read_text()
    assert mkhi.format_fw_ver(blocks) == fw_ver
    assert mkhi.parse_fw_ver(fw_ver) == blocks
    assert str(blocks[0]) == "16.1.32.2473"


def test_mkhi_reply_checks() -> None:
    with pytest.raises(HostDataError):
        mkhi.parse_get_fw_version(b"\xff\x82\x00\x00")
    with pytest.raises(HostDataError, match="result"):
        mkhi.parse_get_fw_version(bytes.fromhex("ff820001") + bytes(8))
    with pytest.raises(HostDataError):
        mkhi.parse_get_fw_version(bytes.fromhex("03820000") + bytes(8))


def test_absent_client_is_enotty_and_means_no_amt() -> None:
    replay = ReplayTransport([])
    facts = query_amt(lambda: replay)
    assert facts.present is False


def test_replay_refuses_requests_that_were_not_recorded() -> None:
    replay = ReplayTransport(_thinkpad())
    replay.connect(amthi.AMTHI_UUID)
    with pytest.raises(MeiError, match="differs"):
        replay.exchange(amthi.build_request(AmthiCommand.GET_UUID))


def test_recording_transport_captures_what_replay_returns() -> None:
    sessions: list[RecordedSession] = []
    source = ReplayTransport(_thinkpad())
    facts = query_amt(lambda: RecordingTransport(source, sessions))
    again = query_amt(lambda: ReplayTransport(sessions_from_json(sessions_to_json(sessions))))
    assert again == facts
    assert sessions[0].exchanges[0] == _thinkpad()[0].exchanges[0]


def test_ioctl_on_a_regular_file_fails_with_enotty(tmp_path: Path) -> None:
    # The reference: fcntl.ioctl(0xC0104801) on a regular file fails with ENOTTY
    fake = tmp_path / "mei0"
    fake.write_bytes(b"")
    transport = IoctlTransport(str(fake))
    with pytest.raises(MeiError) as info:
        transport.connect(amthi.AMTHI_UUID)
    assert info.value.errno_name == errno.errorcode[errno.ENOTTY]
    transport.close()


def test_ioctl_transport_on_a_missing_device(tmp_path: Path) -> None:
    transport = IoctlTransport(str(tmp_path / "nope"))
    with pytest.raises(MeiError) as info:
        transport.connect(mkhi.MKHI_UUID)
    assert info.value.errno_name == "ENOENT"
    blocks, problem = query_fw_version(lambda: IoctlTransport(str(tmp_path / "nope")))
    assert blocks == ()
    assert "ENOENT" in problem


@pytest.mark.parametrize(
    "data",
    [
        {"client": "x"},
        [{"client": "not-a-uuid", "connect": {}}],
        [
            {
                "client": str(amthi.AMTHI_UUID),
                "connect": {},
                "exchanges": [{"request": "zz", "response": ""}],
            }
        ],
        [{"client": str(amthi.AMTHI_UUID), "connect": 3}],
    ],
)
def test_malformed_recordings_are_host_data_errors(data: object) -> None:
    with pytest.raises(HostDataError):
        sessions_from_json(data)
