"""Shared helpers for the host probe tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

TREES = REPO_ROOT / "tests" / "data" / "host" / "trees"
MEI_RECORDINGS = REPO_ROOT / "tests" / "data" / "host" / "mei"


@pytest.fixture
def copy_tree(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a checked-in tree into ``tmp_path`` so a test can damage it."""

    def _copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(TREES / name, target, symlinks=True)
        return target

    return _copy
