"""``--verify-modules``: module hashes against the signed ``$MME`` headers.

Oracle: the manifests are Intel-signed (their RSA signatures verify), so the hashes they carry
are authentic; every checkable module of a stock Intel image must match, and changing one byte
of a module must be detected.
"""

from __future__ import annotations

import pytest

from mewarden.firmware.inspect import inspect_image
from mewarden.firmware.me import verify
from mewarden.firmware.me.analyze import MeState
from mewarden.firmware.synth import SynthSpec, build_image
from tests.firmware.inspect_support import fixture

STOCK = [
    "coreboot-blobs/google_link_me.bin",
    "coreboot-blobs/samsung_lumpy_me.bin",
    "coreboot-blobs/intel_emeraldlake2_me.bin",
    "coreboot-blobs/facebook_fbg1701_me.bin",
]


@pytest.mark.parametrize("path", STOCK)
def test_stock_modules_match_their_hashes(path: str) -> None:
    report = inspect_image(fixture(path), verify_modules=True)
    assert report.me is not None
    checkable = [m for m in report.me.modules if m.compression in ("uncompressed", "lzma")]
    assert checkable
    assert all(m.hash_valid is True for m in checkable)
    huffman = [m for m in report.me.modules if m.compression == "huffman"]
    assert all(m.hash_valid is None for m in huffman)
    assert report.modules_verified is True
    assert report.me.state is MeState.STOCK


@pytest.mark.parametrize("path", STOCK)
def test_changed_module_byte_is_detected(path: str) -> None:
    data = bytearray(fixture(path))
    clean = inspect_image(bytes(data), verify_modules=True)
    assert clean.me is not None
    target = next(m for m in clean.me.modules if m.compression in ("uncompressed", "lzma"))
    data[target.offset + target.size // 2] ^= 0x01
    report = inspect_image(bytes(data), verify_modules=True)
    assert report.me is not None
    changed = next(m for m in report.me.modules if m.name == target.name)
    assert changed.hash_valid is False
    assert report.modules_verified is False
    assert report.me.state is MeState.CORRUPT
    # without --verify-modules the change is invisible: only the manifest is signed
    assert inspect_image(bytes(data)).me is not None


def test_default_inspection_does_not_verify() -> None:
    report = inspect_image(fixture(STOCK[0]))
    assert report.modules_verified is None
    assert report.me is not None
    assert all(m.hash_valid is None for m in report.me.modules)


@pytest.mark.parametrize("module", ["BUP", "KERNEL"])
def test_synthetic_tampered_module(module: str) -> None:
    report = inspect_image(build_image(SynthSpec(tampered_module=module)), verify_modules=True)
    assert report.me is not None
    results = {m.name: m.hash_valid for m in report.me.modules}
    assert results[module] is False
    assert all(valid is True for name, valid in results.items() if name != module)
    assert report.modules_verified is False


@pytest.mark.parametrize("path", STOCK)
def test_concurrent_and_serial_decoding_agree(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(fixture(path))
    clean = inspect_image(bytes(data), verify_modules=True)
    assert clean.me is not None
    lzma_modules = [m for m in clean.me.modules if m.compression == "lzma"]
    assert len(lzma_modules) >= 2  # so the thread pool is used where there are 2+ CPUs
    data[lzma_modules[-1].offset + lzma_modules[-1].size // 2] ^= 0x01
    concurrent = inspect_image(bytes(data), verify_modules=True)
    monkeypatch.setattr(verify, "MAX_WORKERS", 1)
    serial = inspect_image(bytes(data), verify_modules=True)
    assert concurrent.me is not None
    assert serial.me is not None
    assert [m.hash_valid for m in concurrent.me.modules] == [
        m.hash_valid for m in serial.me.modules
    ]
    assert [m.name for m in serial.me.modules if m.hash_valid is False] == [lzma_modules[-1].name]
