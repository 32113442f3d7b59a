"""Helpers shared by the test suite.

System tests (real tools, servers, firmware fixtures) skip when what they need is missing, so a
developer without root can still run ``make test``. CI sets ``MEWARDEN_REQUIRE_SYSTEM_TESTS=1``,
which turns each such skip into a failure: CI must prove the claim, not skip it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def system_tests_required() -> bool:
    """True when a missing tool, server or fixture must fail the run (CI)."""
    return os.environ.get("MEWARDEN_REQUIRE_SYSTEM_TESTS", "") not in ("", "0")


def missing(reason: str) -> None:
    """Skip the current test, or fail it when system tests are required."""
    if system_tests_required():
        pytest.fail(f"required system test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Return the path of the system tool ``name``, or skip/fail when it is not installed."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path is None:
        missing(f"{name} is not installed (run 'make system-packages')")
    assert path is not None
    return path


def fixtures_dir() -> Path:
    """Where the real firmware fixtures live (never inside this repository)."""
    configured = os.environ.get("MEWARDEN_FIXTURES")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "firmware-fixtures"


def wsman_corpus_dir() -> Path:
    """Where Intel's Apache-2.0 WS-MAN golden corpus lives."""
    configured = os.environ.get("MEWARDEN_WSMAN_CORPUS")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "wsman-corpus"


def reference_dir() -> Path:
    """The shared reference material (facts with sources)."""
    return REPO_ROOT.parent / "shared" / "reference"


def require_fixture(relative: str) -> Path:
    """Path of a firmware fixture file, or skip/fail when the corpus is not beside the repo."""
    path = fixtures_dir() / relative
    if not path.is_file():
        missing(f"firmware fixture {relative} not found under {fixtures_dir()}")
    return path


def require_corpus() -> Path:
    """Path of the WS-MAN corpus, or skip/fail when it is absent."""
    path = wsman_corpus_dir()
    if not (path / "MANIFEST.tsv").is_file():
        missing(f"WS-MAN corpus not found at {path}")
    return path


def run_mewarden(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m mewarden ARGS`` as a user runs it; whatever the outcome, never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in result.stderr
    return result
