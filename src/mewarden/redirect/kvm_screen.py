"""One KVM redirection stream and one frame of the managed screen: for `amt kvm screenshot`, the
bridge and heal's console evidence (:func:`capture_kvm_screenshot`).

Above :mod:`mewarden.amt` (it opens a redirection session) and beside the bridge it feeds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mewarden.amt.kvm import enable_hint

if TYPE_CHECKING:
    from mewarden.amt.client import Endpoint
    from mewarden.redirect.kvm_bridge import RawStream
    from mewarden.rfb.pixels import Rgb


async def open_kvm(endpoint: Endpoint) -> RawStream:
    """An authenticated KVM redirection stream (16994, or TLS 16995 with the endpoint's pin)."""
    from mewarden.redirect.kvm_bridge import RawStream
    from mewarden.redirect.session import open_kvm_stream

    stream = await open_kvm_stream(endpoint, enable_hint=enable_hint(endpoint))
    return RawStream(
        reader=stream.reader,
        writer=stream.writer,
        leftover=stream.leftover,
        observed_pin=stream.observed_pin,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Grab:
    """One frame and the TLS pin seen on first use (None with a pin or without TLS)."""

    frame: Rgb
    observed_pin: str | None


async def grab_frame(endpoint: Endpoint, *, timeout_s: float = 10.0) -> Grab:
    """One complete frame of the managed screen (RGB, height x width x 3)."""
    from mewarden.redirect.kvm_bridge import Mirror

    stream = await open_kvm(endpoint)
    mirror = Mirror(stream)
    try:
        await mirror.start(timeout_s)
    finally:
        mirror.close()
    assert mirror.frame is not None
    return Grab(frame=mirror.frame, observed_pin=stream.observed_pin)


def png_bytes(frame: Rgb) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(frame, "RGB").save(out, format="PNG")
    return out.getvalue()


async def capture_kvm_screenshot(endpoint: Endpoint, *, timeout_s: float = 10.0) -> bytes:
    """A PNG of the managed screen, for scripts and heal's console evidence.

    Needs KVM enabled and, where the device requires it, user consent already given (nothing
    here can ask a person for the code); raises the redirection session's typed errors.
    """
    return png_bytes((await grab_frame(endpoint, timeout_s=timeout_s)).frame)
