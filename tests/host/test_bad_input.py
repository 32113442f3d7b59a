"""Bad input: garbage registers, missing files, permission errors give ``unknown`` with a reason.

Permission errors are replayed from a tree's ``denied`` list (the same ``PermissionError`` path a
real EACCES takes), so the tests hold when the suite runs as root, as CI does.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mewarden.errors import HostDataError
from mewarden.host.probe import ProbeReport, probe
from mewarden.host.sysfs import open_tree
from mewarden.host.verdict import MeState

from .conftest import TREES

FW_STATUS = "sys/class/mei/mei0/fw_status"


def _probe(root: Path) -> ProbeReport:
    return probe(open_tree(root))


def _deny(root: Path, *paths: str) -> None:
    manifest_path = root / "mewarden-record.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["denied"] = [*manifest["denied"], *paths]
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\n", b"hello world\n", b"9000024\n", b"\xff\xfe\x00\x01", b"90000245\n" * 9],
)
def test_garbage_fw_status_gives_unknown_with_the_reason(
    copy_tree: Callable[[str], Path], garbage: bytes
) -> None:
    root = copy_tree("csme16-adlp-hap-bootguard")
    (root / FW_STATUS).write_bytes(garbage)
    report = _probe(root)
    assert report.verdict is MeState.UNKNOWN
    assert any("fw_status" in line for line in report.verdict_evidence)


def test_all_ones_register_is_unknown(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("me7-normal")
    (root / FW_STATUS).write_text("FFFFFFFF\n")
    report = _probe(root)
    assert report.verdict is MeState.UNKNOWN
    assert any("not answering" in line for line in report.verdict_evidence)


def test_missing_fw_status_falls_back_to_config_space(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("csme16-z790-running")
    (root / FW_STATUS).unlink()
    report = _probe(root)
    # the tree's config space is the unprivileged 64 bytes: no registers, so unknown, and why
    assert report.verdict is MeState.UNKNOWN
    assert any("fw_status: not present" in line for line in report.verdict_evidence)
    assert any("run as root" in line for line in report.verdict_evidence)


def test_permission_denied_fw_status(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("me8-altmedisable")
    _deny(root, FW_STATUS)
    report = _probe(root)
    assert report.verdict is MeState.UNKNOWN
    assert any("permission denied" in line for line in report.verdict_evidence)


def test_permission_denied_pci_listing(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("me7-normal")
    _deny(root, "sys/bus/pci/devices")
    report = _probe(root)
    assert report.verdict is MeState.UNKNOWN
    assert any("permission denied" in p for p in report.problems)


def test_missing_sys_entirely(tmp_path: Path) -> None:
    report = _probe(tmp_path)
    assert report.verdict is MeState.UNKNOWN
    assert report.verdict_evidence
    assert any("not present" in p for p in report.problems)


def test_garbage_pci_attribute_skips_that_function(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("me7-normal")
    (root / "sys/bus/pci/devices/0000:00:16.0/vendor").write_text("intel\n")
    report = _probe(root)
    assert report.heci is None
    assert report.verdict in (MeState.HIDDEN, MeState.UNKNOWN)
    assert any("not a hex number" in p for p in report.problems)


def test_garbage_fw_ver_is_a_problem_not_a_failure(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("csme16-z790-running")
    (root / "sys/class/mei/mei0/fw_ver").write_text("sixteen\n")
    report = _probe(root)
    assert report.verdict is MeState.RUNNING  # family still known from the device ID
    assert report.registers is not None
    assert report.registers.family.value == "csme16"
    assert any("fw_ver" in p for p in report.problems)


def test_truncated_config_space(copy_tree: Callable[[str], Path]) -> None:
    root = copy_tree("driver-not-loaded")
    config = root / "sys/bus/pci/devices/0000:00:16.0/config"
    config.write_bytes(config.read_bytes()[:0x42])
    report = _probe(root)
    assert report.verdict is MeState.UNKNOWN


def test_mei_recording_with_a_foreign_request_is_a_problem(
    copy_tree: Callable[[str], Path],
) -> None:
    root = copy_tree("csme16-z790-running")
    manifest_path = root / "mewarden-record.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["mei"][1] = {
        "client": "12f80028-b4b7-4b2d-aca8-46e0ff65814c",
        "connect": {"max_message_length": 4096, "protocol_version": 1},
        "exchanges": [{"request": "00", "response": "00"}],
    }
    manifest_path.write_text(json.dumps(manifest))
    report = _probe(root)
    assert report.verdict is MeState.RUNNING
    assert any("AMTHI" in p for p in report.problems)


@pytest.mark.parametrize(
    "manifest",
    ["{", "[]", '{"format": "other"}', '{"format": "mewarden-host-record", "denied": 3}'],
)
def test_corrupt_manifest_is_a_one_line_input_error(tmp_path: Path, manifest: str) -> None:
    (tmp_path / "mewarden-record.json").write_text(manifest)
    with pytest.raises(HostDataError):
        open_tree(tmp_path)


def test_root_that_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(HostDataError):
        open_tree(tmp_path / "missing")
    shutil.rmtree(tmp_path)


@settings(max_examples=40)
@given(st.binary(max_size=120), st.binary(max_size=40))
def test_random_bytes_never_escape_as_exceptions(fw_status: bytes, fw_ver: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "tree"
        shutil.copytree(TREES / "csme16-z790-running", root, symlinks=True)
        (root / FW_STATUS).write_bytes(fw_status)
        (root / "sys/class/mei/mei0/fw_ver").write_bytes(fw_ver)
        report = _probe(root)
    assert report.verdict in set(MeState)
    assert report.verdict_evidence
