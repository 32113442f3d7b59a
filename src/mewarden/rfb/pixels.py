"""Pixel formats and conversions between wire pixels and RGB arrays (numpy, H x W x 3 uint8).

RFB pixel formats (RFC 6143 §7.4) are 16 bytes: bits-per-pixel, depth, big-endian flag,
true-colour flag, red/green/blue max (u16), red/green/blue shift, 3 padding bytes. AMT's KVM
offers 16-bit RGB565 (its ServerInit default), 8-bit RGB332, and grey formats in which only red
carries a value (reference amt.md §3.2/§6; green and blue max 0).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mewarden.errors import RedirectionProtocolError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Rgb = npt.NDArray[np.uint8]
    Values = npt.NDArray[np.uint32]

PIXEL_FORMAT = struct.Struct(">BBBBHHHBBB3x")


@dataclass(frozen=True, slots=True, kw_only=True)
class PixelFormat:
    """One RFB pixel format (true colour only: colour maps are not offered by AMT)."""

    bits_per_pixel: int
    depth: int
    big_endian: bool
    true_colour: bool
    red_max: int
    green_max: int
    blue_max: int
    red_shift: int
    green_shift: int
    blue_shift: int

    def pack(self) -> bytes:
        return PIXEL_FORMAT.pack(
            self.bits_per_pixel,
            self.depth,
            int(self.big_endian),
            int(self.true_colour),
            self.red_max,
            self.green_max,
            self.blue_max,
            self.red_shift,
            self.green_shift,
            self.blue_shift,
        )

    @classmethod
    def unpack(cls, data: bytes) -> PixelFormat:
        """Parse and check 16 bytes; RedirectionProtocolError when they make no format."""
        if len(data) != PIXEL_FORMAT.size:
            raise RedirectionProtocolError("an RFB pixel format is 16 bytes")
        bpp, depth, big, true, rmax, gmax, bmax, rsh, gsh, bsh = PIXEL_FORMAT.unpack(data)
        fmt = cls(
            bits_per_pixel=bpp,
            depth=depth,
            big_endian=bool(big),
            true_colour=bool(true),
            red_max=rmax,
            green_max=gmax,
            blue_max=bmax,
            red_shift=rsh,
            green_shift=gsh,
            blue_shift=bsh,
        )
        fmt.check()
        return fmt

    def check(self) -> None:
        if self.bits_per_pixel not in (8, 16, 32):
            raise RedirectionProtocolError(f"unsupported bits per pixel {self.bits_per_pixel}")
        if not self.true_colour:
            raise RedirectionProtocolError("colour-map pixel formats are not supported")
        for top, shift in self._channels():
            if top and (top.bit_length() + shift > self.bits_per_pixel):
                raise RedirectionProtocolError("a colour channel does not fit in the pixel")

    def _channels(self) -> tuple[tuple[int, int], ...]:
        return (
            (self.red_max, self.red_shift),
            (self.green_max, self.green_shift),
            (self.blue_max, self.blue_shift),
        )

    @property
    def bytes_per_pixel(self) -> int:
        return self.bits_per_pixel // 8

    @property
    def greyscale(self) -> bool:
        """AMT's grey modes: only red carries the (grey) value."""
        return self.green_max == 0 and self.blue_max == 0

    @property
    def cpixel_bytes(self) -> int:
        """Bytes per compressed pixel in Intel RLE / ZRLE tiles (3 for 32-bit with 24-bit depth
        whose channels fit the low three bytes)."""
        fits = all((top << shift) < (1 << 24) for top, shift in self._channels())
        if self.bits_per_pixel == 32 and self.depth <= 24 and fits:
            return 3
        return self.bytes_per_pixel

    def dtype(self) -> str:
        order = ">" if self.big_endian else "<"
        return {8: "u1", 16: order + "u2", 32: order + "u4"}[self.bits_per_pixel]


def _format(
    bpp: int, depth: int, maxes: tuple[int, int, int], shifts: tuple[int, int, int]
) -> PixelFormat:
    return PixelFormat(
        bits_per_pixel=bpp,
        depth=depth,
        big_endian=False,
        true_colour=True,
        red_max=maxes[0],
        green_max=maxes[1],
        blue_max=maxes[2],
        red_shift=shifts[0],
        green_shift=shifts[1],
        blue_shift=shifts[2],
    )


#: What a bridge offers every standard viewer: 32-bit little-endian true colour.
RGB888: PixelFormat = _format(32, 24, (255, 255, 255), (16, 8, 0))
#: AMT's default (ServerInit ``10 10 00 01 001F 003F 001F 0B 05 00``, reference §6).
RGB565: PixelFormat = _format(16, 16, (31, 63, 31), (11, 5, 0))
#: AMT's 8-bit colour.
RGB332: PixelFormat = _format(8, 8, (7, 7, 3), (5, 2, 0))
#: AMT's 8-bit and 4-bit grey.
GREY8: PixelFormat = _format(8, 8, (255, 0, 0), (0, 0, 0))
GREY4: PixelFormat = _format(8, 4, (15, 0, 0), (0, 0, 0))


def rgb_to_values(rgb: Rgb, fmt: PixelFormat) -> Values:
    """Pixel values (uint32, same shape minus the channel axis) of an RGB array in ``fmt``."""
    import numpy as np

    if fmt.greyscale:
        wide = rgb.astype(np.uint32)
        grey = (wide[..., 0] * 299 + wide[..., 1] * 587 + wide[..., 2] * 114 + 500) // 1000
        return (((grey * fmt.red_max + 127) // 255) << fmt.red_shift).astype(np.uint32)
    # one 256-entry table per channel: indexing is far cheaper than arithmetic per pixel
    levels = np.arange(256, dtype=np.uint32)
    out = np.zeros(rgb.shape[:-1], dtype=np.uint32)
    for index, (top, shift) in enumerate(fmt._channels()):
        out |= (((levels * top + 127) // 255) << shift)[rgb[..., index]]
    return out


def values_to_rgb(values: Values, fmt: PixelFormat) -> Rgb:
    """RGB array of pixel values in ``fmt`` (channels expanded to 0..255, rounding)."""
    import numpy as np

    out = np.empty((*values.shape, 3), dtype=np.uint8)
    channels = fmt._channels()
    if fmt.greyscale:
        top, shift = channels[0]
        grey = _expand(values, top, shift)
        for index in range(3):
            out[..., index] = grey
        return out
    for index, (top, shift) in enumerate(channels):
        out[..., index] = _expand(values, top, shift)
    return out


def _expand(values: Values, top: int, shift: int) -> npt.NDArray[np.uint8]:
    import numpy as np

    if top == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    table = ((np.arange(top + 1, dtype=np.uint32) * 255 + top // 2) // top).astype(np.uint8)
    expanded: npt.NDArray[np.uint8] = table[(values >> shift) & top]
    return expanded


def values_to_bytes(values: Values, fmt: PixelFormat, *, compact: bool = False) -> bytes:
    """Wire bytes of pixel values (``compact``: CPIXELs of Intel RLE / ZRLE tiles)."""
    typed = values.astype(fmt.dtype())
    if compact and fmt.cpixel_bytes == 3:
        import numpy as np

        raw = np.frombuffer(typed.tobytes(), dtype=np.uint8).reshape(-1, 4)
        return (raw[:, 1:] if fmt.big_endian else raw[:, :3]).tobytes()
    return typed.tobytes()


def bytes_to_values(data: bytes, count: int, fmt: PixelFormat, *, compact: bool = False) -> Values:
    """Pixel values of ``count`` wire pixels (``compact``: CPIXELs)."""
    import numpy as np

    size = fmt.cpixel_bytes if compact else fmt.bytes_per_pixel
    if len(data) != count * size:
        raise RedirectionProtocolError("pixel data is shorter than the rectangle")
    if size == 3:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        wide = np.zeros((count, 4), dtype=np.uint8)
        if fmt.big_endian:
            wide[:, 1:] = raw
        else:
            wide[:, :3] = raw
        return np.frombuffer(wide.tobytes(), dtype=fmt.dtype()).astype(np.uint32)
    return np.frombuffer(data, dtype=fmt.dtype()).astype(np.uint32)


def encode_rgb(rgb: Rgb, fmt: PixelFormat) -> bytes:
    """Raw-encoding bytes of an RGB array."""
    return values_to_bytes(rgb_to_values(rgb, fmt), fmt)


def decode_rgb(data: bytes, width: int, height: int, fmt: PixelFormat) -> Rgb:
    """RGB array (height x width x 3) of Raw-encoding bytes."""
    values = bytes_to_values(data, width * height, fmt)
    return values_to_rgb(values.reshape(height, width), fmt)
