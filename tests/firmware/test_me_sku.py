"""``me.sku`` of ME 6-10 / TXE images from the FTPR manifest's ``$SKU`` record.

Oracle: the SKUs MEAnalyzer reports for these fixtures (``../shared/reference/firmware.md``
§5, recorded from MEAnalyzer runs, not from mewarden).
"""

from __future__ import annotations

import pytest

from mewarden.firmware.inspect import inspect_image
from mewarden.firmware.synth import SynthSpec, build_image
from tests.firmware.inspect_support import fixture

MEA_SKUS = [
    ("coreboot-blobs/google_link_me.bin", "1.5MB"),  # ME 8.0.20.1513
    ("coreboot-blobs/samsung_lumpy_me.bin", "1.5MB"),  # ME 7.1.40.1161
    ("hardenedlinux/gigabyte_ga-b75m-d3h_me.bin", "5MB"),  # ME 8.1.30.1350, cleaned
    ("coreboot-blobs/facebook_fbg1701_me.bin", "1.375MB"),  # TXE 2.0.4.3098
]


@pytest.mark.parametrize(("path", "sku"), MEA_SKUS)
def test_sku_matches_meanalyzer(path: str, sku: str) -> None:
    report = inspect_image(fixture(path))
    assert report.me is not None
    assert report.me.sku == sku


def test_no_sku_record_means_no_sku() -> None:
    report = inspect_image(build_image(SynthSpec()))  # the synthetic manifest has no $SKU
    assert report.me is not None
    assert report.me.sku is None


def test_sku_record_is_read_from_the_manifest() -> None:
    data = bytearray(fixture("coreboot-blobs/google_link_me.bin"))
    at = data.find(b"$SKU\x04\x00\x00\x00")
    assert at > 0
    data[at + 0xC] = (data[at + 0xC] & 0xF0) | 10  # size field 10 x 0.5 MB
    report = inspect_image(bytes(data))
    assert report.me is not None
    assert report.me.sku == "5MB"
