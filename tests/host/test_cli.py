"""The ``mewarden host`` commands as a user runs them: exit codes, JSON, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import TREES


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mewarden", "host", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_live_probe_degrades_gracefully() -> None:
    """On a machine without an Intel ME (this one, CI): hidden/unknown with reasons, exit 0."""
    result = _run("probe", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["schema_version"] == 1
    assert report["source"] == "live"
    if report["heci"] is None:
        assert report["verdict"] in ("hidden", "unknown")
    assert report["verdict_evidence"]
    assert report["boot_guard"] in ("enforced", "not-enforced", "unknown")
    assert report["boot_guard_evidence"]
    assert report["amt"] in ("absent", "unprovisioned", "ccm", "acm", "unknown")


def test_probe_json_contract_for_a_tree() -> None:
    result = _run("probe", "--root", str(TREES / "csme16-adlp-hap-bootguard"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # the keys firmware neutralize --boot-guard-status reads, at top level
    assert report["boot_guard"] == "enforced"
    assert report["verdict"] == "hap-disabled"
    assert report["amt"] == "absent"
    assert report["registers"]["hfsts"][0] == "80022054"
    assert report["registers"]["family"] == "csme16"


def test_probe_human_output() -> None:
    result = _run("probe", "--root", str(TREES / "hidden-device"))
    assert result.returncode == 0
    assert "hidden" in result.stdout


def test_probe_of_garbage_tree_exits_zero_with_unknown(tmp_path: Path) -> None:
    mei = tmp_path / "sys/class/mei/mei0"
    mei.mkdir(parents=True)
    (mei / "fw_status").write_bytes(b"\x00garbage\xff\n")
    pci = tmp_path / "sys/bus/pci/devices/0000:00:16.0"
    pci.mkdir(parents=True)
    for name, value in (("vendor", "0x8086"), ("device", "0x7a68"), ("class", "0x078000")):
        (pci / name).write_text(value + "\n")
    (mei / "device").symlink_to("../../../bus/pci/devices/0000:00:16.0")
    result = _run("probe", "--root", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "unknown"
    assert any("fw_status" in line for line in report["verdict_evidence"])


def test_probe_of_a_corrupt_recording_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "mewarden-record.json").write_text("{not json")
    result = _run("probe", "--root", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_probe_of_a_missing_root(tmp_path: Path) -> None:
    result = _run("probe", "--root", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_record_then_probe_through_the_cli(tmp_path: Path) -> None:
    target = tmp_path / "rec"
    recorded = _run("record", str(target), "--root", str(TREES / "me8-altmedisable"), "--json")
    assert recorded.returncode == 0, recorded.stderr
    summary = json.loads(recorded.stdout)
    assert summary["directory"] == str(target)
    probed = _run("probe", "--root", str(target), "--json")
    assert json.loads(probed.stdout)["verdict"] == "hap-disabled"
    again = _run("record", str(target), "--root", str(TREES / "me8-altmedisable"))
    assert again.returncode == 2
    assert "Traceback" not in again.stderr


def test_record_the_live_system(tmp_path: Path) -> None:
    result = _run("record", str(tmp_path / "live"))
    assert result.returncode == 0, result.stderr
    probed = _run("probe", "--root", str(tmp_path / "live"), "--json")
    live = _run("probe", "--json")
    assert json.loads(probed.stdout)["verdict"] == json.loads(live.stdout)["verdict"]
