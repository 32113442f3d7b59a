"""``$MN2`` code-partition manifests (ME 6 - CSME 16): header, version, key, signature.

API: :func:`parse_manifest` (``data``, ``offset`` of the manifest header, i.e. 0x1C before the
``$MN2`` tag) -> :class:`Manifest`. ``key_offset``/``signature_offset`` are absolute in ``data``;
``header_length``/``size`` are in bytes.

Facts (``../shared/reference/firmware.md`` §1.4, §1.5, §2.3): +0x04 header length and +0x18
size in dwords, +0x08 header version (0x10000, or 0x21000 for RSA-3072 manifests), +0x0C flags
(bit 31 debug-signed), +0x10 vendor 0x8086, +0x14 BCD date, +0x1C tag, +0x20 module count
(ME 6-10), +0x24 version as four u16, +0x78 key size and +0x7C exponent size in dwords, +0x80
modulus, then exponent, then signature (as long as the modulus).
"""

from __future__ import annotations

import struct

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.me import keys, signature
from mewarden.firmware.me.signature import SignatureScheme
from mewarden.record import Record, field

MN2_TAG = b"$MN2"
TAG_OFFSET = 0x1C
HEADER_FIXED = 0x80


class Manifest(Record):
    """A parsed, signature-checked ``$MN2`` manifest."""

    offset: int
    header_version: int
    header_length: int
    size: int
    flags: int
    vendor: int
    date: str
    version: str
    version_tuple: tuple[int, int, int, int]
    svn: int
    num_modules: int
    key_size: int
    key_offset: int
    signature_offset: int
    exponent: int
    key_md5: str
    key_sha256: str
    scheme: SignatureScheme
    signature_valid: bool | None
    key: keys.KeyInfo | None
    modulus: bytes = field(repr=False)

    @property
    def debug_signed(self) -> bool:
        """Flags bit 31: signed with a debug key."""
        return bool(self.flags & 0x80000000)


def is_manifest(data: bytes, offset: int) -> bool:
    """True when a ``$MN2`` manifest header starts at ``offset``."""
    return data[offset + TAG_OFFSET : offset + TAG_OFFSET + 4] == MN2_TAG


def _date(raw: int) -> str:
    day, month, year = raw & 0xFF, (raw >> 8) & 0xFF, raw >> 16
    return f"{year:04x}-{month:02x}-{day:02x}"


class _Layout(Record, kw_only=False):
    header_length: int
    size: int
    key_size: int
    key_offset: int
    signature_offset: int


def _layout(data: bytes, offset: int) -> _Layout:
    """Sizes and offsets of the manifest, checked against each other and the data length."""
    header_length = struct.unpack_from("<I", data, offset + 4)[0] * 4
    size = struct.unpack_from("<I", data, offset + 0x18)[0] * 4
    key_dw, exp_dw = struct.unpack_from("<II", data, offset + 0x78)
    key_size = key_dw * 4
    key_offset = offset + HEADER_FIXED
    signature_offset = key_offset + key_size + exp_dw * 4
    if key_size not in (signature.RSA2048_BYTES, signature.RSA3072_BYTES):
        raise FirmwareFormatError(f"manifest key size {key_size} bytes is not RSA", offset=offset)
    if exp_dw != 1 or not signature_offset + key_size - offset <= header_length <= size:
        raise FirmwareFormatError("manifest header/size fields are inconsistent", offset=offset)
    if offset + size > len(data):
        raise FirmwareFormatError(f"manifest ({size:#x} bytes) truncated", offset=offset)
    return _Layout(header_length, size, key_size, key_offset, signature_offset)


def parse_manifest(data: bytes, offset: int) -> Manifest:
    """Parse and verify the manifest whose header starts at ``offset``."""
    if not is_manifest(data, offset):
        raise FirmwareFormatError("no $MN2 manifest tag", offset=offset + TAG_OFFSET)
    if len(data) < offset + HEADER_FIXED:
        raise FirmwareFormatError("manifest header truncated", offset=offset)
    hdr_ver, flags, vendor, date = struct.unpack_from("<4I", data, offset + 8)
    num_modules = struct.unpack_from("<I", data, offset + 0x20)[0]
    version = struct.unpack_from("<4H", data, offset + 0x24)
    svn = struct.unpack_from("<I", data, offset + 0x2C)[0]
    lay = _layout(data, offset)
    modulus = data[lay.key_offset : lay.key_offset + lay.key_size]
    exponent_le = data[lay.key_offset + lay.key_size : lay.signature_offset]
    exponent = int.from_bytes(exponent_le, "little")
    signed = data[offset : offset + HEADER_FIXED]
    signed += data[offset + lay.header_length : offset + lay.size]
    signature_le = data[lay.signature_offset : lay.signature_offset + lay.key_size]
    return Manifest(
        offset=offset,
        header_version=hdr_ver,
        header_length=lay.header_length,
        size=lay.size,
        flags=flags,
        vendor=vendor,
        date=_date(date),
        version=".".join(str(part) for part in version),
        version_tuple=version,
        svn=svn,
        num_modules=num_modules,
        key_size=lay.key_size,
        key_offset=lay.key_offset,
        signature_offset=lay.signature_offset,
        exponent=exponent,
        key_md5=keys.key_md5(modulus, exponent_le),
        key_sha256=keys.key_sha256(modulus),
        scheme=signature.scheme_for_key(lay.key_size),
        signature_valid=signature.verify(
            modulus_le=modulus, exponent=exponent, signature_le=signature_le, message=signed
        ),
        key=keys.identify(modulus, exponent_le),
        modulus=modulus,
    )


CSE_SKU_EXTENSION = 0x0C
_CSE_SKU_NAMES = {0: "Corporate", 1: "Consumer", 2: "Slim", 3: "Server"}


def extensions(data: bytes, parsed: Manifest) -> list[tuple[int, int, int]]:
    """``(type, offset, length)`` of the extensions after a CSE (``$CPD``) manifest header.

    Only meaningful for ME 11+ manifests; pre-CSE manifests have ``$MME`` headers there.
    """
    found: list[tuple[int, int, int]] = []
    position = parsed.offset + parsed.header_length
    end = min(parsed.offset + parsed.size, len(data))
    while position + 8 <= end:
        kind, length = struct.unpack_from("<II", data, position)
        if length < 8 or position + length > end:
            break
        found.append((kind, position, length))
        position += length
    return found


def cse_sku(data: bytes, parsed: Manifest) -> str | None:
    """The firmware SKU type from extension 0x0C ``FWSKUAttrib`` bits 4-6 (reference §2.3)."""
    for kind, position, length in extensions(data, parsed):
        if kind == CSE_SKU_EXTENSION and length >= 0x30:
            attributes = struct.unpack_from("<Q", data, position + 0x28)[0]
            return _CSE_SKU_NAMES.get((attributes >> 4) & 7)
    return None
