"""The synthetic image builder round-trips through ``inspect_image``.

Expected values are the builder's inputs (:class:`SynthSpec`), an independent source of truth.
"""

from __future__ import annotations

import pytest

from mewarden.firmware.inspect import ImageKind, inspect_image
from mewarden.firmware.me.analyze import MeState
from mewarden.firmware.synth import DEFAULT_MODULES, ESSENTIAL, SynthSpec, build_image


def test_stock_image() -> None:
    spec = SynthSpec()
    report = inspect_image(build_image(spec))
    assert report.kind is ImageKind.FULL_IMAGE
    assert report.me is not None
    assert report.me.version == ".".join(map(str, spec.version))
    assert [m.name for m in report.me.modules] == [m.name for m in DEFAULT_MODULES]
    assert all(m.present for m in report.me.modules)
    assert [p.name for p in report.me.partitions] == list(spec.partitions)
    assert report.me.fpt is not None
    assert report.me.fpt.checksum_valid
    assert report.me.manifest is not None
    assert report.me.manifest.signature_valid is True
    assert report.me.state is MeState.STOCK
    assert any("unknown public key" in w for w in report.warnings)


def test_neutralized_image() -> None:
    report = inspect_image(build_image(SynthSpec(neutralized=True, alt_me_disable=True)))
    assert report.me is not None
    assert report.me.state is MeState.NEUTRALIZED
    assert [p.name for p in report.me.partitions] == ["FTPR"]
    kept = {m.name for m in report.me.modules if m.present}
    assert kept == set(ESSENTIAL)
    assert report.descriptor is not None
    assert report.descriptor.me_disable.set is True


@pytest.mark.parametrize(("bits", "scheme"), [(2048, "rsa-pkcs1v15-sha256"),
                                              (3072, "rsa-pss-sha384")])  # fmt: skip
def test_key_sizes(bits: int, scheme: str) -> None:
    report = inspect_image(build_image(SynthSpec(key_bits=bits, with_descriptor=False)))
    assert report.kind is ImageKind.ME_REGION
    assert report.me is not None
    assert report.me.manifest is not None
    assert report.me.manifest.key_size == bits
    assert report.me.manifest.signature_scheme == scheme
    assert report.me.manifest.signature_valid is True


def test_bad_signature_is_corrupt() -> None:
    report = inspect_image(build_image(SynthSpec(bad_signature=True)))
    assert report.me is not None
    assert report.me.manifest is not None
    assert report.me.manifest.signature_valid is False
    assert report.me.state is MeState.CORRUPT


@pytest.mark.parametrize("neutralized", [False, True])
def test_me11_style_cpd_image(neutralized: bool) -> None:
    from mewarden.firmware.synth import CPD_ESSENTIAL, CPD_MODULES

    spec = SynthSpec(cpd=True, version=(11, 8, 50, 3425), neutralized=neutralized)
    report = inspect_image(build_image(spec))
    assert report.me is not None
    assert report.me.module_format == "cpd"
    assert report.me.family == "CSME"  # unknown key: family from the major version (>= 11)
    assert report.me.version == "11.8.50.3425"
    assert report.me.fpt is not None
    assert report.me.fpt.checksum_valid
    assert [m.name for m in report.me.modules] == list(CPD_MODULES)
    present = {m.name for m in report.me.modules if m.present}
    if neutralized:
        assert present == set(CPD_ESSENTIAL)
        assert report.me.state is MeState.NEUTRALIZED
    else:
        assert present == set(CPD_MODULES)
        assert report.me.state is MeState.STOCK
