"""Intel's RLE: RFB encoding 16 as AMT's KVM sends it.

The reference (amt.md §3.2) names the encoding ("RLE (16, Intel's tile RLE)") and the Intel
in-band switch for zlib, but not the layout. We follow the layout AMT-aware viewers decode
(MeshCentral's ``amt-desktop`` behaviour), which is ZRLE's tile format with two differences:

* every rectangle is one tile of at most 64x64 pixels (a frame is many rectangles);
* its data is ``u32 length`` + a **raw deflate** stream (no zlib header) kept across the
  session. With zlib "off" AMT sends each tile as one stored deflate block (``00``, u16 LEN,
  u16 ~LEN, then the bytes), so one inflater reads both.

The tile: a subencoding byte, then 0 raw CPIXELs; 1 one CPIXEL (solid); 2..16 a palette of that
many CPIXELs and packed indices (1 bit for 2 colours, 2 bits for 3-4, 4 bits for 5-16; each row
starts on a byte boundary, most significant bits first); 128 runs (CPIXEL, length); 130..255 a
palette of (n - 128) CPIXELs and runs of indices (high bit set: a run length follows). Run
lengths are 1 + the sum of bytes up to and including the first byte below 255.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

from mewarden.errors import RedirectionProtocolError
from mewarden.rfb.messages import Encoding, rect_header
from mewarden.rfb.pixels import PixelFormat, bytes_to_values, values_to_bytes

if TYPE_CHECKING:
    from mewarden.rfb.pixels import Values

TILE = 64
RAW, SOLID, PLAIN_RLE = 0, 1, 128
MAX_PACKED = 16
PALETTE_RLE_BASE = 128
_STORED_MAX = 0xFFFF


def _bits_for(colours: int) -> int:
    return 1 if colours <= 2 else 2 if colours <= 4 else 4


def stored_block(data: bytes) -> bytes:
    """``data`` as uncompressed deflate blocks (AMT with zlib off)."""
    out = bytearray()
    for pos in range(0, max(len(data), 1), _STORED_MAX):
        piece = data[pos : pos + _STORED_MAX]
        out += b"\x00" + struct.pack("<HH", len(piece), len(piece) ^ 0xFFFF) + piece
    return bytes(out)


def encode_tile(values: Values, fmt: PixelFormat, *, rle: bool = False) -> bytes:
    """One tile (pixel values, height x width) as subencoding + data.

    Picks solid, packed palette or raw; ``rle`` picks the run-length forms instead where they
    apply (real AMT sends both; the emulator's default is the cheaper packed forms).
    """
    import numpy as np

    flat = values.reshape(-1)
    palette, inverse = np.unique(flat, return_inverse=True)
    indices = inverse.astype(np.uint32)
    count = len(palette)
    if count == 1:
        return bytes([SOLID]) + values_to_bytes(palette, fmt, compact=True)
    if rle and count <= 127:
        return _palette_rle(palette, indices, fmt)
    if rle:
        return _plain_rle(flat, fmt)
    if count <= MAX_PACKED:
        return _packed(palette, indices.reshape(values.shape), fmt)
    return bytes([RAW]) + values_to_bytes(flat, fmt, compact=True)


def _packed(palette: Values, indices: Values, fmt: PixelFormat) -> bytes:
    import numpy as np

    bits = _bits_for(len(palette))
    height, width = indices.shape
    per_byte = 8 // bits
    padded_width = -(-width // per_byte) * per_byte
    grid = np.zeros((height, padded_width), dtype=np.uint8)
    grid[:, :width] = indices
    grid = grid.reshape(height, -1, per_byte)
    packed = np.zeros(grid.shape[:2], dtype=np.uint8)
    for slot in range(per_byte):
        packed |= grid[:, :, slot] << (8 - bits * (slot + 1))
    head = bytes([len(palette)]) + values_to_bytes(palette, fmt, compact=True)
    return head + packed.tobytes()


def _run_length(length: int) -> bytes:
    rest = length - 1
    return b"\xff" * (rest // 255) + bytes([rest % 255])


def _runs(flat: Values) -> list[tuple[int, int]]:
    import numpy as np

    edges = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(flat)]))
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def _plain_rle(flat: Values, fmt: PixelFormat) -> bytes:
    out = bytearray([PLAIN_RLE])
    for start, length in _runs(flat):
        out += values_to_bytes(flat[start : start + 1], fmt, compact=True) + _run_length(length)
    return bytes(out)


def _palette_rle(palette: Values, indices: Values, fmt: PixelFormat) -> bytes:
    out = bytearray([PALETTE_RLE_BASE + len(palette)])
    out += values_to_bytes(palette, fmt, compact=True)
    for start, length in _runs(indices):
        index = int(indices[start])
        out += bytes([index]) if length == 1 else bytes([index | 0x80]) + _run_length(length)
    return bytes(out)


def tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The (x, y, w, h) tiles covering a width x height area, row by row."""
    return [
        (x, y, min(TILE, width - x), min(TILE, height - y))
        for y in range(0, height, TILE)
        for x in range(0, width, TILE)
    ]


class RleEncoder:
    """Server side: tiles to rectangles, with one raw-deflate stream per session."""

    def __init__(self, *, compress: bool = False) -> None:
        self.compress = compress
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)

    def rectangle(
        self, values: Values, x: int, y: int, fmt: PixelFormat, *, rle: bool = False
    ) -> bytes:
        """One tile at (x, y) as a complete rectangle (header, length, deflate data)."""
        height, width = values.shape
        tile = encode_tile(values, fmt, rle=rle)
        if self.compress:
            data = self._deflate.compress(tile) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        else:
            data = stored_block(tile)
        header = rect_header(x, y, width, height, Encoding.INTEL_RLE)
        return header + struct.pack(">I", len(data)) + data


class RleDecoder:
    """Client side: one raw-deflate stream per session; tiles to pixel values."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(-15)

    def tile(self, data: bytes, width: int, height: int, fmt: PixelFormat) -> Values:
        """Pixel values (height x width) of one rectangle's deflate data."""
        if not (0 < width <= TILE and 0 < height <= TILE):
            raise RedirectionProtocolError(f"Intel RLE tile {width}x{height} exceeds 64x64")
        try:
            # the largest tile is raw: 1 + 64*64*4 bytes; refuse anything that inflates past it
            plain = self._inflate.decompress(data, 1 + TILE * TILE * 4 + 1)
        except zlib.error as exc:
            raise RedirectionProtocolError(f"Intel RLE data does not inflate: {exc}") from None
        if self._inflate.unconsumed_tail:
            raise RedirectionProtocolError("Intel RLE tile inflates past its size")
        return decode_tile(plain, width, height, fmt)


def decode_tile(plain: bytes, width: int, height: int, fmt: PixelFormat) -> Values:
    """Pixel values of one tile's subencoding + data (exactly; trailing bytes are an error)."""
    import numpy as np

    if not plain:
        raise RedirectionProtocolError("empty Intel RLE tile")
    reader = _Reader(plain[1:], fmt)
    sub, count = plain[0], width * height
    if sub == RAW:
        out = reader.pixels(count)
    elif sub == SOLID:
        out = np.full(count, reader.pixels(1)[0], dtype=np.uint32)
    elif sub <= MAX_PACKED:
        out = _unpack_palette(reader, sub, width, height)
    elif sub == PLAIN_RLE:
        out = _decode_runs(reader, count, palette=None)
    elif sub > PALETTE_RLE_BASE + 1:
        out = _decode_runs(reader, count, palette=reader.pixels(sub - PALETTE_RLE_BASE))
    else:
        raise RedirectionProtocolError(f"unknown Intel RLE subencoding {sub}")
    reader.finish()
    return out.reshape(height, width)


class _Reader:
    def __init__(self, data: bytes, fmt: PixelFormat) -> None:
        self.data = data
        self.pos = 0
        self.fmt = fmt

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise RedirectionProtocolError("Intel RLE tile data ends early")
        piece = self.data[self.pos : self.pos + size]
        self.pos += size
        return piece

    def pixels(self, count: int) -> Values:
        raw = self.take(count * self.fmt.cpixel_bytes)
        return bytes_to_values(raw, count, self.fmt, compact=True)

    def run_length(self) -> int:
        length = 1
        while True:
            byte = self.take(1)[0]
            length += byte
            if byte != 255:
                return length

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise RedirectionProtocolError("Intel RLE tile has trailing bytes")


def _unpack_palette(reader: _Reader, colours: int, width: int, height: int) -> Values:
    import numpy as np

    palette = reader.pixels(colours)
    bits = _bits_for(colours)
    per_row = -(-width * bits // 8)
    packed = np.frombuffer(reader.take(per_row * height), dtype=np.uint8).reshape(height, per_row)
    unpacked = np.unpackbits(packed, axis=1).reshape(height, -1, bits)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint8)
    indices = (unpacked * weights).sum(axis=2)[:, :width]
    if int(indices.max()) >= colours:
        raise RedirectionProtocolError("Intel RLE packed index outside its palette")
    chosen: Values = palette[indices.reshape(-1)]
    return chosen


def _decode_runs(reader: _Reader, count: int, *, palette: Values | None) -> Values:
    import numpy as np

    out = np.empty(count, dtype=np.uint32)
    filled = 0
    while filled < count:
        if palette is None:
            value, length = int(reader.pixels(1)[0]), reader.run_length()
        else:
            index = reader.take(1)[0]
            length = reader.run_length() if index & 0x80 else 1
            if (index & 0x7F) >= len(palette):
                raise RedirectionProtocolError("Intel RLE run index outside its palette")
            value = int(palette[index & 0x7F])
        if filled + length > count:
            raise RedirectionProtocolError("Intel RLE run overflows its tile")
        out[filled : filled + length] = value
        filled += length
    return out
