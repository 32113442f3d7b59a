"""The sans-IO RFB codec: pixel formats, Intel RLE, VNC authentication, both state machines."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mewarden.errors import AmtAuthError, RedirectionProtocolError
from mewarden.rfb import intel_rle, pixels, vncauth
from mewarden.rfb.client import Connected, DesktopSize, Rectangle, RfbClient, UpdateDone
from mewarden.rfb.messages import (
    Encoding,
    KeyEvent,
    PointerEvent,
    SecurityType,
    ServerInit,
    SetEncodings,
    SetPixelFormat,
    UpdateRequest,
    encode_client,
    take_client_message,
)
from mewarden.rfb.server import AuthFailed, ClientReady, FrameEncoder, RfbServer
from mewarden.secret import Secret

FORMATS = [pixels.RGB888, pixels.RGB565, pixels.RGB332]
PASSWORD = Secret("s3cret!x")
RNG = np.random.default_rng(7)


def _exact_colours(count: int) -> np.ndarray:
    """Colours every AMT format carries exactly (each channel 0 or 255)."""
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)])
    return corners[RNG.integers(0, 8, count)].astype(np.uint8)


def _image(height: int, width: int, colours: int) -> np.ndarray:
    palette = RNG.integers(0, 256, (colours, 3)).astype(np.uint8)
    return palette[RNG.integers(0, colours, (height, width))]


@pytest.mark.parametrize("fmt", [*FORMATS, pixels.GREY8])
def test_pixel_format_survives_the_wire(fmt: pixels.PixelFormat) -> None:
    assert pixels.PixelFormat.unpack(fmt.pack()) == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_exact_colours_round_trip_in_every_amt_format(fmt: pixels.PixelFormat) -> None:
    rgb = _exact_colours(64 * 48).reshape(48, 64, 3)
    data = pixels.encode_rgb(rgb, fmt)
    assert len(data) == 64 * 48 * fmt.bytes_per_pixel
    assert (pixels.decode_rgb(data, 64, 48, fmt) == rgb).all()


def test_reduced_colour_quantizes_to_the_nearest_level() -> None:
    rgb = np.array([[[100, 200, 50]]], dtype=np.uint8)
    back = pixels.decode_rgb(pixels.encode_rgb(rgb, pixels.RGB332), 1, 1, pixels.RGB332)
    # RGB332: red and green in 3 bits (steps of 255/7), blue in 2 (steps of 85)
    assert back.tolist() == [[[109, 182, 85]]]


def test_bad_pixel_formats_are_typed_errors() -> None:
    colour_map = pixels.RGB565.pack()[:3] + b"\x00" + pixels.RGB565.pack()[4:]
    with pytest.raises(RedirectionProtocolError, match="colour-map"):
        pixels.PixelFormat.unpack(colour_map)
    with pytest.raises(RedirectionProtocolError, match="bits per pixel"):
        pixels.PixelFormat.unpack(b"\x18" + pixels.RGB888.pack()[1:])


@pytest.mark.parametrize("fmt", [*FORMATS, pixels.GREY8])
@pytest.mark.parametrize("colours", [1, 2, 3, 5, 16, 17, 200])
@pytest.mark.parametrize("rle", [False, True])
@pytest.mark.parametrize("compress", [False, True])
def test_intel_rle_tiles_round_trip(
    fmt: pixels.PixelFormat, colours: int, rle: bool, compress: bool
) -> None:
    encoder, decoder = intel_rle.RleEncoder(compress=compress), intel_rle.RleDecoder()
    for height, width in ((64, 64), (7, 13), (1, 1), (64, 3)):
        values = pixels.rgb_to_values(_image(height, width, colours), fmt)
        rect = encoder.rectangle(values, 0, 0, fmt, rle=rle)
        assert int.from_bytes(rect[8:12], "big", signed=True) == Encoding.INTEL_RLE
        assert (decoder.tile(rect[16:], width, height, fmt) == values).all()


def test_intel_rle_picks_the_compact_subencodings() -> None:
    fmt = pixels.RGB565
    solid = pixels.rgb_to_values(np.full((64, 64, 3), 255, dtype=np.uint8), fmt)
    assert intel_rle.encode_tile(solid, fmt) == b"\x01\xff\xff"
    two = pixels.rgb_to_values(_exact_colours(64 * 64).reshape(64, 64, 3) // 255 * 255, fmt)
    tile = intel_rle.encode_tile(two, fmt)
    colours = len(np.unique(two))
    bits = 1 if colours <= 2 else 2 if colours <= 4 else 4
    assert tile[0] == colours
    assert len(tile) == 1 + 2 * colours + 64 * 64 * bits // 8


def test_uncompressed_rle_is_stored_deflate_blocks() -> None:
    data = intel_rle.stored_block(b"abc")
    assert data == b"\x00\x03\x00\xfc\xffabc"


@pytest.mark.parametrize(
    "tile",
    [
        b"",
        b"\x00\x01",  # raw, too short
        b"\x01\x00\x00\x00",  # solid with a trailing byte
        b"\x03\x00\x00\x00\x00\x00\x00\xff",  # 3-colour palette, index 3 out of range
        b"\x80\x00\x00\xff\xff\xff",  # run past the tile
        b"\x81",  # 129 is no subencoding
    ],
)
def test_malformed_tiles_are_typed_errors(tile: bytes) -> None:
    with pytest.raises(RedirectionProtocolError):
        intel_rle.decode_tile(tile, 2, 2, pixels.RGB565)


def test_vnc_auth_answers_verify_and_depend_on_the_password() -> None:
    challenge = os.urandom(16)
    answer = vncauth.response(PASSWORD, challenge)
    assert vncauth.verify(PASSWORD, challenge, answer)
    assert not vncauth.verify(Secret("s3cret!y"), challenge, answer)
    # only 8 characters count, as in every VNC implementation
    assert vncauth.response(Secret("s3cret!xEXTRA"), challenge) == answer


def _pump(server: RfbServer, client: RfbClient) -> tuple[list[object], list[object]]:
    server_events: list[object] = []
    client_events: list[object] = []
    for _ in range(8):
        client_events += client.receive(server.data_to_send())
        server_events += server.receive(client.data_to_send())
    return server_events, client_events


def _init(fmt: pixels.PixelFormat = pixels.RGB565) -> ServerInit:
    return ServerInit(width=200, height=100, pixel_format=fmt, name="Intel(r) AMT KVM")


@pytest.mark.parametrize("security", [SecurityType.NONE, SecurityType.VNC_AUTHENTICATION])
def test_handshake_then_updates_reach_the_client(security: SecurityType) -> None:
    server = RfbServer(init=_init(), security=security, password=PASSWORD, challenge=os.urandom(16))
    client = RfbClient(password=PASSWORD)
    server_events, client_events = _pump(server, client)
    assert server_events == [ClientReady(shared=True)]
    assert client_events == [Connected(init=_init())]
    client.send(SetEncodings(encodings=(Encoding.INTEL_RLE, Encoding.RAW, Encoding.DESKTOP_SIZE)))
    client.send(SetPixelFormat(pixel_format=pixels.RGB332))
    client.send(UpdateRequest(incremental=False, x=0, y=0, width=200, height=100))
    assert len(server.receive(client.data_to_send())) == 3
    assert server.pixel_format == pixels.RGB332
    frame = _exact_colours(200 * 100).reshape(100, 200, 3)
    got = np.zeros_like(frame)
    events = client.receive(FrameEncoder().update(frame, server.pixel_format, server.encodings))
    for event in events:
        if isinstance(event, Rectangle):
            h, w = event.pixels.shape[:2]
            got[event.y : event.y + h, event.x : event.x + w] = event.pixels
    assert isinstance(events[-1], UpdateDone)
    assert (got == frame).all()


def test_only_changed_tiles_are_sent_again() -> None:
    frame = np.zeros((128, 128, 3), dtype=np.uint8)
    encoder = FrameEncoder()
    changed = frame.copy()
    changed[70, 70] = 255
    encodings = (Encoding.INTEL_RLE, Encoding.RAW)
    update = encoder.update(changed, pixels.RGB565, encodings, previous=frame)
    assert int.from_bytes(update[2:4], "big") == 1  # one of four tiles
    assert encoder.update(changed, pixels.RGB565, encodings, previous=changed) == b""


def test_desktop_size_reaches_the_client() -> None:
    from mewarden.rfb.server import desktop_size_update

    server = RfbServer(init=_init())
    client = RfbClient()
    _pump(server, client)
    assert client.receive(desktop_size_update(640, 480)) == [
        DesktopSize(width=640, height=480),
        UpdateDone(),
    ]
    assert client.size == (640, 480)


def test_wrong_vnc_password_is_an_auth_error_on_both_sides() -> None:
    server = RfbServer(
        init=_init(),
        security=SecurityType.VNC_AUTHENTICATION,
        password=PASSWORD,
        challenge=os.urandom(16),
    )
    client = RfbClient(password=Secret("wrong-pw"))
    for _ in range(2):  # versions, then the security type
        client.receive(server.data_to_send())
        server.receive(client.data_to_send())
    client.receive(server.data_to_send())  # the challenge
    assert server.receive(client.data_to_send()) == [AuthFailed()]
    with pytest.raises(AmtAuthError, match="VNC authentication failed: authentication failed"):
        client.receive(server.data_to_send())


@pytest.mark.parametrize("version", [b"RFB 003.003\n", b"RFB 003.007\n", b"RFB 003.008\n"])
def test_old_viewers_get_their_own_handshake(version: bytes) -> None:
    server = RfbServer(
        init=_init(),
        security=SecurityType.VNC_AUTHENTICATION,
        password=PASSWORD,
        challenge=bytes(16),
    )
    assert server.data_to_send() == b"RFB 003.008\n"
    server.receive(version)
    offered = server.data_to_send()
    if version == b"RFB 003.003\n":
        assert offered == b"\x00\x00\x00\x02" + bytes(16)  # type chosen by the server
    else:
        assert offered == b"\x01\x02"
        server.receive(b"\x02")
        assert server.data_to_send() == bytes(16)
    server.receive(vncauth.response(PASSWORD, bytes(16)))
    assert server.data_to_send() == b"\x00\x00\x00\x00"
    assert server.receive(b"\x01") == [ClientReady(shared=True)]


def test_refused_connection_carries_its_reason_to_the_client() -> None:
    server = RfbServer(init=_init())
    server.refuse("KVM is disabled")
    client = RfbClient()
    client.receive(server.data_to_send())
    server.receive(client.data_to_send())
    with pytest.raises(RedirectionProtocolError, match="KVM is disabled"):
        client.receive(server.data_to_send())
    assert server.closed


def test_amt_version_4_is_answered_with_3_8() -> None:
    client = RfbClient()
    client.receive(b"RFB 004.000\n")
    assert client.data_to_send() == b"RFB 003.008\n"


@pytest.mark.parametrize(
    "message",
    [
        SetPixelFormat(pixel_format=pixels.RGB565),
        SetEncodings(encodings=(16, 0, -223, 1092)),
        UpdateRequest(incremental=True, x=1, y=2, width=3, height=4),
        KeyEvent(down=True, key=0xFF0D),
        PointerEvent(buttons=1, x=10, y=20),
    ],
)
def test_client_messages_round_trip(message: object) -> None:
    buffer = bytearray(encode_client(message))  # type: ignore[arg-type]
    assert take_client_message(buffer) == message
    assert not buffer
