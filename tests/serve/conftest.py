"""Cheap Argon2 parameters for the serve suite (production keeps argon2-cffi's defaults):
hashing is what these tests exercise, not its cost."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from mewarden.serve import identity


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(identity, "_hasher", hasher)
    monkeypatch.setattr(identity, "DUMMY_HASH", hasher.hash("not a password"))
