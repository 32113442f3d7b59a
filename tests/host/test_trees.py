"""Must show: every real register set in the reference, as a recorded tree, gives its verdict.

The expected verdicts are the reference's (``live-me-and-network.md`` A2.1 runtime signatures and
the A2.4 decision table); each tree's provenance is in ``tests/data/host/README.md``.
"""

from __future__ import annotations

import pytest

from mewarden.host.probe import ProbeReport, probe
from mewarden.host.sysfs import open_tree
from mewarden.host.verdict import AmtState, BootGuardState, MeState

from .conftest import TREES


def _probe(name: str) -> ProbeReport:
    return probe(open_tree(TREES / name))


@pytest.mark.parametrize(
    ("tree", "verdict"),
    [
        ("me7-normal", MeState.RUNNING),
        ("me7-cleaned-hap", MeState.HAP_DISABLED),
        ("me8-altmedisable", MeState.HAP_DISABLED),
        ("me9-strip-disable", MeState.HAP_DISABLED),
        ("csme16-z790-running", MeState.RUNNING),
        ("csme16-adlp-hap-bootguard", MeState.HAP_DISABLED),
        ("csme18-lnl-running", MeState.RUNNING),
        ("tgl-running", MeState.RUNNING),
        ("heci-soft-disabled", MeState.SOFT_DISABLED),
        ("hidden-device", MeState.HIDDEN),
        ("driver-not-loaded", MeState.RUNNING),
        ("non-root", MeState.UNKNOWN),
    ],
)
def test_tree_gives_the_reference_verdict(tree: str, verdict: MeState) -> None:
    report = _probe(tree)
    assert report.verdict is verdict
    assert report.verdict_evidence, "a verdict always carries its evidence"
    assert report.schema_version == 1


def test_every_checked_in_tree_is_covered() -> None:
    names = {p.name for p in TREES.iterdir() if p.is_dir()}
    assert len(names) == 12


def test_adlp_hap_reports_boot_guard_enforced_from_hfsts6() -> None:
    # fwupd fixture: "Alder Lake-P HAP set, Boot Guard enabled, fused"
    report = _probe("csme16-adlp-hap-bootguard")
    assert report.boot_guard is BootGuardState.ENFORCED
    assert any("HFSTS6" in line for line in report.boot_guard_evidence)
    assert report.registers is not None
    assert report.registers.spi_unprotected is True
    assert report.firmware_version == "16.0.0.0"
    assert report.amt is AmtState.ABSENT


def test_z790_running_without_verified_boot_and_without_amthi() -> None:
    report = _probe("csme16-z790-running")
    # fwupd's HSI for the Z790: Boot Guard Verified/ACM not valid
    assert report.boot_guard is BootGuardState.NOT_ENFORCED
    # the consumer SKU has no AMTHI client: the recorded connect fails with ENOTTY
    assert report.amt is AmtState.ABSENT
    assert any("AMTHI" in line for line in report.amt_evidence)
    assert report.firmware_version == "16.1.32.2473"
    assert report.heci is not None
    assert report.heci.generation == "CSME 16"


@pytest.mark.parametrize("tree", ["me7-normal", "me8-altmedisable"])
def test_platforms_before_me_9_5_have_no_boot_guard(tree: str) -> None:
    # intelmetool: a system with ME < 9.5 is "not Boot Guard ready"
    assert _probe(tree).boot_guard is BootGuardState.NOT_ENFORCED


def test_me7_normal_flags_manufacturing_mode() -> None:
    report = _probe("me7-normal")
    assert report.registers is not None
    assert report.registers.manufacturing_mode is True
    assert any("manufacturing mode" in line for line in report.verdict_evidence)


def test_csme18_boot_guard_from_hfsts5() -> None:
    report = _probe("csme18-lnl-running")
    assert report.registers is not None
    assert report.registers.family.value == "csme18"
    assert report.boot_guard is BootGuardState.ENFORCED
    assert any("HFSTS5" in line for line in report.boot_guard_evidence)


def test_tgl_running_read_from_config_space_like_chipsec() -> None:
    report = _probe("tgl-running")
    assert report.registers is not None
    assert report.registers.source == "pci-config"
    assert report.registers.hfsts == ("a0000245",)


def test_soft_disable_signature_and_amt() -> None:
    report = _probe("heci-soft-disabled")
    assert any("COM=3" in line for line in report.verdict_evidence)
    assert report.amt is AmtState.ABSENT


def test_hidden_device_is_called_ambiguous() -> None:
    report = _probe("hidden-device")
    assert report.heci is None
    assert any("ambiguous" in line for line in report.verdict_evidence)
    assert report.boot_guard is BootGuardState.UNKNOWN


def test_driver_not_loaded_is_said() -> None:
    report = _probe("driver-not-loaded")
    assert report.heci is not None
    assert report.heci.driver_bound is False
    assert any("driver not loaded" in line for line in report.verdict_evidence)
    assert report.registers is not None
    assert report.registers.source == "pci-config"


def test_non_root_short_config_read_means_need_root_not_zero() -> None:
    report = _probe("non-root")
    assert report.registers is None
    assert any("root" in line for line in report.verdict_evidence)
    assert any("permission denied" in p for p in report.problems)  # the MSR
    assert report.boot_guard is BootGuardState.UNKNOWN
