"""``--verify-modules`` on CSME (``$CPD``) images: manifest -> ``.met`` -> module hash chains.

Oracle: every partition manifest of these stock Intel regions is signed (the RSA signature
verifies), so the ``.met`` hashes it lists are authentic, and so are the module hashes in a
matching ``.met``. Every module that has such a chain and is not Huffman-compressed must match;
which modules those are is read from the ``$CPD`` directories here, not hard-coded. Changing
one byte of a module, of its ``.met`` or of a manifest must be detected.
"""

from __future__ import annotations

import pytest

from mewarden.firmware.inspect import InspectReport, inspect_image
from mewarden.firmware.me import cpd, manifest
from mewarden.firmware.me.analyze import MeState, ModuleReport
from mewarden.firmware.me.cse_meta import module_attributes, package_hashes
from mewarden.firmware.synth import SynthSpec, build_image
from tests.firmware.inspect_support import fixture

CSME = ["system76-darp6/me.rom", "dasharo-blobs/msi_ms7d25_me.bin"]


def _all(report: InspectReport) -> list[ModuleReport]:
    assert report.me is not None
    return list(report.me.modules + report.me.other_modules)


def _directories(data: bytes) -> dict[str, cpd.Cpd]:
    report = inspect_image(data)
    assert report.me is not None
    found = {}
    for part in report.me.partitions:
        if part.present and data[part.offset : part.offset + 4] == cpd.CPD_TAG:
            found[part.name] = cpd.parse_cpd(data, part.offset, part.length)
    return found


def _expected(directory: cpd.Cpd, data: bytes) -> dict[str, bool | None]:
    """True where a signed chain exists and the module is stored uncompressed or LZMA."""
    assert directory.manifest is not None
    parsed = manifest.parse_manifest(data, directory.manifest.data_offset)
    assert parsed.signature_valid is True
    listed = package_hashes(data, parsed)
    expected: dict[str, bool | None] = {}
    for entry in directory.entries:
        if entry.name.endswith((".man", ".met", ".key")):
            continue
        met = directory.entry(entry.name + ".met")
        attributes = module_attributes(data, met) if met is not None else None
        checkable = (
            entry.name in listed
            and entry.present
            and attributes is not None
            and not entry.huffman
            and attributes.compression in (0, 2)
        )
        expected[entry.name] = True if checkable else None
    return expected


@pytest.mark.parametrize("path", CSME)
def test_every_chained_module_verifies(path: str) -> None:
    data = fixture(path)
    report = inspect_image(data, verify_modules=True)
    got = {(m.partition, m.name): m.hash_valid for m in _all(report)}
    expected = {
        (name, module): value
        for name, directory in _directories(data).items()
        for module, value in _expected(directory, data).items()
    }
    assert got == expected
    assert sum(1 for v in got.values() if v is True) >= 4
    assert report.modules_verified is True
    assert report.me is not None
    assert report.me.state is MeState.STOCK


def test_lzma_module_on_csme_verifies() -> None:
    report = inspect_image(fixture("system76-darp6/me.rom"), verify_modules=True)
    ish_bup = next(m for m in _all(report) if m.name == "ish_bup")
    assert ish_bup.hash_valid is True  # LZMA with 3 padding bytes after the header


def _target(report: InspectReport) -> ModuleReport:
    return next(m for m in _all(report) if m.hash_valid is True)


@pytest.mark.parametrize("path", CSME)
def test_changed_module_byte_is_detected(path: str) -> None:
    data = bytearray(fixture(path))
    target = _target(inspect_image(bytes(data), verify_modules=True))
    data[target.offset + target.size // 2] ^= 0x01
    report = inspect_image(bytes(data), verify_modules=True)
    changed = next(
        m for m in _all(report) if (m.partition, m.name) == (target.partition, target.name)
    )
    assert changed.hash_valid is False
    assert [m for m in _all(report) if m.hash_valid is False] == [changed]
    assert report.modules_verified is False
    assert report.me is not None
    assert report.me.state is MeState.CORRUPT


@pytest.mark.parametrize("path", CSME)
@pytest.mark.parametrize("module", ["checkable", "huffman"])
def test_changed_metadata_byte_is_detected(path: str, module: str) -> None:
    """A changed ``.met`` fails its listed hash, even when the module itself is not checkable."""
    data = bytearray(fixture(path))
    directories = _directories(bytes(data))
    clean = inspect_image(bytes(data), verify_modules=True)
    if module == "checkable":
        target = _target(clean)
    else:
        target = next(m for m in _all(clean) if m.compression == "huffman" and m.name == "rbe")
    met = directories[target.partition].entry(target.name + ".met")
    assert met is not None
    data[met.data_offset + met.length - 1] ^= 0x80  # a byte of the .met, not of the module
    report = inspect_image(bytes(data), verify_modules=True)
    changed = next(
        m for m in _all(report) if (m.partition, m.name) == (target.partition, target.name)
    )
    assert changed.hash_valid is False
    assert report.modules_verified is False


def test_changed_partition_manifest_fails_its_modules() -> None:
    data = bytearray(fixture("system76-darp6/me.rom"))
    pmcp = _directories(bytes(data))["PMCP"]
    assert pmcp.manifest is not None
    data[pmcp.manifest.data_offset + pmcp.manifest.length - 4] ^= 0x01  # inside the signed body
    report = inspect_image(bytes(data), verify_modules=True)
    assert {m.hash_valid for m in _all(report) if m.partition == "PMCP"} == {False}
    assert any("PMCP manifest signature is not valid" in w for w in report.warnings)


@pytest.mark.parametrize("path", CSME)
def test_default_inspection_does_not_verify(path: str) -> None:
    report = inspect_image(fixture(path))
    assert report.modules_verified is None
    assert all(m.hash_valid is None for m in _all(report))
    assert {m.partition for m in _all(report)} >= {"FTPR", "RBEP", "PMCP", "NFTP"}


def test_huffman_modules_are_unchecked_not_claimed() -> None:
    report = inspect_image(fixture("system76-darp6/me.rom"), verify_modules=True)
    huffman = [m for m in _all(report) if m.compression == "huffman"]
    assert huffman
    assert all(m.hash_valid is None for m in huffman)
    assert any("could not be hash-checked" in w for w in report.warnings)


@pytest.mark.parametrize("neutralized", [False, True])
def test_synthetic_cpd_image_verifies(neutralized: bool) -> None:
    spec = SynthSpec(cpd=True, version=(11, 8, 50, 3425), neutralized=neutralized)
    report = inspect_image(build_image(spec), verify_modules=True)
    present = [m for m in _all(report) if m.present]
    assert present
    assert all(m.hash_valid is True for m in present)
    assert report.modules_verified is True


def test_synthetic_cpd_tampered_module() -> None:
    spec = SynthSpec(cpd=True, version=(11, 8, 50, 3425), tampered_module="kernel")
    report = inspect_image(build_image(spec), verify_modules=True)
    results = {m.name: m.hash_valid for m in _all(report)}
    assert results["kernel"] is False
    assert all(valid is True for name, valid in results.items() if name != "kernel")
