"""Byte-identity with me_cleaner 1.2 on the real fixtures (``expected-neutralize.md``).

The expected SHA-256 values are read from the fixtures' own document (produced by running the
real me_cleaner 1.2), never from this code. Each output must also pass mewarden's own checks.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mewarden.errors import MewardenError
from mewarden.firmware.neutralize import (
    Mode,
    NeutralizeOptions,
    apply_neutralize,
    plan_neutralize,
    verify_neutralized,
)
from mewarden.firmware.neutralize_layout import read_me_image
from tests.firmware.neutralize_helpers import compose, golden_rows
from tests.support import fixtures_dir, require_fixture, require_tool

# me_cleaner option letters as expected-neutralize.md explains them ("meaning" column)
OPTION_MEANING = {
    "(none)": NeutralizeOptions(),
    "-r -t": NeutralizeOptions(relocate=True, truncate=True),
    "-S": NeutralizeOptions(mode=Mode.STRIP_AND_DISABLE),
    "-s": NeutralizeOptions(mode=Mode.DISABLE_ONLY),
}


def _rows() -> list[object]:
    if not (fixtures_dir() / "expected-neutralize.md").is_file():
        return [pytest.param(None, id="fixtures-missing")]
    rows, _ = golden_rows()
    return [pytest.param(row, id=f"{row.input.split('/')[-1]}[{row.options}]") for row in rows]


@pytest.fixture(scope="module")
def link_image() -> bytes:
    _, composed_sha = golden_rows()
    image = compose(
        "coreboot-blobs/google_link_descriptor.bin", "coreboot-blobs/google_link_me.bin"
    )
    assert hashlib.sha256(image).hexdigest() == composed_sha
    return image


def test_the_oracle_has_all_ten_rows() -> None:
    rows, _ = golden_rows()
    assert len(rows) == 10
    assert {row.options for row in rows} == set(OPTION_MEANING)


@pytest.mark.parametrize("row", _rows())
def test_output_is_byte_identical_to_me_cleaner(
    row: object, request: pytest.FixtureRequest
) -> None:
    if row is None:
        require_fixture("expected-neutralize.md")
        return
    from tests.firmware.neutralize_helpers import Golden

    assert isinstance(row, Golden)
    if row.input == "composed link image":
        data: bytes = request.getfixturevalue("link_image")
    else:
        data = require_fixture(row.input).read_bytes()
    plan = plan_neutralize(read_me_image(data), OPTION_MEANING[row.options])
    output = apply_neutralize(data, plan)
    if row.size is not None:
        assert len(output) == row.size
    assert hashlib.sha256(output).hexdigest() == row.sha256
    checks = verify_neutralized(output, plan)
    assert checks.fpt_checksum_valid is True
    assert checks.ftpr_signature_valid is True
    assert checks.kept_modules_intact is not False
    if row.options in ("-S", "-s"):
        assert checks.strap_set is True


def test_input_bytes_are_not_modified(link_image: bytes) -> None:
    before = hashlib.sha256(link_image).hexdigest()
    plan = plan_neutralize(read_me_image(link_image), NeutralizeOptions())
    apply_neutralize(link_image, plan)
    assert hashlib.sha256(link_image).hexdigest() == before


def test_ifdtool_reads_altmedisable_set_after_strip_and_disable(
    link_image: bytes, tmp_path: Path
) -> None:
    ifdtool = require_tool("ifdtool")
    plan = plan_neutralize(read_me_image(link_image), NeutralizeOptions())
    out = tmp_path / "out.bin"
    out.write_bytes(apply_neutralize(link_image, plan))
    before = tmp_path / "in.bin"
    before.write_bytes(link_image)
    dump_after = subprocess.run(
        [ifdtool, "-d", str(out)], check=False, capture_output=True, text=True
    )
    dump_before = subprocess.run(
        [ifdtool, "-d", str(before)], check=False, capture_output=True, text=True
    )
    assert "AltMeDisable bit is set" in dump_after.stdout
    assert "AltMeDisable bit is not set" in dump_before.stdout


ME_FIXTURES = [
    "coreboot-blobs/google_link_me.bin",
    "coreboot-blobs/samsung_lumpy_me.bin",
    "coreboot-blobs/facebook_fbg1701_me.bin",
    "coreboot-blobs/intel_emeraldlake2_me.bin",
]


def _fpt(region: bytes) -> dict[str, tuple[int, int]]:
    """Partition name -> (offset, length), read straight from the $FPT at +0x10."""
    count = struct.unpack_from("<I", region, 0x14)[0]
    table = {}
    for index in range(count):
        entry = 0x30 + 0x20 * index
        offset, length = struct.unpack_from("<II", region, entry + 8)
        table[region[entry : entry + 4].decode("ascii", "replace")] = (offset, length)
    return table


def _effs_flag(region: bytes) -> int:
    flags: int = struct.unpack_from("<I", region, 0x24)[0]
    return flags & 1


@pytest.mark.parametrize("me_fixture", ME_FIXTURES)
def test_keep_partitions_keeps_their_bytes_entries_and_effs_flag(me_fixture: str) -> None:
    data = require_fixture(me_fixture).read_bytes()
    options = NeutralizeOptions(keep_partitions=("EFFS", "MDES"))
    plan = plan_neutralize(read_me_image(data), options)
    output = apply_neutralize(data, plan)
    assert verify_neutralized(output, plan).ftpr_signature_valid
    before, after = _fpt(data), _fpt(output)
    assert set(after) == {"FTPR", "EFFS", "MDES"}  # NVRAM entries leave the table (§1.6)
    for name in ("EFFS", "MDES"):
        offset, length = before[name]
        assert output[offset : offset + length] == data[offset : offset + length]
    assert _effs_flag(data) == 1
    assert _effs_flag(output) == 1
    default = apply_neutralize(data, plan_neutralize(read_me_image(data), NeutralizeOptions()))
    assert _effs_flag(default) == 0


@pytest.mark.parametrize("me_fixture", ME_FIXTURES)
def test_remove_partitions_removes_only_those(me_fixture: str) -> None:
    data = require_fixture(me_fixture).read_bytes()
    plan = plan_neutralize(read_me_image(data), NeutralizeOptions(remove_partitions=("NFTP",)))
    output = apply_neutralize(data, plan)
    assert verify_neutralized(output, plan).fpt_checksum_valid
    before, after = _fpt(data), _fpt(output)
    offset, length = before["NFTP"]
    assert output[offset : offset + length] == b"\xff" * length
    assert "NFTP" not in after
    assert {"FTPR", "EFFS", "MDES"} <= set(after)
    assert (
        output[before["EFFS"][0] : sum(before["EFFS"])]
        == data[before["EFFS"][0] : sum(before["EFFS"])]
    )
    assert _effs_flag(output) == 1


@pytest.mark.parametrize("me_fixture", ME_FIXTURES)
def test_keep_modules_leaves_ftpr_untouched(me_fixture: str) -> None:
    data = require_fixture(me_fixture).read_bytes()
    plan = plan_neutralize(read_me_image(data), NeutralizeOptions(keep_modules=True))
    output = apply_neutralize(data, plan)
    offset, length = _fpt(data)["FTPR"]
    assert output[offset : offset + length] == data[offset : offset + length]
    assert all(module.kept for module in plan.modules)
    relocated = plan_neutralize(
        read_me_image(data), NeutralizeOptions(keep_modules=True, relocate=True, truncate=True)
    )
    small = apply_neutralize(data, relocated)
    checks = verify_neutralized(small, relocated)
    assert checks.ftpr_signature_valid
    assert checks.kept_modules_intact
    assert len(small) < len(data)
    assert _fpt(small)["FTPR"][0] < offset


@pytest.fixture(scope="module")
def link_me() -> bytes:
    return require_fixture("coreboot-blobs/google_link_me.bin").read_bytes()


# the FPT, the FTPR manifest + module headers, and the LLUT with its chunk table
_AREAS = [(0x0, 0x300), (0x93000, 0x93900), (0x938C0, 0x94100)]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(_AREAS), st.integers(0, 0xFFFF), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_corrupted_input_fails_cleanly_or_verifies(
    link_me: bytes, edits: list[tuple[tuple[int, int], int, int]], relocate: bool
) -> None:
    data = bytearray(link_me)
    for (start, end), where, value in edits:
        data[start + where % (end - start)] = value
    options = NeutralizeOptions(relocate=relocate, truncate=relocate)
    try:
        plan = plan_neutralize(read_me_image(bytes(data)), options)
        output = apply_neutralize(bytes(data), plan)
        checks = verify_neutralized(output, plan)
    except MewardenError as exc:
        message = str(exc)
    else:
        assert checks.ftpr_signature_valid is True  # only a still-genuine image gets through
        return
    assert message
    assert "\n" not in message


def _fpt_entries_per_uefiextract(tool: str, image: Path) -> list[str]:
    subprocess.run([tool, str(image), "report"], capture_output=True, check=False, timeout=120)
    report = image.with_name(image.name + ".report.txt").read_text(errors="replace")
    return [
        line.rsplit("---", 1)[1].strip()
        for line in report.splitlines()
        if line.strip().startswith("FPT entry") and "---" in line
    ]


def test_uefiextract_sees_only_ftpr_after_stripping(link_image: bytes, tmp_path: Path) -> None:
    tool = require_tool("UEFIExtract")
    source, out = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(link_image)
    out.write_bytes(
        apply_neutralize(
            link_image, plan_neutralize(read_me_image(link_image), NeutralizeOptions())
        )
    )
    before = _fpt_entries_per_uefiextract(tool, source)
    assert {"FTPR", "NFTP", "EFFS"} <= set(before)
    assert _fpt_entries_per_uefiextract(tool, out) == ["FTPR"]
