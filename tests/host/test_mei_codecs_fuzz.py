"""Fuzzing the sans-IO codecs of the local channel: APF, AMTHI replies, the simulated endpoint's
connect step, and the emulator's AMTHI responder. Whatever the bytes, the only exception is the
typed one (HostDataError, or MeiError for a connect reply); every valid message round-trips."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mewarden.emulate.mei_amthi import answer
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode, Identity, Timing
from mewarden.errors import HostDataError, MeiError
from mewarden.host import amthi, amthi_info, apf, mei_sim
from mewarden.host.amthi import AmthiCommand

u32 = st.integers(0, 0xFFFFFFFF)
text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)

messages = st.one_of(
    st.builds(apf.Disconnect, u32),
    st.builds(apf.ServiceRequest, text),
    st.builds(apf.ServiceAccept, text),
    st.builds(apf.UserAuthRequest, text, text, text),
    st.just(apf.UserAuthSuccess()),
    st.builds(apf.UserAuthFailure, text),
    st.builds(apf.GlobalRequest, st.just("tcpip-forward"), st.booleans(), text, u32),
    st.builds(apf.GlobalRequest, st.just("other"), st.booleans(), rest=st.binary(max_size=20)),
    st.builds(apf.RequestSuccess, st.none() | u32),
    st.just(apf.RequestFailure()),
    st.builds(apf.ChannelOpen, text, u32, u32, text, u32, text, u32),
    st.builds(apf.ChannelOpenConfirmation, u32, u32, u32),
    st.builds(apf.ChannelOpenFailure, u32, u32),
    st.builds(apf.WindowAdjust, u32, u32),
    st.builds(apf.ChannelData, u32, st.binary(max_size=300)),
    st.builds(apf.ChannelClose, u32),
    st.builds(apf.ProtocolVersion, u32, u32, u32, st.binary(min_size=16, max_size=16)),
    st.builds(apf.KeepaliveRequest, u32),
    st.builds(apf.KeepaliveReply, u32),
    st.builds(apf.KeepaliveOptions, u32, u32, st.booleans()),
)


@given(messages)
def test_apf_round_trip(message: apf.ApfMessage) -> None:
    assert apf.decode(apf.encode(message)) == message


@given(st.binary(max_size=200))
def test_apf_decode_random_bytes(data: bytes) -> None:
    with contextlib.suppress(HostDataError):
        apf.decode(data)


@given(messages, st.data())
def test_apf_decode_mutated_messages(message: apf.ApfMessage, data: st.DataObject) -> None:
    raw = bytearray(apf.encode(message))
    cut = data.draw(st.integers(0, len(raw)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=4))
    for position, value in flips:
        if raw:
            raw[position % len(raw)] = value
    with contextlib.suppress(HostDataError):
        apf.decode(bytes(raw[:cut]))


def test_apf_sizes_match_the_reference() -> None:
    """Sizes quoted in amt.md §1.13 (CHANNEL_OPEN as rpc-go sends it is 54 bytes)."""
    opened = apf.ChannelOpen("forwarded-tcpip", 2, 4096, "::1", 16992, "::1", 123)
    assert len(apf.encode(opened)) == 54
    assert len(apf.encode(apf.ProtocolVersion(1, 0, 254))) == 93
    assert len(apf.encode(apf.ServiceAccept(apf.SERVICE_PFWD))) == 23
    assert len(apf.encode(apf.ChannelOpenConfirmation(1, 2, 3))) == 17
    assert len(apf.encode(apf.Disconnect(11))) == 7
    assert len(apf.encode(apf.RequestSuccess(16992))) == 5
    with pytest.raises(HostDataError, match="trailing"):
        apf.decode(apf.encode(apf.ChannelClose(1)) + b"\0")
    with pytest.raises(HostDataError, match="unknown"):
        apf.decode(b"\x63")


PARSERS: list[Callable[[bytes], object]] = [
    amthi.parse_code_versions,
    amthi.parse_provisioning_state,
    amthi.parse_control_mode,
    amthi.parse_uuid,
    amthi.parse_lan_settings,
    amthi_info.parse_dns_suffix,
    amthi_info.parse_hash_handles,
    lambda r: amthi_info.parse_hash_entry(1, r),
    amthi_info.parse_remote_access,
    amthi_info.parse_local_account,
    lambda r: amthi_info.parse_status_only(AmthiCommand.UNPROVISION, r),
]
COMMANDS = [
    AmthiCommand.GET_CODE_VERSIONS,
    AmthiCommand.GET_PROVISIONING_STATE,
    AmthiCommand.GET_CONTROL_MODE,
    AmthiCommand.GET_UUID,
    AmthiCommand.GET_LAN_INTERFACE_SETTINGS,
    AmthiCommand.GET_PKI_FQDN_SUFFIX,
    AmthiCommand.ENUMERATE_HASH_HANDLES,
    AmthiCommand.GET_CERTHASH_ENTRY,
    AmthiCommand.GET_REMOTE_ACCESS_CONNECTION_STATUS,
    AmthiCommand.GET_LOCAL_SYSTEM_ACCOUNT,
    AmthiCommand.UNPROVISION,
]


@given(st.integers(0, len(PARSERS) - 1), st.binary(max_size=400), u32)
def test_amthi_parsers_on_framed_garbage(index: int, payload: bytes, status: int) -> None:
    """A correct header around arbitrary payloads: typed errors or a value, nothing else."""
    reply = amthi_info.build_reply(COMMANDS[index], status % 3 and status, payload)
    with contextlib.suppress(HostDataError):
        PARSERS[index](reply)


@given(st.integers(0, len(PARSERS) - 1), st.binary(max_size=400))
def test_amthi_parsers_on_random_bytes(index: int, data: bytes) -> None:
    with contextlib.suppress(HostDataError):
        PARSERS[index](data)


def _device() -> DeviceState:
    identity = Identity.derive(index=3, address="127.14.0.4")
    return DeviceState.create(identity, Timing(), mode=ControlMode.PRE_PROVISIONING, now=0.0)


@given(st.binary(max_size=200), st.sampled_from(sorted(AmthiCommand)))
def test_emulator_amthi_answers_any_request(tail: bytes, command: AmthiCommand) -> None:
    device = _device()
    request = amthi.build_request(command, tail)
    reply = answer(device, request, 1.0)
    assert reply is not None  # well framed whatever its status
    assert len(reply) == 12 + int.from_bytes(reply[8:12], "little")
    assert answer(device, request[:11], 1.0) is None


def test_emulator_amthi_replies_parse_with_mewarden() -> None:
    device = _device()

    def ask(command: AmthiCommand) -> bytes:
        return answer(device, amthi.build_request(command), 0.0) or b""

    assert amthi.parse_control_mode(ask(AmthiCommand.GET_CONTROL_MODE)) is amthi.ControlMode.NONE
    account = amthi_info.parse_local_account(
        answer(device, amthi_info.build_local_account_request(), 0.0) or b""
    )
    assert account.username == "$$OsAdmin"
    assert account.password.reveal() == device.host_setup.local_password
    with pytest.raises(HostDataError, match="INVALID_PROVISIONING_STATE"):
        amthi_info.parse_status_only(AmthiCommand.UNPROVISION, ask(AmthiCommand.UNPROVISION))
    unknown = answer(device, amthi.build_request(AmthiCommand.GET_AMT_STATE), 0.0) or b""
    with pytest.raises(HostDataError, match="INVALID_PARAMETER"):
        amthi.parse_response(AmthiCommand.GET_AMT_STATE, unknown)


@given(st.binary(max_size=40))
def test_connect_step_codecs(data: bytes) -> None:
    client = uuid.UUID("12f80028-b4b7-4b2d-aca8-46e0ff65814c")
    try:
        assert mei_sim.parse_connect_request(data).bytes_le == data
    except HostDataError:
        assert len(data) != 16
    with contextlib.suppress(MeiError):
        mei_sim.parse_connect_reply(data, client)
