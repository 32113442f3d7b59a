"""``host record`` round-trips: record a tree (or the live system), probe the copy, same answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mewarden.errors import BadInputError
from mewarden.host.probe import ProbeReport, probe
from mewarden.host.record import record
from mewarden.host.sysfs import open_tree

from .conftest import TREES

ALL_TREES = sorted(p.name for p in TREES.iterdir() if p.is_dir())


def _answers(report: ProbeReport) -> tuple[object, ...]:
    return (
        report.verdict,
        report.verdict_evidence,
        report.boot_guard,
        report.boot_guard_evidence,
        report.amt,
        report.amt_evidence,
        report.registers,
        report.heci,
        report.fw_ver,
    )


@pytest.mark.parametrize("name", ALL_TREES)
def test_record_round_trips_every_tree(tmp_path: Path, name: str) -> None:
    original = probe(open_tree(TREES / name))
    summary = record(open_tree(TREES / name), tmp_path / "copy")
    copy = probe(open_tree(tmp_path / "copy"))
    assert _answers(copy) == _answers(original)
    assert summary.files


def test_recorded_mei_sessions_replay(tmp_path: Path) -> None:
    summary = record(open_tree(TREES / "csme16-z790-running"), tmp_path / "copy")
    assert summary.mei_sessions == 2  # MKHI GET_FW_VERSION and the refused AMTHI connect
    copy = open_tree(tmp_path / "copy")
    assert copy.manifest.mei is not None
    assert copy.manifest.mei[0].exchanges[0]["request"] == "ff020000"


def test_denied_paths_survive_a_round_trip(tmp_path: Path) -> None:
    record(open_tree(TREES / "non-root"), tmp_path / "copy")
    copy = open_tree(tmp_path / "copy")
    assert "dev/cpu/0/msr" in copy.manifest.denied
    assert copy.manifest.recorded_as_root is False


def test_record_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(BadInputError):
        record(open_tree(TREES / "me7-normal"), tmp_path / "busy")


def test_record_the_live_system_then_probe_it(tmp_path: Path) -> None:
    live = probe(open_tree("/"))
    record(open_tree("/"), tmp_path / "live")
    copy = probe(open_tree(tmp_path / "live"))
    assert copy.verdict is live.verdict
    assert copy.boot_guard is live.boot_guard
    assert copy.amt is live.amt
    assert copy.source == "recorded"
    assert live.source == "live"
    cpuinfo = (tmp_path / "live" / "proc/cpuinfo").read_text()
    assert "flags" not in cpuinfo  # only identifying lines of the first CPU are kept
    assert os.path.getsize(tmp_path / "live" / "proc/cpuinfo") < 1024


def test_msr_round_trips(tmp_path: Path) -> None:
    import shutil

    source = tmp_path / "source"
    shutil.copytree(TREES / "me9-strip-disable", source, symlinks=True)
    msr = source / "dev/cpu/0/msr"
    msr.parent.mkdir(parents=True)
    msr.write_bytes(bytes(0x13A) + ((1 << 32) | (1 << 6)).to_bytes(8, "little"))
    record(open_tree(source), tmp_path / "copy")
    copy = probe(open_tree(tmp_path / "copy"))
    assert copy.boot_guard.value == "enforced"
    assert copy.msr_boot_guard_sacm_info == probe(open_tree(source)).msr_boot_guard_sacm_info
