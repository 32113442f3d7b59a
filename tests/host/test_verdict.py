"""The decision table's other rows, Boot Guard from the MSR, and AMT from AMTHI answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mewarden.host.hfsts import decode_hfsts1
from mewarden.host.msr import MSR_BOOT_GUARD_SACM_INFO, TpmType, decode_sacm_info
from mewarden.host.probe import probe
from mewarden.host.sysfs import open_tree
from mewarden.host.verdict import (
    AmtState,
    BootGuardState,
    Finding,
    MeState,
    amt_from_amthi,
    boot_guard_from_msr,
    combine_boot_guard,
    me_state_from_hfsts1,
)

from .conftest import MEI_RECORDINGS


def _hfsts1(*, cws: int, com: int, err: int = 0, init: int = 0, cos: int = 1) -> int:
    """Build HFSTS1 from the field positions of reference A2.1."""
    return cws | (cos << 6) | (init << 9) | (err << 12) | (com << 16)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"cws": 5, "com": 4, "init": 1}, MeState.OVERRIDE),  # override jumper
        ({"cws": 5, "com": 5, "init": 1}, MeState.OVERRIDE),  # HMRFPO
        ({"cws": 4, "com": 3, "err": 2}, MeState.SOFT_DISABLED),
        ({"cws": 5, "com": 2, "init": 1}, MeState.RUNNING),  # debug-fused ME that runs
        ({"cws": 4, "com": 2, "err": 2}, MeState.HAP_DISABLED),
        ({"cws": 1, "com": 2, "cos": 6}, MeState.HAP_DISABLED),
        ({"cws": 5, "com": 0, "init": 1}, MeState.RUNNING),
        ({"cws": 4, "com": 0, "err": 2}, MeState.UNKNOWN),  # "disabled, perhaps HAP?"
        ({"cws": 2, "com": 0}, MeState.UNKNOWN),  # recovery
        ({"cws": 5, "com": 0xF, "init": 1}, MeState.RUNNING),  # SPS firmware
    ],
)
def test_decision_table_rows(fields: dict[str, int], state: MeState) -> None:
    finding = me_state_from_hfsts1(decode_hfsts1(_hfsts1(**fields)))
    assert finding.state is state
    assert len(finding.evidence) >= 2


def test_image_failure_with_normal_mode_is_running_with_the_error_said() -> None:
    # me_cleaner -S without HAP: "Normal status but with an Image Failure"
    finding = me_state_from_hfsts1(decode_hfsts1(_hfsts1(cws=5, com=0, err=3, init=1)))
    assert finding.state is MeState.RUNNING
    assert "IMAGE_FAILURE" in finding.evidence[1]


def test_msr_bits_as_intelmetool_decodes_them() -> None:
    value = (1 << 32) | (1 << 6) | (1 << 5) | (1 << 4) | (1 << 3) | (2 << 1) | 1
    info = decode_sacm_info(value)
    assert info.boot_guard_capable
    assert info.verified_boot
    assert info.measured_boot
    assert info.facb_in_fpf
    assert info.tpm_success
    assert info.nem_enabled
    assert info.tpm_type is TpmType.TPM_2_0
    assert not info.module_revoked
    assert boot_guard_from_msr(info).state is BootGuardState.ENFORCED
    assert boot_guard_from_msr(decode_sacm_info(0)).state is BootGuardState.NOT_ENFORCED
    capable_only = decode_sacm_info(1 << 32)
    assert boot_guard_from_msr(capable_only).state is BootGuardState.NOT_ENFORCED


def test_enforced_wins_over_not_enforced() -> None:
    enforced = Finding(state=BootGuardState.ENFORCED, evidence=("a",))
    not_enforced = Finding(state=BootGuardState.NOT_ENFORCED, evidence=("b",))
    unknown = Finding(state=BootGuardState.UNKNOWN, evidence=("c",))
    assert combine_boot_guard([not_enforced, enforced]).state is BootGuardState.ENFORCED
    assert combine_boot_guard([unknown, not_enforced]).state is BootGuardState.NOT_ENFORCED
    assert combine_boot_guard([unknown]).state is BootGuardState.UNKNOWN
    assert combine_boot_guard([unknown, enforced]).evidence == ("c", "a")


@pytest.mark.parametrize(
    ("present", "state", "mode", "expected"),
    [
        (False, None, None, AmtState.ABSENT),
        (None, None, None, AmtState.UNKNOWN),
        (True, 0, 0, AmtState.UNPROVISIONED),
        (True, 2, 1, AmtState.CCM),
        (True, 2, 2, AmtState.ACM),
        (True, 1, 0, AmtState.UNKNOWN),
    ],
)
def test_amt_from_amthi(
    present: bool | None, state: int | None, mode: int | None, expected: AmtState
) -> None:
    assert amt_from_amthi(present, state, mode).state is expected


def test_msr_in_a_tree_decides_boot_guard(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("me9-strip-disable")  # ME 9: no Boot Guard register in HFSTS
    msr = root / "dev/cpu/0/msr"
    msr.parent.mkdir(parents=True)
    value = (1 << 32) | (1 << 6) | 1
    with msr.open("wb") as handle:
        handle.seek(MSR_BOOT_GUARD_SACM_INFO)
        handle.write(value.to_bytes(8, "little"))
    report = probe(open_tree(root))
    assert report.boot_guard is BootGuardState.ENFORCED
    assert report.msr_boot_guard_sacm_info is not None
    assert report.msr_boot_guard_sacm_info.verified_boot


def test_amt_unprovisioned_from_recorded_amthi(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("csme16-z790-running")
    manifest_path = root / "mewarden-record.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["mei"] = json.loads((MEI_RECORDINGS / "thinkpad-amt11.json").read_text())
    manifest_path.write_text(json.dumps(manifest))
    report = probe(open_tree(root))
    assert report.amt is AmtState.UNPROVISIONED
    assert report.amt_info is not None
    assert report.amt_info.code_versions is not None
    assert report.amt_info.code_versions.get("AMT") == "11.8.93"


def test_fw_version_from_mkhi_when_sysfs_lacks_fw_ver(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("csme16-z790-running")
    (root / "sys/class/mei/mei0/fw_ver").unlink()
    report = probe(open_tree(root))
    assert report.firmware_version == "16.1.32.2473"
    assert report.registers is not None
    assert report.registers.family.value == "csme16"
