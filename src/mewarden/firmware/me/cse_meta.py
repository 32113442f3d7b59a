"""CSME (``$CPD``) module metadata: the manifest's package list and ``.met`` module attributes.

API: :func:`package_hashes` (data, a parsed ``<partition>.man``) -> ``{module name: hash}``;
:func:`module_attributes` (data, the ``<module>.met`` entry) -> :class:`ModuleAttributes` or
None. Hashes are returned as stored (byte-reversed digests).

Layout established empirically, not taken from a document, against every ``$CPD`` code
partition of the real fixtures in ``../shared/firmware-fixtures``: ``system76-darp6/me.rom``
(CSME 14.0.10.1204: RBEP, FTPR, PMCP, OEMP, PCHC, NFTP) and ``dasharo-blobs/msi_ms7d25_me.bin``
(CSME 16.1.30.2307: RBEP, PMCP, FTPR, xPHY, PCHC, DPHY, NFTP); every listed hash matched
(``tests/firmware/test_me_verify_cse.py``). No CSME 11-13 or 15 region is in the corpus, so
their extension 0x03 is not read.

* The manifest extensions (type u32, length u32 incl. this header) follow the signed header.
  Extension **0x0F** is a 0x34-byte header (partition name at +8) followed by one entry per
  metadata file: name[12] (the module's name, without ``.met``), type u8, hash algorithm u8,
  hash size u16 (0x20 = SHA-256 on CSME 14, 0x30 = SHA-384 on CSME 16), metadata size u32
  (equal to the ``.met`` entry's length), then the hash of the whole ``<name>.met`` entry.
* A ``.met`` entry is itself an extension list. Extension **0x0A** (module attributes):
  +0x08 compression u8 (0 none, 1 Huffman, 2 LZMA), +0x0C uncompressed size u32, +0x10 stored
  size u32, +0x14 device id u16, +0x16 vendor id u16 (0x8086), +0x18 to the end: the hash of the
  module's uncompressed bytes (same size as the manifest's hash).
* Both hashes are stored byte-reversed, as in ``$MME`` headers.
"""

from __future__ import annotations

import struct

from mewarden.firmware.me.cpd import CpdEntry
from mewarden.firmware.me.manifest import Manifest, extensions
from mewarden.record import Record

PACKAGE_EXTENSION = 0x0F
ATTRIBUTES_EXTENSION = 0x0A
_PACKAGE_HEADER = 0x34
_PACKAGE_ENTRY = 0x14  # fixed part of an entry, before the hash
_ATTRIBUTES_HEADER = 0x18
HASH_SIZES = (0x20, 0x30)  # SHA-256, SHA-384


class ModuleAttributes(Record):
    """Extension 0x0A of a ``.met`` file."""

    compression: int
    uncompressed_size: int
    stored_size: int
    hash: bytes


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def package_hashes(data: bytes, manifest: Manifest) -> dict[str, bytes]:
    """The metadata hashes listed in the manifest's extension 0x0F, by module name."""
    found: dict[str, bytes] = {}
    for kind, position, length in extensions(data, manifest):
        if kind != PACKAGE_EXTENSION:
            continue
        at, end = position + _PACKAGE_HEADER, position + length
        while at + _PACKAGE_ENTRY <= end:
            name, _type, _algorithm, size = struct.unpack_from("<12sBBH", data, at)
            if size not in HASH_SIZES or at + _PACKAGE_ENTRY + size > end:
                break
            start = at + _PACKAGE_ENTRY
            found[_name(name)] = bytes(data[start : start + size])
            at = start + size
    return found


def module_attributes(data: bytes, met: CpdEntry) -> ModuleAttributes | None:
    """Extension 0x0A of the ``.met`` entry, or None when it has none (or a hash size unseen)."""
    at, end = met.data_offset, min(met.data_offset + met.length, len(data))
    while at + 8 <= end:
        kind, length = struct.unpack_from("<II", data, at)
        if length < 8 or at + length > end:
            return None
        if kind == ATTRIBUTES_EXTENSION and length - _ATTRIBUTES_HEADER in HASH_SIZES:
            compression = data[at + 8]
            uncompressed, stored = struct.unpack_from("<II", data, at + 0xC)
            return ModuleAttributes(
                compression=compression,
                uncompressed_size=uncompressed,
                stored_size=stored,
                hash=bytes(data[at + _ATTRIBUTES_HEADER : at + length]),
            )
        at += length
    return None
