"""Fuzzed redirection parsing, both sides: whatever the bytes, only typed errors come out."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from mewarden.emulate.redirection import Message, RedirectionAuth, take_message
from mewarden.errors import MewardenError
from mewarden.redirect.kvm import KvmChannel
from mewarden.redirect.protocol import RedirectionClient
from mewarden.redirect.sol import SolChannel
from mewarden.secret import Secret

SESSION_REPLY = bytes.fromhex("110000000100100157010000" + "00")
QUERY_REPLY = b"\x14\x00\x00\x00\x00" + struct.pack("<I", 3) + b"\x01\x03\x04"
CHALLENGE = b"\x14\x01\x00\x00\x04" + struct.pack("<I", 10) + b"\x01r\x01n\x04auth\x00"
SUCCESS = b"\x14\x00\x00\x00\x04" + struct.pack("<I", 0)
SOL_OPEN = b"\x21" + bytes(22)
# A valid prefix per phase: the fuzz starts from each and appends junk.
PREFIXES = (
    b"",
    SESSION_REPLY,
    SESSION_REPLY + QUERY_REPLY,
    SESSION_REPLY + QUERY_REPLY + CHALLENGE,
    SESSION_REPLY + QUERY_REPLY + CHALLENGE + SUCCESS,
    SESSION_REPLY + QUERY_REPLY + CHALLENGE + SUCCESS + SOL_OPEN,
)


def _client(kvm: bool) -> RedirectionClient:
    channel = KvmChannel() if kvm else SolChannel()
    conn = RedirectionClient(
        channel, user="admin", password=Secret("pw"), cnonce="01", label="fuzz"
    )
    conn.start()
    return conn


@given(
    prefix=st.sampled_from(PREFIXES),
    chunks=st.lists(st.binary(max_size=64), max_size=8),
    kvm=st.booleans(),
)
def test_the_client_core_raises_only_typed_errors(
    prefix: bytes, chunks: list[bytes], kvm: bool
) -> None:
    conn = _client(kvm)
    try:
        conn.receive(prefix)
        for chunk in chunks:
            conn.receive(chunk)
            conn.outgoing()
        conn.end()
        conn.outgoing()
    except MewardenError:
        pass


@given(st.lists(st.binary(max_size=80), max_size=8))
def test_the_emulator_parser_and_auth_raise_only_typed_errors(chunks: list[bytes]) -> None:
    auth = RedirectionAuth(realm="r", ha1="0" * 32, nonce="n", offered=(1, 3, 4))
    buffer = bytearray()
    try:
        for chunk in chunks:
            buffer += chunk
            while (message := take_message(buffer)) is not None:
                if message.kind == 0x13:
                    auth.answer(message)
    except MewardenError:
        pass
    assert not auth.authenticated


@given(st.integers(0, 255), st.binary(max_size=300))
def test_any_auth_message_gets_an_answer_or_a_typed_error(kind: int, data: bytes) -> None:
    auth = RedirectionAuth(realm="r", ha1="0" * 32, nonce="n", offered=(1, 3, 4))
    raw = b"\x13\x00\x00\x00" + bytes([kind]) + struct.pack("<I", len(data)) + data
    try:
        reply = auth.answer(Message(kind=0x13, raw=raw))
    except MewardenError:
        return
    assert reply[0] == 0x14
    assert not auth.authenticated
