"""Equivalences that must hold on every ME 6-11 / TXE image and option combination.

``test_neutralize_golden.py`` byte-compares the ten rows me_cleaner 1.2 was run on. These tests
cover the rest of issue 3's "same equivalence for every other image and option combination" by
relations that do not need an oracle: truncation only cuts the tail, a full image's ME region is
neutralized exactly as the bare region is, and neutralizing twice changes nothing more.
"""

from __future__ import annotations

import pytest

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.neutralize import (
    Mode,
    NeutralizeOptions,
    NeutralizePlan,
    apply_neutralize,
    plan_neutralize,
    verify_neutralized,
)
from mewarden.firmware.neutralize_layout import read_me_image
from tests.firmware.neutralize_helpers import compose
from tests.support import require_fixture

STOCK = [
    "coreboot-blobs/google_link_me.bin",
    "coreboot-blobs/samsung_lumpy_me.bin",
    "coreboot-blobs/facebook_fbg1701_me.bin",
    "coreboot-blobs/intel_emeraldlake2_me.bin",
]
CLEANED_TRUNCATED = "hardenedlinux/gigabyte_ga-b75m-d3h_me.bin"
"""me_cleaner output (cleaned, relocated, truncated): FTPR's entry runs past the file end."""
CLEANED = "hardenedlinux/lenovo_x220_lumpy_me_cl.bin"
"""Older me_cleaner output, not relocated or truncated."""
ALL_ME = [*STOCK, CLEANED, CLEANED_TRUNCATED]

# (descriptor, ME region) pairs whose descriptor's ME region holds that ME region
FULL = [
    ("coreboot-blobs/google_link_descriptor.bin", "coreboot-blobs/google_link_me.bin"),
    ("coreboot-blobs/samsung_lumpy_descriptor.bin", "coreboot-blobs/samsung_lumpy_me.bin"),
    (
        "coreboot-blobs/intel_emeraldlake2_descriptor.bin",
        "coreboot-blobs/intel_emeraldlake2_me.bin",
    ),
    ("coreboot-blobs/samsung_lumpy_descriptor.bin", CLEANED),
    ("hardenedlinux/gigabyte_ga-b75m-d3h_descriptor.bin", CLEANED_TRUNCATED),
]


def _run(data: bytes, options: NeutralizeOptions) -> tuple[NeutralizePlan, bytes]:
    plan = plan_neutralize(read_me_image(data), options)
    output = apply_neutralize(data, plan)
    checks = verify_neutralized(output, plan)
    assert checks.ftpr_signature_valid is True
    assert checks.fpt_checksum_valid is True
    return plan, output


def _me(fixture: str) -> bytes:
    return require_fixture(fixture).read_bytes()


@pytest.mark.parametrize("fixture", ALL_ME)
@pytest.mark.parametrize("relocate", [False, True], ids=["in-place", "relocated"])
def test_truncated_output_is_a_prefix_of_the_untruncated_one(fixture: str, relocate: bool) -> None:
    data = _me(fixture)
    _, whole = _run(data, NeutralizeOptions(relocate=relocate))
    plan, cut = _run(data, NeutralizeOptions(relocate=relocate, truncate=True))
    assert len(whole) == len(data)
    assert len(cut) == plan.output_region_size <= len(whole)
    assert whole.startswith(cut)


@pytest.mark.parametrize("fixture", ALL_ME)
@pytest.mark.parametrize(
    "options",
    [
        NeutralizeOptions(),
        NeutralizeOptions(relocate=True),
        NeutralizeOptions(truncate=True),
        NeutralizeOptions(relocate=True, truncate=True),
    ],
    ids=["strip", "relocate", "truncate", "relocate-truncate"],
)
def test_neutralizing_twice_changes_nothing_more(fixture: str, options: NeutralizeOptions) -> None:
    _, once = _run(_me(fixture), options)
    _, twice = _run(once, options)
    assert twice == once


@pytest.mark.parametrize(
    "options",
    [
        NeutralizeOptions(),
        NeutralizeOptions(relocate=True),
        NeutralizeOptions(truncate=True),
        NeutralizeOptions(relocate=True, truncate=True),
    ],
    ids=["strip", "relocate", "truncate", "relocate-truncate"],
)
def test_already_cleaned_and_truncated_input_is_left_as_it_is(options: NeutralizeOptions) -> None:
    data = _me(CLEANED_TRUNCATED)
    plan, output = _run(data, options)
    assert output == data
    assert [p.name for p in plan.partitions if p.kept] == ["FTPR"]


def test_cleaned_input_keeps_what_the_stock_image_keeps() -> None:
    plan, _ = _run(_me(CLEANED), NeutralizeOptions())
    stock, _ = _run(_me("coreboot-blobs/samsung_lumpy_me.bin"), NeutralizeOptions())
    assert [p.name for p in plan.partitions if p.kept] == ["FTPR"]
    kept = {m.name for m in plan.modules if m.kept}
    assert kept == {m.name for m in stock.modules if m.kept}
    assert kept <= {"ROMP", "BUP"}


@pytest.mark.parametrize(("descriptor", "me"), FULL, ids=[me.split("/")[1] for _, me in FULL])
@pytest.mark.parametrize("relocate", [False, True], ids=["in-place", "relocated"])
def test_full_image_me_region_is_neutralized_like_the_bare_region(
    descriptor: str, me: str, relocate: bool
) -> None:
    image = compose(descriptor, me)
    plan, full = _run(image, NeutralizeOptions(mode=Mode.STRIP_AND_DISABLE, relocate=relocate))
    _, bare = _run(_me(me), NeutralizeOptions(relocate=relocate))
    start = plan.region_start
    assert full[start : start + len(bare)] == bare
    tail = full[start + len(bare) : plan.region_end]
    assert tail.count(0xFF) == len(tail)
    assert full[plan.region_end :] == image[plan.region_end :]
    assert plan.strap is not None
    changed = [i for i in range(start) if full[i] != image[i]]
    assert len(changed) == 1  # the descriptor differs only in the ME-disable strap byte


@pytest.mark.parametrize(("descriptor", "me"), FULL, ids=[me.split("/")[1] for _, me in FULL])
def test_extracted_truncated_me_equals_the_bare_relocated_truncated_region(
    descriptor: str, me: str
) -> None:
    from mewarden.firmware.neutralize import extracted_me

    image = compose(descriptor, me)
    options = NeutralizeOptions(relocate=True, truncate=True, extract_me=True)
    plan, full = _run(image, options)
    _, bare = _run(_me(me), NeutralizeOptions(relocate=True, truncate=True))
    assert extracted_me(full, plan) == bare


@pytest.mark.parametrize("cut", [0xA0000, 0x95000])
def test_stock_region_truncated_inside_the_kept_modules_is_refused(cut: int) -> None:
    data = _me("coreboot-blobs/google_link_me.bin")[:cut]
    with pytest.raises(FirmwareFormatError, match="truncated") as error:
        plan_neutralize(read_me_image(data), NeutralizeOptions())
    assert "\n" not in str(error.value)
    assert error.value.exit_code == 2


def test_report_claims_byte_identity_only_where_it_is_tested() -> None:
    from mewarden.firmware.report import algorithm
    from mewarden.firmware.synth import SynthSpec, build_me_region

    plan, _ = _run(_me("coreboot-blobs/google_link_me.bin"), NeutralizeOptions())
    assert "byte-identical" in algorithm(plan)
    assert "ME 11" not in algorithm(plan)
    me11, _ = _run(build_me_region(SynthSpec(cpd=True)), NeutralizeOptions())
    assert "ME 11" in algorithm(me11)
    assert "synthetic images only" in algorithm(me11)
    assert "byte-identical" not in algorithm(me11)
