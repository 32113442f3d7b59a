"""``host neutralize`` / ``host restore`` on flashrom's dummy programmer holding real images.

The chip holds the composed link image (ME 8, ``expected-neutralize.md``); after ``--yes`` it
must hold exactly me_cleaner 1.2's output for the same request, and the backup must restore it
byte for byte. Every refusal and failure leaves the chip as it was, or the report says what it
holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from mewarden.firmware.descriptor import parse_descriptor
from tests.host.neutralize_chips import (
    TREES,
    darp6_chip,
    golden_link,
    link_chip,
    run_cli,
    spec,
)

pytestmark = pytest.mark.system

RUNNING_ME7 = str(TREES / "me7-normal")  # running; Boot Guard ruled out (predates it)
BOOT_GUARD_ENFORCED = str(TREES / "csme16-adlp-hap-bootguard")
BOOT_GUARD_UNKNOWN = str(TREES / "tgl-running")


def _neutralize(chip: Path, *args: str, root: str = RUNNING_ME7) -> tuple[int, Any, str]:
    result = run_cli("host", "neutralize", "-p", spec(chip), "--root", root, "--json", *args)
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, document, result.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    chip = link_chip(tmp_path)
    before = chip.read_bytes()
    code, report, _ = _neutralize(chip, "--backup", str(tmp_path / "b.bin"))
    assert code == 0
    assert report["outcome"] == "planned"
    assert [r["region"] for r in report["regions"]] == ["me", "fd"]  # descriptor last
    assert report["boot_guard"]["ruled_out"] is True
    assert any("predates Boot Guard" in line for line in report["boot_guard"]["evidence"])
    assert report["chip"]["sha256_before"] == hashlib.sha256(before).hexdigest()
    assert chip.read_bytes() == before
    assert not (tmp_path / "b.bin").exists()


@pytest.mark.parametrize("options", ["-S", "-s"])
def test_yes_writes_me_cleaners_output_and_the_backup_restores_it(
    tmp_path: Path, options: str
) -> None:
    chip = link_chip(tmp_path)
    original = chip.read_bytes()
    expected = golden_link(options, tmp_path)
    backup = tmp_path / "backup.bin"
    mode = ["--mode", "disable-only"] if options == "-s" else []
    code, report, stderr = _neutralize(chip, "--yes", "--backup", str(backup), *mode)
    assert code == 0, stderr
    assert chip.read_bytes() == expected
    assert report["outcome"] == "written"
    assert report["verification"]["chip_readback"] is True
    assert all(r["state"] == "verified" for r in report["regions"])
    assert report["chip"]["sha256_after"] == hashlib.sha256(expected).hexdigest()
    assert backup.read_bytes() == original
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert report["backup"]["sha256"] == hashlib.sha256(original).hexdigest()
    saved = json.loads((tmp_path / "backup.bin.report.json").read_text())
    assert saved["outcome"] == "written"
    assert saved["neutralize"]["after"]["me_disable"]["set"] is True
    assert "writing the fd region" in stderr  # progress on the slow steps

    restored = run_cli("host", "restore", "-p", spec(chip), "--backup", str(backup), "--json")
    assert restored.returncode == 0, restored.stderr
    assert chip.read_bytes() == original
    assert json.loads(restored.stdout)["outcome"] == "restored"


def test_neutralize_report_is_what_node_enroll_takes(tmp_path: Path) -> None:
    chip = link_chip(tmp_path)
    report_path = tmp_path / "report.json"
    code, _, stderr = _neutralize(
        chip, "--yes", "--backup", str(tmp_path / "b.bin"), "--report", str(report_path)
    )
    assert code == 0, stderr
    db = f"sqlite:///{tmp_path / 'org.db'}"
    env_key = tmp_path / "org.key"
    init = run_cli("org", "init", "--db", db, "--key-file", str(env_key))
    assert init.returncode == 0, init.stderr
    enroll = run_cli(
        "node", "enroll", "n1", "--policy", "neutralize", "--db", db, "--key-file", str(env_key),
        "--neutralize-report", str(report_path),
    )  # fmt: skip
    assert enroll.returncode == 0, enroll.stderr


# --- refusals: the chip is unchanged ------------------------------------------------------------


def _refused(tmp_path: Path, chip: Path, *args: str, root: str = RUNNING_ME7) -> str:
    before = chip.read_bytes()
    code, _, stderr = _neutralize(
        chip, "--yes", "--backup", str(tmp_path / "b.bin"), *args, root=root
    )
    assert code == 3, stderr
    assert chip.read_bytes() == before
    assert not (tmp_path / "b.bin").exists()
    return stderr


def test_boot_guard_enforced_live_is_refused(tmp_path: Path) -> None:
    stderr = _refused(tmp_path, link_chip(tmp_path), root=BOOT_GUARD_ENFORCED)
    assert "Boot Guard is not ruled out" in stderr
    assert "--mode disable-only" in stderr


def test_boot_guard_manifests_in_the_image_are_refused(tmp_path: Path) -> None:
    from tests.firmware.neutralize_helpers import add_boot_guard_fit

    chip = link_chip(tmp_path)
    chip.write_bytes(add_boot_guard_fit(chip.read_bytes()))
    stderr = _refused(tmp_path, chip)
    assert "Boot Guard manifests" in stderr


def test_boot_guard_unknown_on_a_newer_me_is_refused(tmp_path: Path) -> None:
    """CSME 14 with registers that do not answer: not ruled out (and IFWI besides)."""
    stderr = _refused(tmp_path, darp6_chip(tmp_path), root=BOOT_GUARD_UNKNOWN)
    assert "IFWI" in stderr or "Boot Guard" in stderr


def test_ifwi_code_removal_is_refused(tmp_path: Path) -> None:
    stderr = _refused(tmp_path, darp6_chip(tmp_path), root=str(TREES / "csme16-z790-running"))
    assert "IFWI" in stderr
    assert "disable-only" in stderr


def test_write_locked_descriptor_is_refused_naming_the_jumper(tmp_path: Path) -> None:
    chip = link_chip(tmp_path, unlocked=False)
    stderr = _refused(tmp_path, chip)
    assert "FLMSTR1 = 0x0a0b0000" in stderr
    assert "Flash Descriptor Override strap" in stderr
    assert "HDA_SDO" in stderr


def test_an_existing_backup_file_is_never_overwritten(tmp_path: Path) -> None:
    chip = link_chip(tmp_path)
    before = chip.read_bytes()
    (tmp_path / "b.bin").write_bytes(b"keep")
    code, _, stderr = _neutralize(chip, "--yes", "--backup", str(tmp_path / "b.bin"))
    assert code == 2
    assert "already exists" in stderr
    assert (tmp_path / "b.bin").read_bytes() == b"keep"
    assert chip.read_bytes() == before


# --- failures half-way ---------------------------------------------------------------------------

CORRUPT_FD_WRITE = """
from mewarden.host import neutralize_run
_write = neutralize_run.FlashromFlasher.write
_done = []
def write(self, region, data, chip_image):
    if region.value == "fd" and not _done:  # the first descriptor write goes wrong
        _done.append(1)
        data = data[:0x100] + bytes([data[0x100] ^ 0xFF]) + data[0x101:]
    _write(self, region, data, chip_image)
neutralize_run.FlashromFlasher.write = write
"""

POWER_LOSS_AFTER_ME = """
import os, signal
from mewarden.host import neutralize_run
_write = neutralize_run.FlashromFlasher.write
def write(self, region, data, chip_image):
    if region.value == "fd":
        os.kill(os.getpid(), signal.SIGKILL)  # the machine loses power between the regions
    _write(self, region, data, chip_image)
neutralize_run.FlashromFlasher.write = write
"""


def test_a_write_failing_verification_half_way_is_rolled_back(tmp_path: Path) -> None:
    chip = link_chip(tmp_path)
    before = chip.read_bytes()
    backup = tmp_path / "b.bin"
    result = run_cli(
        "host", "neutralize", "-p", spec(chip), "--root", RUNNING_ME7, "--yes",
        "--backup", str(backup), "--json", prelude=CORRUPT_FD_WRITE,
    )  # fmt: skip
    assert result.returncode == 12, result.stderr
    assert "put back and equals the original" in result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "rolled-back"
    assert [r["state"] for r in report["regions"]] == ["rolled-back", "rolled-back"]
    assert report["verification"]["chip_readback"] is False
    assert chip.read_bytes() == before
    assert report["chip"]["sha256_after"] == hashlib.sha256(before).hexdigest()


def test_power_loss_between_regions_journal_and_chip_agree(tmp_path: Path) -> None:
    chip = link_chip(tmp_path)
    original = chip.read_bytes()
    expected = golden_link("-S", tmp_path)
    backup = tmp_path / "b.bin"
    result = run_cli(
        "host", "neutralize", "-p", spec(chip), "--root", RUNNING_ME7, "--yes",
        "--backup", str(backup), prelude=POWER_LOSS_AFTER_ME,
    )  # fmt: skip
    assert result.returncode == -9
    journal = json.loads((tmp_path / "b.bin.report.json").read_text())
    assert journal["outcome"] == "in-progress"
    states = {r["region"]: r for r in journal["regions"]}
    assert states["me"]["state"] == "verified"
    assert states["fd"]["state"] == "writing"
    held = chip.read_bytes()
    me, fd = slice(0x1000, 0x200000), slice(0, 0x1000)
    assert held[me] == expected[me]  # the journal's "verified" ME is on the chip
    assert held[fd] == original[fd]  # the descriptor write never started
    assert hashlib.sha256(held[me]).hexdigest() == states["me"]["readback_sha256"]
    assert parse_descriptor(held).me_disable.set is False
    restored = run_cli("host", "restore", "-p", spec(chip), "--backup", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert chip.read_bytes() == original


def test_restore_refuses_a_backup_of_another_size(tmp_path: Path) -> None:
    chip = link_chip(tmp_path)
    small = tmp_path / "small.bin"
    small.write_bytes(chip.read_bytes()[: 8 << 20])
    result = run_cli("host", "restore", "-p", spec(chip), "--backup", str(small))
    assert result.returncode == 2
    assert "bytes, but the chip is" in result.stderr
    assert os.path.getsize(chip) == 16 << 20


def test_disable_only_is_allowed_where_boot_guard_is_enforced(tmp_path: Path) -> None:
    """Setting the strap removes no code, so Boot Guard does not stop it (me_cleaner -s)."""
    chip = link_chip(tmp_path)
    code, report, stderr = _neutralize(
        chip, "--yes", "--backup", str(tmp_path / "b.bin"), "--mode", "disable-only",
        root=BOOT_GUARD_ENFORCED,
    )  # fmt: skip
    assert code == 0, stderr
    assert report["boot_guard"]["ruled_out"] is False
    assert [r["region"] for r in report["regions"]] == ["fd"]
    assert chip.read_bytes() == golden_link("-s", tmp_path)


def test_the_override_strap_opens_a_locked_descriptor(tmp_path: Path) -> None:
    """With the Flash Descriptor Override strap asserted (HFSTS1 COM=4) FLMSTR1 no longer binds."""
    import shutil

    tree = tmp_path / "override-tree"
    shutil.copytree(TREES / "me7-normal", tree, symlinks=True)
    (tree / "sys/class/mei/mei0/fw_status").write_text("1E040255\n")  # me7-normal with COM=4
    chip = link_chip(tmp_path, unlocked=False)
    code, report, stderr = _neutralize(
        chip, "--yes", "--backup", str(tmp_path / "b.bin"), root=str(tree)
    )
    assert code == 0, stderr
    assert report["probe"]["verdict"] == "override"
    assert "security override opens fd, bios, me, gbe" in report["lock_check"]
    assert report["outcome"] == "written"
    after = chip.read_bytes()
    assert parse_descriptor(after).me_disable.set is True
    assert after[0x60:0x6C] == chip_locked_masters()


def chip_locked_masters() -> bytes:
    """FLMSTR1-3 of the link descriptor, which neutralize leaves as they were."""
    from tests.support import require_fixture

    return require_fixture("coreboot-blobs/google_link_descriptor.bin").read_bytes()[0x60:0x6C]
