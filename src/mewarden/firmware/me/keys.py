"""Known Intel signing keys: which ME family and generation a manifest key belongs to.

Two public tables identify keys (``../shared/reference/firmware.md`` §1.4, §2.3):

* me_cleaner: MD5 of the 0x104 bytes at manifest+0x80 (2048-bit modulus + 4-byte exponent);
* MEAnalyzer: SHA-256 of the modulus alone; the reference quotes first and last 4 bytes only,
  so those are matched as a prefix/suffix pair.

A key in neither table is reported as unknown (a warning), never guessed.
"""

from __future__ import annotations

import enum

from mewarden.firmware.digest import md5_hex, sha256_hex
from mewarden.record import Record


class MeFamily(enum.StrEnum):
    """Which engine the firmware is for."""

    ME = "ME"
    TXE = "TXE"
    SPS = "SPS"
    CSME = "CSME"
    CSTXE = "CSTXE"
    UNKNOWN = "unknown"


class KeyInfo(Record):
    """What a known key says: family, the versions it signs, production or pre-production."""

    family: MeFamily
    versions: str
    production: bool
    source: str


_MD5: dict[str, tuple[MeFamily, str]] = {
    "8431285d43b0f2a2f520d7cab3d34178": (MeFamily.ME, "2.0-2.2"),
    "4c00dd06c28119b5c1e5bb8eb6f30596": (MeFamily.ME, "2.5-2.6"),
    "9c24077a7f7490967855e9c4c16c6b9e": (MeFamily.ME, "3.x"),
    "bf41464be736f5520d80c67f6789020e": (MeFamily.ME, "4.x"),
    "5c7169b7e7065323fb7b3b5657b4d57a": (MeFamily.ME, "5.x"),
    "763e59ebe235e45a197a5b1a378dfa04": (MeFamily.ME, "6.x"),
    "3a98c847d609c253e145bd36512629cb": (MeFamily.ME, "6.0.50.x"),
    "0903fc25b0f6bed8c4ed724aca02124c": (MeFamily.ME, "7.x-8.x"),
    "2011ae6df87c40fba09e3f20459b1ce0": (MeFamily.ME, "9.0-9.1"),
    "e8427c5691cf8b56bc5cdd82746957ed": (MeFamily.ME, "9.5-10.x"),
    "986a78e481f185f7d54e4af06eb413f6": (MeFamily.CSME, "11.x"),
    "bda0b6bb8ca0bf0cac55ac4c4d55e0f2": (MeFamily.TXE, "1.x"),
    "b726a2ab9cd59d4e62fe2bead7cf6997": (MeFamily.TXE, "1.x"),
    "0633d7f951a3e7968ae7460861be9cfb": (MeFamily.TXE, "2.x"),
    "1d0a36e9f5881540d8e4b382c6612ed8": (MeFamily.CSTXE, "3.x"),
    "be900fef868f770d266b1fc67e887e69": (MeFamily.SPS, "2.x"),
    "4622e3f2cb212a89c90a4de3336d88d2": (MeFamily.SPS, "3.x"),
    "31ef3d950eac99d18e187375c0764ca4": (MeFamily.SPS, "4.x"),
    "3efc26920b4bee901b624771c742887b": (MeFamily.CSME, "12.x"),
    "8e4f834644da2bef03039d69d41ecf02": (MeFamily.CSME, "14.x"),
    "b29411f89bf20ed177d411c46e8ec185": (MeFamily.CSME, "15.x"),
    "5887caf9b677601ffb257cc98a13d2a9": (MeFamily.CSME, "16.x"),
}

# (sha256 prefix, suffix) of the modulus -> family, versions, production
_SHA256: tuple[tuple[str, str, MeFamily, str, bool], ...] = (
    ("69c77ef8", "a49e", MeFamily.CSME, "11", True),
    ("dd79bd23", "3c14", MeFamily.CSME, "12", True),
    ("bd46bced", "7234", MeFamily.CSME, "12", True),
    ("2d8fbc91", "aa21", MeFamily.CSME, "13.0 LP", True),
    ("de15892b", "9ede", MeFamily.CSME, "14.0", True),
    ("0cf50b23", "5a3e", MeFamily.CSME, "14.5", True),
    ("1742b0e4", "8541", MeFamily.CSME, "15.0", True),
    ("8e7f0722", "3cad", MeFamily.CSME, "15.40", True),
    ("11e288bf", "36bd", MeFamily.CSME, "16.0", True),
    ("be6a10cb", "b08f", MeFamily.CSME, "16.1", True),
    ("0590fbe0", "b7a1", MeFamily.ME, "9.5-10", True),
    ("b41f8f51", "d06e", MeFamily.ME, "9.0-9.1", True),
    ("a356e3ac", "a835", MeFamily.ME, "7-8", True),
    ("636ca265", "5adc", MeFamily.ME, "6", True),
    ("908b6830", "1a45", MeFamily.ME, "6.0.50", True),
    ("46e37831", "68ab", MeFamily.TXE, "2", True),
    ("10c05a23", "b37b", MeFamily.CSTXE, "3.0-3.1", True),
    ("3d6cf8e7", "07e4", MeFamily.CSTXE, "3.2", True),
    ("ed0274fa", "ea1f", MeFamily.CSTXE, "4", True),
    ("86c0e5ef", "7894", MeFamily.UNKNOWN, "ME 6-10, CSME 11, TXE 0-2 pre-production", False),
)


def key_md5(modulus_le: bytes, exponent_le: bytes) -> str:
    """me_cleaner's key id: MD5 of modulus and exponent as stored (2048-bit keys only)."""
    return md5_hex(modulus_le + exponent_le)


def key_sha256(modulus_le: bytes) -> str:
    """MEAnalyzer's key id: SHA-256 of the modulus as stored."""
    return sha256_hex(modulus_le)


def identify(modulus_le: bytes, exponent_le: bytes) -> KeyInfo | None:
    """The known key matching this modulus/exponent, or None."""
    sha = key_sha256(modulus_le)
    for prefix, suffix, family, versions, production in _SHA256:
        if sha.startswith(prefix) and sha.endswith(suffix):
            return KeyInfo(
                family=family, versions=versions, production=production, source="meanalyzer"
            )
    if len(modulus_le) == 0x100:
        hit = _MD5.get(key_md5(modulus_le, exponent_le))
        if hit is not None:
            return KeyInfo(family=hit[0], versions=hit[1], production=True, source="me_cleaner")
    return None
