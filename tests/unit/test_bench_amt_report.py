"""bench/amt_fleet.py's report: honest ratios and a plain target verdict (no timing here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "amt_fleet.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("amt_fleet_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ratio_says_slower_as_below_one(bench: ModuleType) -> None:
    assert bench.ratio(800.0, 1000.0) == "0.8x"
    assert bench.ratio(3000.0, 1000.0) == "3.0x"
    assert bench.ratio(1.0, 0.0) == ""


def test_target_verdict(bench: ModuleType) -> None:
    row = bench.Row
    fast = row("mewarden (run_fleet)", "power-state sweep", 5000, 4.0, 4.0)  # 1,250/s
    slow = row("mewarden (run_fleet)", "power-state sweep", 5000, 10.0, 4.0)  # 500/s
    assert bench.target_line(fast, 1000).endswith(": met (measured 1,250/s)")
    assert bench.target_line(slow, 1000).endswith(": not met (measured 500/s)")
    assert "not assessed (this run N=10" in bench.target_line(fast, 10)
    assert bench.target_line(fast, 1000).startswith("target 1,000 power-state reads/s at N=1,000")


def test_table_compares_each_peer_with_the_same_scenario(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    row = bench.Row
    rows = [
        row("mewarden (run_fleet)", "power-state sweep", 1000, 1.0, 1.0),  # 1000/s, 1 ms/op
        row("mewarden (run_fleet)", "power-cycle", 100, 1.0, 0.2),  # 100/s, 2 ms/op
        row("naive (new conn + 401)", "power-cycle", 10, 1.0, 0.2),  # 10/s, 20 ms/op
        row("MeshCentral (node)", "power-state sweep", 1250, 1.0, 0.5),  # 1250/s, 0.4 ms/op
    ]
    bench.print_table(rows, [])
    lines = capsys.readouterr().out.splitlines()
    naive = next(line for line in lines if line.startswith("naive"))
    mesh = next(line for line in lines if line.startswith("MeshCentral"))
    assert naive.split()[-2:] == ["10.0x", "0.1x"]
    assert mesh.split()[-2:] == ["0.8x", "2.5x"]
    assert "faster" not in "\n".join(lines[:5])
