"""Synthetic, structurally faithful Intel SPI images for unit tests and the demo.

:func:`build_image` makes an IFD v1 descriptor (Panther Point style: FLMAP, FLREGs, FLMSTRs,
PCHSTRP10 with AltMeDisable), an ME region with a ROM-bypass vector, a ``$FPT`` with a correct
8-bit checksum, an FTPR code partition holding a ``$MN2`` manifest signed with a throw-away RSA key
generated at build time (RSA-2048 PKCS#1 v1.5/SHA-256, or RSA-3072 PSS/SHA-384) followed by
``$MME`` module headers and module data, an NFTP code partition, data and NVRAM entries, and an
empty BIOS region. ``cpd=True`` makes an ME 11-style FTPR instead (``$CPD`` directory with
``FTPR.man`` listing a ``.met`` per module in extension 0x0F, the ``.met`` files and the
modules, FPT checksum over the 0x20-byte header). ``neutralized=True`` lays
the image out the way me_cleaner leaves it (only FTPR in the FPT, other partitions and
non-essential modules wiped to 0xFF). Module hashes follow the ``$MME`` and CSME conventions of
``me.verify``; ``tampered_module`` changes one module after signing.

Formats: ``../shared/reference/firmware.md`` §1.3-1.6; nothing is copied from Intel images.
"""

from __future__ import annotations

import hashlib
import lzma
import struct

from cryptography.hazmat.primitives.asymmetric import rsa

from mewarden.firmware.descriptor import IfdVersion, encode_flreg
from mewarden.firmware.me.signature import sign_for_tests
from mewarden.record import Record, field

FLASH_SIZE = 0x200000  # 2 MiB: FLCOMP density 2 (0x80000 << 2)
ME_START, ME_END = 0x1000, 0x100000
ROM_BYPASS = bytes.fromhex("2020800f40000024") + bytes(8)
_FTPR, _NFTP, _EFFS = 0x1000, 0x40000, 0x60000
_MME_SIZE = 0x60
ESSENTIAL = ("ROMP", "BUP")
CPD_MODULES = ("rbe", "kernel", "syslib", "bup", "pm", "vfs", "evtdisp", "loadmgr")
CPD_ESSENTIAL = ("rbe", "kernel", "syslib", "bup")
_CPD_MANIFEST_AT = 0x200


class SynthModule(Record):
    """A module to put in FTPR: name, compression (0 none, 2 LZMA), uncompressed size."""

    name: str
    compression: int = 0
    size: int = 0x2000


DEFAULT_MODULES = (
    SynthModule(name="ROMP", size=0x1000),
    SynthModule(name="BUP", size=0x4000),
    SynthModule(name="KERNEL", compression=2, size=0x6000),
    SynthModule(name="POLICY", compression=2),
    SynthModule(name="HOSTCOMM", compression=2),
    SynthModule(name="TDT", compression=2, size=0x1000),
)


class SynthSpec(Record):
    """What to build. Every field is a fact the tests can compare the parsed report against."""

    version: tuple[int, int, int, int] = (8, 1, 99, 4242)
    key_bits: int = 2048
    modules: tuple[SynthModule, ...] = DEFAULT_MODULES
    alt_me_disable: bool = False
    neutralized: bool = False
    bad_signature: bool = False
    tampered_module: str | None = None
    cpd: bool = False
    with_descriptor: bool = True
    partitions: tuple[str, ...] = field(default=("FTPR", "NFTP", "EFFS", "NVCL"))


def _descriptor(spec: SynthSpec) -> bytes:
    fd = bytearray(b"\xff" * 0x1000)
    struct.pack_into("<4s", fd, 0x10, b"\x5a\xa5\xf0\x0f")
    # FLMAP0: FCBA 0x30, NR 2 (3 regions beyond FD... ifdtool reads up to 5), FRBA 0x40
    struct.pack_into("<III", fd, 0x14, 0x02040003, 0x12100206, 0x00000020)
    struct.pack_into("<I", fd, 0x30, 0x2)  # FLCOMP: one component, density 2 = 2 MiB
    regions = (
        encode_flreg(0, 0x1000, IfdVersion.V1),
        encode_flreg(ME_END, FLASH_SIZE, IfdVersion.V1),
        encode_flreg(ME_START, ME_END, IfdVersion.V1),
        0x00001FFF,  # GbE unused (limit < base)
        0x00001FFF,  # PDR unused
    )
    struct.pack_into("<5I", fd, 0x40, *regions)
    struct.pack_into("<3I", fd, 0x60, 0x0A0B0000, 0x0C0D0000, 0x08080118)
    straps = [0] * 18
    straps[10] = 0x00410044 | (0x80 if spec.alt_me_disable else 0)
    struct.pack_into("<18I", fd, 0x100, *straps)
    return bytes(fd)


def _stored(module: SynthModule) -> tuple[bytes, bytes]:
    """(bytes as stored, hash field) of a module: LZMA "alone" streams for compression 2."""
    payload = hashlib.shake_256(module.name.encode()).digest(module.size // 2) * 2
    stored = lzma.compress(payload, format=lzma.FORMAT_ALONE) if module.compression else payload
    return stored, hashlib.sha256(payload).digest()[::-1]


def _modules_blob(spec: SynthSpec, data_start: int) -> tuple[list[bytes], bytes]:
    """The ``$MME`` headers and the module data placed at partition offset ``data_start``."""
    headers: list[bytes] = []
    blob = bytearray()
    for index, module in enumerate(spec.modules):
        stored, digest = _stored(module)
        if module.name == spec.tampered_module:  # changed after signing: hash no longer matches
            middle = len(stored) // 2
            stored = stored[:middle] + bytes([stored[middle] ^ 0x01]) + stored[middle + 1 :]
        offset = data_start + len(blob)
        header = bytearray(_MME_SIZE)
        struct.pack_into("<4s16s", header, 0, b"$MME", module.name.encode())
        header[0x14:0x34] = digest
        load = 0x20000000 + index * 0x10000
        struct.pack_into("<4I", header, 0x34, load, offset, module.size, len(stored))
        struct.pack_into("<I", header, 0x50, module.compression << 4)
        headers.append(bytes(header))
        removed = spec.neutralized and module.name not in ESSENTIAL
        blob += b"\xff" * len(stored) if removed else stored
        blob += b"\xff" * (-len(blob) % 0x10)
    return headers, bytes(blob)


def _manifest(
    spec: SynthSpec, key: rsa.RSAPrivateKey, headers: list[bytes], body: bytes | None = None
) -> bytes:
    """The signed ``$MN2`` manifest; ``body`` (CSME extensions) replaces the ``$MME`` headers."""
    key_bytes = spec.key_bits // 8
    header_len = 0x80 + 2 * key_bytes + 4
    if body is None:
        body = b"FTPR".ljust(12, b"\0") + b"".join(headers)
    size = header_len + len(body)
    head = bytearray(0x80)
    struct.pack_into("<7I4s", head, 0, 4, header_len // 4, 0x10000, 0, 0x8086, 0x20240115,
                     size // 4, b"$MN2")  # fmt: skip
    struct.pack_into("<I4HI", head, 0x20, len(headers), *spec.version, 1)
    struct.pack_into("<II", head, 0x78, key_bytes // 4, 1)
    numbers = key.public_key().public_numbers()
    signature = sign_for_tests(key, bytes(head) + body)
    if spec.bad_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    modulus = numbers.n.to_bytes(key_bytes, "little")
    exponent = numbers.e.to_bytes(4, "little")
    return bytes(head) + modulus + exponent + signature + body


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[::-1]  # CSME and $MME hashes are stored byte-reversed


def _met(payload: bytes) -> bytes:
    """A ``.met`` file: extension 0x0A (module attributes, uncompressed) with the module hash."""
    attributes = struct.pack("<IIBBHIIHH", 0x0A, 0x38, 0, 0, 0, len(payload), len(payload), 0,
                             0x8086)  # fmt: skip
    return attributes + _digest(payload)


def _package(mets: list[tuple[str, bytes]]) -> bytes:
    """Manifest extension 0x0F listing each ``.met`` with its SHA-256 (``me.cse_meta``)."""
    entries = b"".join(
        struct.pack("<12sBBHI", name.encode(), 2, 2, 0x20, len(met)) + _digest(met)
        for name, met in mets
    )
    header = struct.pack("<II4s", 0x0F, 0x34 + len(entries), b"FTPR").ljust(0x34, b"\0")
    return header + entries


def _cpd_payloads(spec: SynthSpec) -> list[tuple[str, bytes, bytes]]:
    """(name, bytes as stored, ``.met``) of each module; tampering happens after hashing."""
    modules = []
    for name in CPD_MODULES:
        payload = hashlib.shake_256(name.encode()).digest(0x2000)
        met = _met(payload)
        if spec.neutralized and not name.startswith(CPD_ESSENTIAL):
            payload = b"\xff" * len(payload)
        elif name == spec.tampered_module:
            payload = payload[:0x1000] + bytes([payload[0x1000] ^ 0x01]) + payload[0x1001:]
        modules.append((name, payload, met))
    return modules


def _cpd_ftpr(spec: SynthSpec, key: rsa.RSAPrivateKey) -> bytes:
    """An ME 11-style FTPR: ``$CPD``, ``FTPR.man``, ``.met`` files and 4 KiB-aligned modules."""
    modules = _cpd_payloads(spec)
    mets = [(name, met) for name, _payload, met in modules]
    man = _manifest(spec, key, [], _package(mets))
    placed: list[tuple[str, int, bytes]] = [("FTPR.man", _CPD_MANIFEST_AT, man)]
    cursor = _CPD_MANIFEST_AT + len(man)
    for name, met in mets:
        placed.append((f"{name}.met", cursor, met))
        cursor += len(met)
    cursor = (cursor + 0xFFF) & ~0xFFF
    for name, payload, _met_bytes in modules:
        placed.append((name, cursor, payload))
        cursor += len(payload)
    header = bytearray(0x10)
    struct.pack_into("<4sIBBBB4s", header, 0, b"$CPD", len(placed), 1, 1, 0x10, 0, b"FTPR")
    entries = b"".join(
        struct.pack("<12sIII", name.encode(), offset, len(data), 0) for name, offset, data in placed
    )
    header[0xB] = (-(sum(header) + sum(entries))) & 0xFF
    blob = bytearray(b"\xff" * cursor)
    blob[: 0x10 + len(entries)] = bytes(header) + entries
    for _name, offset, data in placed:
        blob[offset : offset + len(data)] = data
    return bytes(blob)


def _fpt(entries: list[tuple[str, int, int, int]], *, header_length: int = 0x30) -> bytes:
    """ROM-bypass vector + ``$FPT``; checksum range: ``header_length`` 0x30 ME 6-10, 0x20 ME 11."""
    header = bytearray(0x20)
    struct.pack_into("<4sIBBBB", header, 0, b"$FPT", len(entries), 0x20, 0x10, header_length, 0)
    table = b"".join(
        struct.pack("<4s4sII12xI", name.encode(), b"\0" * 4, offset, length, flags)
        for name, offset, length, flags in entries
    )
    covered = sum(header) + (sum(ROM_BYPASS) if header_length == 0x30 else 0)
    header[0xB] = (-covered) & 0xFF
    return ROM_BYPASS + bytes(header) + table


def _mme_ftpr(spec: SynthSpec, key: rsa.RSAPrivateKey) -> bytes:
    """An ME 6-10-style FTPR: ``$MN2`` manifest, ``$MME`` headers, module data."""
    key_bytes = spec.key_bits // 8
    first_module = (0x80 + 2 * key_bytes + 4 + 12 + len(spec.modules) * _MME_SIZE + 0xFF) & ~0xFF
    headers, blob = _modules_blob(spec, first_module)
    return _manifest(spec, key, headers).ljust(first_module, b"\0") + blob


def build_me_region(spec: SynthSpec) -> bytes:
    """The ME region alone (what ``me.bin`` files are)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=spec.key_bits)
    ftpr = _cpd_ftpr(spec, key) if spec.cpd else _mme_ftpr(spec, key)
    region = bytearray(b"\xff" * (ME_END - ME_START))
    layout = {
        "FTPR": (_FTPR, len(ftpr), 0x80, ftpr),
        "NFTP": (_NFTP, 0x8000, 0x80, b"\x5a" * 0x8000),
        "EFFS": (_EFFS, 0x10000, 0x03, b"\x00" * 0x100),
        "NVCL": (0xFFFFFFFF, 0x1000, 0x02, b""),
    }
    entries = []
    for name in spec.partitions:
        offset, length, flags, payload = layout[name]
        if spec.neutralized and name != "FTPR":
            continue
        entries.append((name, offset, length, flags))
        if payload:
            region[offset : offset + len(payload)] = payload
    table = _fpt(entries, header_length=0x20 if spec.cpd else 0x30)
    region[: len(table)] = table
    return bytes(region)


def build_image(spec: SynthSpec | None = None) -> bytes:
    """A full 2 MiB SPI image (or the bare ME region when ``with_descriptor`` is False)."""
    spec = spec or SynthSpec()
    region = build_me_region(spec)
    if not spec.with_descriptor:
        return region
    image = bytearray(b"\xff" * FLASH_SIZE)
    image[:0x1000] = _descriptor(spec)
    image[ME_START:ME_END] = region
    return bytes(image)
