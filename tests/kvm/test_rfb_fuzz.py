"""Fuzzed RFB parsing (hypothesis): whatever the bytes, only typed errors come out."""

from __future__ import annotations

import contextlib
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mewarden.errors import AmtAuthError, RedirectionProtocolError
from mewarden.rfb import intel_rle, pixels
from mewarden.rfb.client import RfbClient
from mewarden.rfb.messages import SecurityType, ServerInit
from mewarden.rfb.server import FrameEncoder, RfbServer
from mewarden.secret import Secret

INIT = ServerInit(width=64, height=64, pixel_format=pixels.RGB565, name="Intel(r) AMT KVM")
TYPED = (RedirectionProtocolError, AmtAuthError)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _connected_client() -> RfbClient:
    server = RfbServer(init=INIT)
    client = RfbClient()
    for _ in range(6):
        client.receive(server.data_to_send())
        server.receive(client.data_to_send())
    return client


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_client_handshake_on_random_bytes(chunks: list[bytes]) -> None:
    client = RfbClient(password=Secret("pw"))
    with contextlib.suppress(*TYPED):
        for chunk in chunks:
            client.receive(b"RFB 003.008\n" + chunk)


@FUZZ
@given(st.binary(max_size=4000), st.integers(0, 3999))
def test_client_updates_with_mutated_bytes(noise: bytes, where: int) -> None:
    frame = pixels.values_to_rgb(
        pixels.bytes_to_values(os.urandom(64 * 64 * 2), 64 * 64, pixels.RGB565).reshape(64, 64),
        pixels.RGB565,
    )
    update = bytearray(FrameEncoder(compress=True).update(frame, pixels.RGB565, (16, 0)))
    update[where % len(update) : where % len(update) + len(noise)] = noise
    with contextlib.suppress(*TYPED):
        _connected_client().receive(bytes(update))


@FUZZ
@given(st.binary(max_size=600), st.integers(1, 64), st.integers(1, 64))
def test_rle_tiles_on_random_bytes(data: bytes, width: int, height: int) -> None:
    with contextlib.suppress(*TYPED):
        intel_rle.RleDecoder().tile(data, width, height, pixels.RGB888)
    with contextlib.suppress(*TYPED):
        intel_rle.decode_tile(data, width, height, pixels.RGB332)


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_server_on_random_bytes(chunks: list[bytes]) -> None:
    server = RfbServer(
        init=INIT,
        security=SecurityType.VNC_AUTHENTICATION,
        password=Secret("pw"),
        challenge=bytes(16),
    )
    try:
        server.receive(b"RFB 003.008\n\x02" + bytes(16) + b"\x01")
        for chunk in chunks:
            server.receive(chunk)
    except TYPED:
        pass
