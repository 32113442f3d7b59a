"""The sans-IO redirection client core against byte layouts from reference amt.md §3.2 and the
recorded traces of §6 (real AMT 11.8 session reply, an auth query offering only digest 4)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from mewarden.errors import (
    AmtAuthError,
    AmtBusyError,
    AmtUnsupportedError,
    RedirectionProtocolError,
)
from mewarden.redirect.kvm import KvmChannel, RawData
from mewarden.redirect.protocol import (
    Authenticated,
    ChannelOpened,
    Event,
    InboundSequence,
    InsecureAuth,
    RedirectionClient,
    SessionEnded,
    SessionStarted,
)
from mewarden.redirect.sol import SolChannel, SolData, SolLineStatus, SolSettings
from mewarden.secret import Secret

PASSWORD = "P@ssw0rd1"
REALM = "Digest:0123456789ABCDEF0123456789ABCDEF"
NONCE = "bm9uY2Utb2YtdGhlLWRldmljZQ=="
AMT_11_8_SESSION_REPLY = bytes.fromhex("11000000 0100 0B08 57010000 00".replace(" ", ""))
ONLY_DIGEST_4 = bytes.fromhex("14000000 00 01000000 04".replace(" ", ""))
HINT = "mewarden amt --host h redirection enable --sol"


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def lp(*fields: bytes) -> bytes:
    return b"".join(bytes([len(f)]) + f for f in fields)


def auth_reply(status: int, kind: int, data: bytes = b"") -> bytes:
    return bytes([0x14, status, 0, 0, kind]) + struct.pack("<I", len(data)) + data


def fields_of(message: bytes) -> list[bytes]:
    size = struct.unpack_from("<I", message, 5)[0]
    data, out, pos = message[9 : 9 + size], [], 0
    while pos < len(data):
        out.append(data[pos + 1 : pos + 1 + data[pos]])
        pos += 1 + data[pos]
    return out


def client(
    channel: SolChannel | KvmChannel | None = None, password: str = PASSWORD
) -> RedirectionClient:
    return RedirectionClient(
        channel or SolChannel(),
        user="admin",
        password=Secret(password),
        cnonce="c0ffee12",
        label="h:16994",
        enable_hint=HINT,
    )


def feed(conn: RedirectionClient, data: bytes, *, bytewise: bool = False) -> list[Event]:
    if not bytewise:
        return conn.receive(data)
    events: list[Event] = []
    for i in range(len(data)):
        events += conn.receive(data[i : i + 1])
    return events


def authenticate(conn: RedirectionClient, offered: bytes = ONLY_DIGEST_4) -> list[Event]:
    conn.start()
    assert conn.outgoing() == b"\x10\x00\x00\x00SOL " or conn.channel.session_type.value != b"SOL "
    events = feed(conn, AMT_11_8_SESSION_REPLY)
    assert conn.outgoing() == b"\x13\x00\x00\x00\x00\x00\x00\x00\x00"  # the query
    events += feed(conn, offered)
    return events


def test_digest_4_then_sol_from_the_documented_layout() -> None:
    conn = client()
    events = authenticate(conn)
    (started,) = [e for e in events if isinstance(e, SessionStarted)]
    assert started.reply.firmware == (11, 8)
    assert started.reply.iana == 343
    step1 = conn.outgoing()
    assert step1[:5] == b"\x13\x00\x00\x00\x04"
    assert fields_of(step1) == [b"admin", b"", b"", b"/RedirectionService", b"", b"", b"", b""]
    feed(conn, auth_reply(1, 4, lp(REALM.encode(), NONCE.encode(), b"auth")), bytewise=True)
    step2 = fields_of(conn.outgoing())
    ha1 = md5(f"admin:{REALM}:{PASSWORD}")
    ha2 = md5("POST:/RedirectionService")
    want = md5(f"{ha1}:{NONCE}:00000002:c0ffee12:auth:{ha2}")
    assert step2 == [
        b"admin", REALM.encode(), NONCE.encode(), b"/RedirectionService", b"c0ffee12",
        b"00000002", want.encode(), b"auth",
    ]  # fmt: skip
    assert feed(conn, auth_reply(0, 4)) == [Authenticated(conn.method)]  # type: ignore[arg-type]
    start = conn.outgoing()
    assert start[:8] == b"\x20\x00\x00\x00\x01\x00\x00\x00"  # StartSOLRedirection, sequence 1
    assert struct.unpack_from("<HHHHHH", start, 8) == (1000, 100, 0, 10000, 0, 5000)
    assert len(start) == 24
    reply = b"\x21\x00\x00\x00" + bytes(19)
    data = b"\x2a\x00\x00\x00" + struct.pack("<IH", 1, 6) + b"login:"
    events = feed(conn, reply + data, bytewise=True)
    assert isinstance(events[0], ChannelOpened)
    assert events[1:] == [SolData(b"login:")]


def test_digest_3_leaves_nc_cnonce_and_qop_out() -> None:
    conn = client()
    authenticate(conn, auth_reply(0, 0, b"\x03"))
    assert conn.outgoing()[4] == 3
    feed(conn, auth_reply(1, 3, lp(REALM.encode(), NONCE.encode())))
    step2 = fields_of(conn.outgoing())
    ha1 = md5(f"admin:{REALM}:{PASSWORD}")
    assert step2[4:6] == [b"", b""]
    assert step2[6] == md5(f"{ha1}:{NONCE}:{md5('POST:/RedirectionService')}").encode()


def test_digest_is_preferred_and_plain_only_when_nothing_better() -> None:
    conn = client()
    authenticate(conn, auth_reply(0, 0, b"\x01\x03\x04"))
    assert conn.outgoing()[4] == 4
    plain = client()
    events = authenticate(plain, auth_reply(0, 0, b"\x01\x02"))
    assert InsecureAuth((1, 2)) in events
    message = plain.outgoing()
    assert message[4] == 1
    assert fields_of(message) == [b"admin", PASSWORD.encode()]


def test_kerberos_only_is_unsupported() -> None:
    with pytest.raises(AmtUnsupportedError, match="offers no redirection authentication"):
        authenticate(client(), auth_reply(0, 0, b"\x02"))


def test_a_wrong_password_is_an_auth_error() -> None:
    conn = client(password="Wr0ngPassw0rd")
    authenticate(conn)
    conn.outgoing()
    feed(conn, auth_reply(1, 4, lp(REALM.encode(), NONCE.encode(), b"auth")))
    conn.outgoing()
    with pytest.raises(AmtAuthError, match="rejected user 'admin'") as caught:
        feed(conn, auth_reply(1, 4))
    assert "Wr0ngPassw0rd" not in str(caught.value)  # never the password


def test_busy_and_refusals_are_typed_and_name_the_enabling_command() -> None:
    with pytest.raises(AmtBusyError):
        authenticate(client(), auth_reply(2, 0))
    conn = client()
    conn.start()
    with pytest.raises(AmtUnsupportedError, match="enable it with: mewarden amt"):
        feed(conn, b"\x11\x01\x00\x00" + bytes(9))
    conn = client()
    authenticate(conn)
    feed(conn, auth_reply(1, 4, lp(REALM.encode(), NONCE.encode(), b"auth")))
    feed(conn, auth_reply(0, 4))
    with pytest.raises(AmtUnsupportedError, match=r"refused to start SOL .*enable it with"):
        feed(conn, b"\x21\x01\x00\x00" + bytes(19))


def open_sol(settings: SolSettings | None = None) -> tuple[RedirectionClient, SolChannel]:
    channel = SolChannel(settings)
    conn = client(channel)
    authenticate(conn)
    feed(conn, auth_reply(1, 4, lp(REALM.encode(), NONCE.encode(), b"auth")))
    feed(conn, auth_reply(0, 4))
    feed(conn, b"\x21\x00\x00\x00" + bytes(19))
    conn.outgoing()
    return conn, channel


def test_sol_traffic_sequences_keep_alives_and_power_status() -> None:
    conn, channel = open_sol(SolSettings(max_tx_buffer=4))
    channel.send(b"root\rX")
    out = conn.outgoing()
    assert out == (
        b"\x28\x00\x00\x00" + struct.pack("<IH", 2, 4) + b"root"
        + b"\x28\x00\x00\x00" + struct.pack("<IH", 3, 2) + b"\rX"
    )  # fmt: skip
    assert channel.keep_alive() == b"\x24\x00\x00\x00" + struct.pack("<I", 4)
    assert feed(conn, b"\x24\x00\x00\x00" + struct.pack("<I", 9)) == []
    assert conn.outgoing() == b"\x25\x00\x00\x00" + struct.pack("<I", 9)  # pong
    (status,) = feed(conn, b"\x29\x00\x00\x00" + struct.pack("<I", 1) + b"\x00\x00")
    assert isinstance(status, SolLineStatus)
    assert not status.host_powered
    (status,) = feed(conn, b"\x29\x00\x00\x00" + struct.pack("<I", 2) + b"\x03\x04")
    assert isinstance(status, SolLineStatus)
    assert status.host_powered


def test_a_clean_end_waits_for_the_reply_then_ends_the_session() -> None:
    conn, _ = open_sol()
    conn.end()
    assert conn.outgoing() == b"\x22\x00\x00\x00" + struct.pack("<I", 2)
    assert not conn.closed
    assert feed(conn, b"\x23\x00\x00\x00" + struct.pack("<I", 2)) == [SessionEnded()]
    assert conn.outgoing() == b"\x12\x00\x00\x00"
    assert conn.closed
    assert feed(conn, b"\xff") == []


def test_kvm_start_then_raw_rfb() -> None:
    channel = KvmChannel()
    conn = client(channel)
    conn.start()
    assert conn.outgoing() == b"\x10\x00\x00\x00KVMR"
    feed(conn, AMT_11_8_SESSION_REPLY)
    feed(conn, ONLY_DIGEST_4)
    feed(conn, auth_reply(1, 4, lp(REALM.encode(), NONCE.encode(), b"auth")))
    conn.outgoing()
    feed(conn, auth_reply(0, 4))
    assert conn.outgoing() == b"\x40" + bytes(7)
    events = feed(conn, b"\x41" + bytes(7) + b"RFB 003.008\n")
    assert isinstance(events[0], ChannelOpened)
    assert events[1:] == [RawData(b"RFB 003.008\n")]
    assert feed(conn, b"\x00\x01") == [RawData(b"\x00\x01")]
    channel.send(b"RFB 003.008\n")
    assert conn.outgoing() == b"RFB 003.008\n"


def test_inbound_sequences_strict_or_counted() -> None:
    strict = InboundSequence(strict=True)
    strict.check(5, "d")
    strict.check(6, "d")
    with pytest.raises(RedirectionProtocolError, match="sequence number 8 after 6"):
        strict.check(8, "d")
    lenient = InboundSequence(strict=False)
    for value in (1, 2, 4, 5):
        lenient.check(value, "d")
    assert lenient.gaps == 1


def test_bytes_out_of_place_are_protocol_errors() -> None:
    conn = client()
    conn.start()
    with pytest.raises(RedirectionProtocolError, match="START_REDIRECTION_SESSION_REPLY"):
        feed(conn, b"\x14" + bytes(12))
    conn = client()
    with pytest.raises(RedirectionProtocolError):
        feed(conn, b"\x11")  # nothing was started
    conn, _ = open_sol()
    with pytest.raises(RedirectionProtocolError, match="SOL message type 0x99"):
        feed(conn, b"\x99")
    conn = client()
    authenticate(conn)
    with pytest.raises(RedirectionProtocolError, match="announces"):
        feed(conn, b"\x14\x01\x00\x00\x04" + struct.pack("<I", 1 << 30))
