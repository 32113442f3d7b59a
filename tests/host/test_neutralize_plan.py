"""``host neutralize``'s pure decisions: the Boot Guard ruling, host access, changed regions."""

from __future__ import annotations

import itertools

import pytest

from mewarden import record
from mewarden.errors import NeutralizeRefusedError
from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.synth import build_image
from mewarden.host.neutralize_plan import (
    changed_regions,
    host_access_refusal,
    rule_out_boot_guard,
)

LIVE = ("enforced", "not-enforced", "unknown")
MAJORS = (None, 6, 8, 9, 11, 16)
MANIFESTS = (True, False, None)


@pytest.mark.parametrize(
    ("live", "major", "manifests"), list(itertools.product(LIVE, MAJORS, MANIFESTS))
)
def test_boot_guard_is_ruled_out_only_by_evidence(
    live: str, major: int | None, manifests: bool | None
) -> None:
    ruling = rule_out_boot_guard(
        live=live, live_evidence=("line",), me_major=major, manifests_present=manifests
    )
    old_platform = major is not None and major < 9
    expected = (
        manifests is False and live != "enforced" and (live == "not-enforced" or old_platform)
    )
    assert ruling.ruled_out is expected
    assert ruling.evidence[:2] == (f"live probe: Boot Guard {live}", "line")
    if manifests:
        assert "KM/BPM" in ruling.evidence[-1]


def _image() -> bytes:
    return build_image()


def test_changed_regions_in_write_order_descriptor_last() -> None:
    before = _image()
    descriptor = parse_descriptor(before)
    me = descriptor.region("me")
    assert me is not None
    after = bytearray(before)
    after[0x100] ^= 1  # inside the descriptor
    after[me.start + 0x20] ^= 1
    writes = changed_regions(descriptor, before, bytes(after))
    assert [w.region.value for w in writes] == ["me", "fd"]
    assert writes[0].old_sha256 != writes[0].new_sha256
    assert changed_regions(descriptor, before, before) == ()


def test_a_change_outside_every_region_is_refused() -> None:
    before = _image()
    full = parse_descriptor(before)
    descriptor = record.replace(full, regions=tuple(r for r in full.regions if r.name != "bios"))
    after = bytearray(before)
    after[-1] ^= 1  # in the BIOS region, which this layout does not name
    with pytest.raises(NeutralizeRefusedError, match="outside every region"):
        changed_regions(descriptor, before, bytes(after))


def test_host_access_names_what_is_locked_and_the_strap() -> None:
    descriptor = parse_descriptor(_image())
    host = descriptor.master("bios")
    assert host is not None
    locked = [r for r in ("fd", "me") if r not in host.write]
    reason = host_access_refusal(descriptor, read=(), write=("fd", "me"))
    if not locked:
        assert reason is None
        return
    assert reason is not None
    assert f"write the {', '.join(locked)} region" in reason
    assert "Flash Descriptor Override strap" in reason
