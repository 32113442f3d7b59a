"""The ``--fleet`` progress bar counts each device when its result arrives, not one behind."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mewarden.cli import amt_run
from mewarden.cli.amt_progress import FleetProgress
from tests.amt.conftest import ThreadedFake
from tests.amt.fakeamt import FakeAmt
from tests.support import require_corpus


def test_progress_is_drawn_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert not FleetProgress(total=1, description="x").enabled
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's switch for terminals it cannot detect
    assert FleetProgress(total=1, description="x").enabled


def test_fleet_advances_in_the_result_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``on_result`` is reflected at once: after k results the bar shows k."""
    made: list[FleetProgress] = []

    class Recording(FleetProgress):
        def __init__(self, **kwargs: Any) -> None:
            terminal = Console(file=io.StringIO(), force_terminal=True)
            super().__init__(console=terminal, **kwargs)
            made.append(self)

    shown: list[int] = []

    async def fake_run_fleet(
        endpoints: list[str], operation: object, *, concurrency: int, on_result: Callable[..., None]
    ) -> list[str]:
        for endpoint in endpoints:
            on_result(endpoint)
            shown.append(made[0].completed)
        return endpoints

    monkeypatch.setattr(amt_run, "FleetProgress", Recording)
    monkeypatch.setattr("mewarden.amt.fleet.run_fleet", fake_run_fleet)
    results = asyncio.run(amt_run._fleet(["a", "b", "c"], lambda c: c, 2))
    assert results == ["a", "b", "c"]
    assert made[0].enabled
    assert shown == [1, 2, 3]


def test_fleet_cli_draws_the_bar_when_forced(
    amt_cli: Any,
    threaded_amt: ThreadedFake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    second = ThreadedFake(FakeAmt(corpus=require_corpus()))
    try:
        fleet = tmp_path / "fleet.txt"
        fleet.write_text(f"127.0.0.1:{threaded_amt.port}\n127.0.0.1:{second.port}\n")
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        code, out, err = amt_cli("--fleet", str(fleet), "power", "status", "--json", host=False)
    finally:
        second.stop()
    assert code == 0, err
    assert json.loads(out)["summary"]["succeeded"] == 2
    assert "AMT devices" in err
    assert "2/2" in err
