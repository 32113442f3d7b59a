"""``firmware neutralize`` tells unsafe requests (exit 3) from bad input (exit 2), with reasons.

Facts: a CSME 12+ region starts with a CSE layout table, not ``$FPT``
(``../shared/reference/firmware.md`` §2.3, §5; the darp6 and ms7d25 fixtures per
``manifest.md``); removing its code is refused. An ME region with neither is corrupt input.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.firmware.neutralize_helpers import compose, run_neutralize
from tests.support import require_fixture

LINK_FD = "coreboot-blobs/google_link_descriptor.bin"
CSME_REGIONS = ["system76-darp6/me.rom", "dasharo-blobs/msi_ms7d25_me.bin"]


def _one_line_without_traceback(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("fixture", CSME_REGIONS)
def test_bare_csme_region_is_refused_as_unsafe(tmp_path: Path, fixture: str) -> None:
    out = tmp_path / "out.bin"
    proc = run_neutralize([str(require_fixture(fixture)), "-o", str(out)])
    assert proc.returncode == 3, proc.stderr
    line = _one_line_without_traceback(proc.stderr)
    assert "CSME 12+" in line
    assert "full image" in line
    assert not out.exists()


def test_full_image_with_random_me_region_is_bad_input(tmp_path: Path) -> None:
    image = bytearray(compose(LINK_FD))
    image[0x1000:0x200000] = os.urandom(0x1FF000)
    source, out = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(bytes(image))
    for mode in ("strip-and-disable", "disable-only"):
        proc = run_neutralize([str(source), "-o", str(out), "--mode", mode])
        assert proc.returncode == 2, proc.stderr
        line = _one_line_without_traceback(proc.stderr)
        assert "corrupt" in line
        assert "CSME" not in line
        assert not out.exists()


def test_random_bytes_without_descriptor_are_bad_input(tmp_path: Path) -> None:
    source, out = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(os.urandom(0x10000))
    proc = run_neutralize([str(source), "-o", str(out)])
    assert proc.returncode == 2, proc.stderr
    assert "not a flash image or an ME region" in _one_line_without_traceback(proc.stderr)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--keep-partitions", ",,"], "empty name"),
        (["--remove-partitions", "NFTP,,MDES"], "empty name"),
        (["--keep-partitions", ""], "empty name"),
        (["--mode", "disable-only", "--platform", "no-such-pch"], "unknown platform"),
    ],
    ids=["only-commas", "empty-between", "empty-string", "unknown-platform"],
)
def test_bad_option_values_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    source, out = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(compose(LINK_FD, "coreboot-blobs/google_link_me.bin"))
    proc = run_neutralize([str(source), "-o", str(out), *extra])
    assert proc.returncode == 2, proc.stderr
    assert message in _one_line_without_traceback(proc.stderr)
    assert not out.exists()
