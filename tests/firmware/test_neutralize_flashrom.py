"""Round trip through the real flashrom (dummy programmer): read, neutralize, write, read back.

The chip is the composed link image of ``expected-neutralize.md`` padded to the emulated
W25Q128FV, its descriptor unlocked with coreboot's ``ifdtool -u`` (an independent tool) so the
host may write the ME region. The expected ME region is the one of the strip-and-disable output
whose SHA-256 the fixtures' document gives for the 8 MiB composition.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.flashrom import FlashRegion, read_flash, region_from_image, write_region
from mewarden.firmware.neutralize import (
    NeutralizeOptions,
    apply_neutralize,
    plan_neutralize,
    verify_neutralized,
)
from mewarden.firmware.neutralize_layout import read_me_image
from tests.firmware.neutralize_helpers import compose, golden_rows
from tests.support import require_tool

CHIP_SIZE = 16 << 20


def _expected_me_region() -> bytes:
    """The ME region of the 8 MiB strip-and-disable output, checked against the oracle."""
    rows, _ = golden_rows()
    [row] = [r for r in rows if r.input == "composed link image" and r.options == "-S"]
    image = compose(
        "coreboot-blobs/google_link_descriptor.bin", "coreboot-blobs/google_link_me.bin"
    )
    output = apply_neutralize(image, plan_neutralize(read_me_image(image), NeutralizeOptions()))
    assert hashlib.sha256(output).hexdigest() == row.sha256
    return output[0x1000:0x200000]


def _chip(tmp_path: Path) -> Path:
    require_tool("flashrom")
    ifdtool = require_tool("ifdtool")
    image = compose(
        "coreboot-blobs/google_link_descriptor.bin", "coreboot-blobs/google_link_me.bin"
    )
    path = tmp_path / "chip-locked.bin"
    path.write_bytes(image + b"\xff" * (CHIP_SIZE - len(image)))
    unlocked = tmp_path / "chip.bin"
    subprocess.run(
        [ifdtool, "-u", str(path), "-O", str(unlocked)], capture_output=True, timeout=60, check=True
    )
    return unlocked


@pytest.mark.system
def test_read_neutralize_write_read_back(tmp_path: Path) -> None:
    chip = _chip(tmp_path)
    original = chip.read_bytes()
    spec = f"dummy:emulate=W25Q128FV,image={chip}"
    image = read_flash(spec)
    plan = plan_neutralize(read_me_image(image), NeutralizeOptions())
    neutralized = apply_neutralize(image, plan)
    verify_neutralized(neutralized, plan)
    for region in (FlashRegion.ME, FlashRegion.FD):
        report = write_region(
            spec, region, region_from_image(neutralized, region), backup=tmp_path / f"{region}.bak"
        )
        assert report.verified
    after = read_flash(spec)
    assert after == neutralized
    assert after[0x1000:0x200000] == _expected_me_region()
    assert after[0x200000:] == original[0x200000:]  # BIOS and padding untouched
    assert parse_descriptor(after).me_disable.set is True
    reread = read_me_image(after)
    assert reread.manifest is not None
    assert reread.manifest.signature_valid is True
    assert [e.name for e in reread.entries] == ["FTPR"]
    assert (tmp_path / "me.bak").read_bytes() == original  # the old chip is recoverable
