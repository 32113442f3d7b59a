"""The firmware digests equal hashlib's on either side of the size where OpenSSL takes over,
and work on a CPython without its own hash modules."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mewarden.firmware import digest

sizes = st.sampled_from([0, 1, 63, 64, 4096, digest.SMALL - 1, digest.SMALL, digest.SMALL + 1])


@settings(max_examples=60)
@given(size=sizes, seed=st.binary(min_size=1, max_size=32))
def test_the_digests_are_hashlibs(size: int, seed: bytes) -> None:
    data = (seed * (size // len(seed) + 1))[:size]
    assert digest.sha256_digest(data) == hashlib.sha256(data).digest()
    assert digest.sha256_hex(data) == hashlib.sha256(data).hexdigest()
    assert digest.md5_hex(data) == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert digest.sha256_hex(memoryview(data)) == hashlib.sha256(data).hexdigest()


def test_small_inputs_do_not_use_openssl(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("hashlib was used for a small input")

    monkeypatch.setattr(hashlib, "new", refuse)
    assert digest.sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    with pytest.raises(AssertionError, match="hashlib was used"):
        digest.sha256_hex(bytes(digest.SMALL))


def test_without_cpythons_own_hashes_everything_goes_to_hashlib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(digest, "_BUILTIN", {"sha256": None, "md5": None})
    assert digest.sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert digest.md5_hex(b"abc") == hashlib.md5(b"abc", usedforsecurity=False).hexdigest()


def test_a_missing_module_is_remembered_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest, "_BUILTIN", {})
    assert digest._builtin("sha256", ("_no_such_module",)) is None
    assert digest._BUILTIN == {"sha256": None}
