"""Module hash verification for ``$MME`` modules (ME 6-10, TXE 1-2).

The ``$MME`` header's 32-byte hash field (+0x14) holds the SHA-256 of the module's
*uncompressed* bytes, stored byte-reversed. This was established against the real fixtures in
``../shared/firmware-fixtures`` (every uncompressed and LZMA module of the ME 7, ME 8 and TXE 2
regions matches; ``tests/firmware/test_me_verify.py``), not taken from a document.

* uncompressed modules: hash the stored bytes;
* LZMA modules: ``.lzma`` "alone" streams (13-byte header: props, dictionary size, 8-byte
  length); on TXE 2 three zero bytes follow the header, so that variant is tried second;
  output is capped at :data:`MAX_MODULE_SIZE`;
* Huffman modules cannot be checked (the dictionaries are not public): result ``None``.

CSME (``$CPD``) modules keep their hashes in metadata extensions that are not parsed yet:
``None`` as well.
"""

from __future__ import annotations

import hashlib
import lzma

from mewarden.firmware.me.mme import Compression, MmeModule

MAX_MODULE_SIZE = 0x1000000  # 16 MiB: more than any ME module; bounds a decompression bomb
_LZMA_HEADER = 13
_TXE_PADDING = 3


def _lzma(stored: bytes) -> bytes | None:
    # A range-coded stream starts with a 0x00 byte; four zero bytes after the header mean the
    # TXE padding is there, so that variant is tried first (a failed attempt costs a decode).
    padded = stored[_LZMA_HEADER : _LZMA_HEADER + _TXE_PADDING + 1] == bytes(_TXE_PADDING + 1)
    candidates = [stored]
    if padded:
        candidates.insert(0, stored[:_LZMA_HEADER] + stored[_LZMA_HEADER + _TXE_PADDING :])
    for candidate in candidates:
        decoder = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
        try:
            return decoder.decompress(candidate, max_length=MAX_MODULE_SIZE)
        except lzma.LZMAError:
            continue
    return None


def module_hash_valid(region: bytes, module: MmeModule) -> bool | None:
    """True/False when the module's hash matches or not; None when it cannot be checked."""
    if not module.present or module.compression not in (Compression.UNCOMPRESSED, Compression.LZMA):
        return None
    stored = region[module.data_offset : module.data_offset + module.size]
    if len(stored) != module.size:
        return False
    plain = stored if module.compression == Compression.UNCOMPRESSED else _lzma(stored)
    if plain is None:
        return False
    return hashlib.sha256(plain).digest()[::-1] == module.hash
