"""``mewarden firmware neutralize``: exit codes, refusals, atomic output, strap-only, report.

Expected strap locations come from ``../shared/reference/firmware.md`` §1.8 and the fixtures'
``manifest.md``; expected output hashes from ``expected-neutralize.md``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mewarden.errors import BadInputError
from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.neutralize import Mode, NeutralizeOptions, apply_neutralize, plan_neutralize
from mewarden.firmware.neutralize_layout import read_me_image
from tests.firmware.neutralize_helpers import (
    KILL_AT_FSYNC,
    add_boot_guard_fit,
    compose,
    golden_rows,
    run_neutralize,
)
from tests.support import require_fixture

LINK_ME = "coreboot-blobs/google_link_me.bin"
LINK_FD = "coreboot-blobs/google_link_descriptor.bin"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_traceback(proc: object) -> None:
    assert "Traceback" not in getattr(proc, "stderr", "")


@pytest.fixture
def link_bg(tmp_path: Path) -> Path:
    """The composed link image with a FIT naming Boot Guard manifests."""
    path = tmp_path / "bg.bin"
    path.write_bytes(add_boot_guard_fit(compose(LINK_FD, LINK_ME)))
    return path


def test_cli_output_matches_me_cleaner_and_reports_json(tmp_path: Path) -> None:
    source = require_fixture(LINK_ME)
    before = _sha(source)
    rows, _ = golden_rows()
    [row] = [r for r in rows if r.input == LINK_ME and r.options == "-r -t"]
    out = tmp_path / "out.bin"
    proc = run_neutralize([str(source), "-o", str(out), "--relocate", "--truncate", "--json"])
    assert proc.returncode == 0, proc.stderr
    assert _sha(out) == row.sha256
    assert _sha(source) == before  # never modifies the input
    report = json.loads(proc.stdout)
    assert report["before"]["sha256"] == before
    assert report["after"]["sha256"] == row.sha256
    assert report["after"]["size"] == row.size
    assert report["mode"] == "strip-only"
    assert report["verification"]["ftpr_signature_valid"] is True
    assert report["verification"]["fpt_checksum_valid"] is True
    assert "FTPR" not in report["removed_partitions"]
    assert set(report["kept_modules"]) == {"ROMP", "BUP"}  # reference §1.6: the only essentials
    assert report["after"]["ftpr_offset"] < report["before"]["ftpr_offset"]


def test_text_report_and_inspect_after_strip_and_disable(tmp_path: Path) -> None:
    image = tmp_path / "link.bin"
    image.write_bytes(compose(LINK_FD, LINK_ME))
    out = tmp_path / "out.bin"
    proc = run_neutralize([str(image), "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "AltMeDisable: PCHSTRP10 bit 7" in proc.stdout
    before, after = _inspect(image), _inspect(out)  # FW-B's independent reader
    assert before["me"]["state"] == "stock"
    assert after["me"]["state"] == "neutralized"
    assert after["descriptor"]["me_disable"]["set"] is True


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d: [str(d / "missing.bin"), "-o", str(d / "out.bin")], "does not exist"),
        (lambda d: [str(d / "junk.bin"), "-o", str(d / "out.bin")], "not a flash image"),
        (lambda d: [str(d / "junk.bin"), "-o", str(d / "junk.bin")], "named twice"),
        (
            lambda d: [str(d / "me.bin"), "-o", str(d / "out.bin"), "--mode", "disable-only"],
            "needs a full image",
        ),
        (
            lambda d: [
                str(d / "me.bin"),
                "-o",
                str(d / "out.bin"),
                "--keep-partitions",
                "EFFS",
                "--remove-partitions",
                "NFTP",
            ],
            "not both",
        ),
        (
            lambda d: [str(d / "me.bin"), "-o", str(d / "out.bin"), "--keep-partitions", "TOOLONG"],
            "4-character",
        ),
    ],
    ids=["missing", "garbage", "same-path", "strap-on-bare", "keep-and-remove", "bad-name"],
)
def test_bad_input_exits_2_without_output(tmp_path: Path, make_args: object, message: str) -> None:
    (tmp_path / "junk.bin").write_bytes(os.urandom(8192))
    (tmp_path / "me.bin").write_bytes(require_fixture(LINK_ME).read_bytes())
    junk_before = _sha(tmp_path / "junk.bin")
    args = make_args(tmp_path)  # type: ignore[operator]
    proc = run_neutralize(args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    _no_traceback(proc)
    assert not (tmp_path / "out.bin").exists()
    assert _sha(tmp_path / "junk.bin") == junk_before


def test_boot_guard_manifests_refuse_code_removal(link_bg: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    proc = run_neutralize([str(link_bg), "-o", str(out)])
    assert proc.returncode == 3, proc.stderr
    assert "Boot Guard" in proc.stderr
    _no_traceback(proc)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [link_bg]  # no temp file either


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ({"boot_guard": "not-enforced"}, 0),
        ({"boot_guard": "enforced"}, 3),
        ({"boot_guard": "unknown"}, 3),
        ({"verdict": "x"}, 2),
    ],
    ids=["not-enforced", "enforced", "unknown", "no-key"],
)
def test_boot_guard_status_evidence(
    link_bg: Path, tmp_path: Path, status: dict[str, str], code: int
) -> None:
    evidence = tmp_path / "probe.json"
    evidence.write_text(json.dumps(status))
    out = tmp_path / "out.bin"
    proc = run_neutralize([str(link_bg), "-o", str(out), "--boot-guard-status", str(evidence)])
    assert proc.returncode == code, proc.stderr
    assert out.exists() == (code == 0)
    _no_traceback(proc)


def test_force_and_disable_only_are_allowed_with_boot_guard(link_bg: Path, tmp_path: Path) -> None:
    forced = run_neutralize([str(link_bg), "-o", str(tmp_path / "a.bin"), "--force", "--json"])
    assert forced.returncode == 0, forced.stderr
    assert any("--force" in w for w in json.loads(forced.stdout)["warnings"])
    strap = run_neutralize(
        [str(link_bg), "-o", str(tmp_path / "b.bin"), "--mode", "disable-only", "--json"]
    )
    assert strap.returncode == 0, strap.stderr
    report = json.loads(strap.stdout)
    assert any("Boot Guard" in w for w in report["warnings"])
    assert report["removed_partitions"] == []
    assert report["after"]["me_disable"]["set"] is True


def _one_bit_diff(before: bytes, after: bytes) -> tuple[int, int]:
    diffs = [i for i in range(min(len(before), 0x1000)) if before[i] != after[i]]
    assert before[0x1000:] == after[0x1000:]
    assert len(diffs) == 1
    changed = before[diffs[0]] ^ after[diffs[0]]
    assert changed & (changed - 1) == 0  # exactly one bit
    return diffs[0], changed.bit_length() - 1


# (descriptor fixture, strap index, bit) from reference §1.8 for the family manifest.md names
IFD2_STRAPS = [
    ("hardenedlinux/asus_p10s-m_ws_descriptor.bin", 0, 16),  # C236 Sunrise Point: PCHSTRP0
    ("system76-darp6/fd.rom", 28, 16),  # Comet Lake-U LP: PCHSTRP28
    ("dasharo-blobs/protectli_vault_cml_descriptor.bin", 28, 16),
    ("dasharo-blobs/msi_ms7d25_descriptor.bin", 55, 16),  # ADL-S: PCHSTRP55
    ("dasharo-blobs/novacustom_ns5x_adl_descriptor.bin", 31, 16),  # ADL-P: PCHSTRP31
    ("dasharo-blobs/protectli_vault_adl_n_vp2430_descriptor.bin", 31, 16),  # ADL-N
    ("dasharo-blobs/protectli_vault_ehl_descriptor.bin", 33, 16),  # Elkhart Lake
    ("coreboot-blobs/erying_tgl_fd.bin", 37, 16),  # Tiger Lake-H
]


@pytest.mark.parametrize(("fixture", "strap", "bit"), IFD2_STRAPS)
def test_strap_only_sets_exactly_one_bit_on_ifd2(fixture: str, strap: int, bit: int) -> None:
    image = compose(fixture)
    plan = plan_neutralize(read_me_image(image), NeutralizeOptions(mode=Mode.DISABLE_ONLY))
    output = apply_neutralize(image, plan)
    offset, changed_bit = _one_bit_diff(image, output)
    flmap1 = struct.unpack_from("<I", image, 0x18)[0]  # FPSBA = (FLMAP1 >> 12) & 0xFF0 (§1.3)
    fpsba = (flmap1 >> 12) & 0xFF0
    assert offset == fpsba + 4 * strap + bit // 8
    assert changed_bit == bit % 8
    assert parse_descriptor(output).me_disable.set is True


def test_csme14_image_refuses_code_removal_but_sets_the_strap(tmp_path: Path) -> None:
    image = tmp_path / "darp6.bin"
    image.write_bytes(compose("system76-darp6/fd.rom", "system76-darp6/me.rom"))
    out = tmp_path / "out.bin"
    refused = run_neutralize([str(image), "-o", str(out)])
    assert refused.returncode == 3
    assert "CSME 12+" in refused.stderr
    assert not out.exists()
    done = run_neutralize([str(image), "-o", str(out), "--mode", "disable-only", "--json"])
    assert done.returncode == 0, done.stderr
    offset, _ = _one_bit_diff(image.read_bytes(), out.read_bytes())
    assert json.loads(done.stdout)["strap_written"]["strap"] == 28
    assert offset == parse_descriptor(image.read_bytes()).strap_base + 4 * 28 + 2
    before = _inspect(image)
    after = _inspect(out)
    assert before["descriptor"]["me_disable"]["set"] is False
    assert after["descriptor"]["me_disable"]["set"] is True
    assert after["me"]["version"] == before["me"]["version"]  # the firmware itself untouched


def _inspect(path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "mewarden", "firmware", "inspect", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.mark.parametrize(
    ("fixture", "extra"),
    [
        ("dasharo-blobs/novacustom_v5x0tu_descriptor.bin", []),  # Meteor Lake: no source
        ("coreboot-blobs/ocp_tiogapass_descriptor.bin", []),  # Lewisburg server
        ("hardenedlinux/asus_p10s-m_ws_descriptor.bin", ["--platform", "alder-point-s"]),
    ],
    ids=["meteor-lake", "lewisburg", "contradicting-platform"],
)
def test_unknown_strap_location_is_refused(tmp_path: Path, fixture: str, extra: list[str]) -> None:
    image = tmp_path / "in.bin"
    image.write_bytes(compose(fixture))
    out = tmp_path / "out.bin"
    proc = run_neutralize([str(image), "-o", str(out), "--mode", "disable-only", *extra])
    assert proc.returncode == 3, proc.stderr
    _no_traceback(proc)
    assert not out.exists()


def test_restrict_me_access_and_extracts(tmp_path: Path) -> None:
    image = tmp_path / "link.bin"
    image.write_bytes(compose(LINK_FD, LINK_ME))
    out, fd, me = tmp_path / "out.bin", tmp_path / "fd.bin", tmp_path / "me.bin"
    args = [
        str(image),
        "-o",
        str(out),
        "--restrict-me-access",
        "--relocate",
        "--truncate",
        "--extract-descriptor",
        str(fd),
        "--extract-me",
        str(me),
    ]
    proc = run_neutralize(args)
    assert proc.returncode == 0, proc.stderr
    rows, _ = golden_rows()
    [row] = [r for r in rows if r.input == LINK_ME and r.options == "-r -t"]
    assert _sha(me) == row.sha256  # the extracted, truncated ME is me_cleaner's -r -t output
    assert len(out.read_bytes()) == len(image.read_bytes())  # the image keeps its layout
    shrunk = parse_descriptor(fd.read_bytes())
    me_region, bios = shrunk.region("me"), shrunk.region("bios")
    assert me_region is not None
    assert bios is not None
    assert (me_region.start, me_region.end) == (0x1000, 0x1000 + row.size)  # type: ignore[operator]
    assert bios.start == me_region.end
    master = parse_descriptor(out.read_bytes()).master("me")
    assert master is not None
    assert set(master.write) == {"me"}


def test_kill_during_write_leaves_no_partial_output(tmp_path: Path) -> None:
    source = require_fixture(LINK_ME)
    out = tmp_path / "out.bin"
    proc = run_neutralize([str(source), "-o", str(out)], prelude=KILL_AT_FSYNC)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    out.write_bytes(b"previous result")
    proc = run_neutralize([str(source), "-o", str(out)], prelude=KILL_AT_FSYNC)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"previous result"  # the old file, not a partial new one


def test_write_failure_leaves_neither_output_nor_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mewarden.cli.firmware_neutralize import neutralize_command

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    source = require_fixture(LINK_ME)
    out = tmp_path / "out.bin"
    result = CliRunner().invoke(neutralize_command, [str(source), "-o", str(out)])
    assert isinstance(result.exception, BadInputError)
    assert "No space left" in str(result.exception)
    assert list(tmp_path.iterdir()) == []
