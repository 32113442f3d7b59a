"""SHA-256 and MD5 for the firmware code, without loading OpenSSL where it cannot pay off.

``import hashlib`` always loads ``_hashlib`` and with it OpenSSL's libcrypto: 3-4 ms, the largest
single import of ``firmware inspect`` and ``firmware neutralize`` (issue 19 measures them as whole
processes against me_cleaner). CPython also carries its own SHA-256 and MD5 (``_sha2`` from 3.12,
``_sha256`` before; ``_md5``), which cost nothing to load but hash about 6x slower than OpenSSL
with the CPU's SHA extensions (12 ms against 2 ms for 2 MiB on the bench machine). The firmware
commands hash a few hundred bytes (key ids) and a few KiB (a manifest's signed bytes) per image:
those go through the built-in code; anything of :data:`SMALL` bytes or more goes through hashlib.
A build without the built-in modules (some FIPS builds) falls back to hashlib for everything.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from _typeshed import ReadableBuffer

    class _Hash(Protocol):
        def digest(self) -> bytes: ...
        def hexdigest(self) -> str: ...


SMALL = 0x10000
"""Inputs from this size on are hashed by OpenSSL: its speed outweighs its 3-4 ms load."""

_BUILTIN: dict[str, Callable[[ReadableBuffer], _Hash] | None] = {}


def _builtin(name: str, modules: tuple[str, ...]) -> Callable[[ReadableBuffer], _Hash] | None:
    """CPython's own constructor for ``name`` from the first of ``modules`` present, or None."""
    if name not in _BUILTIN:
        _BUILTIN[name] = None
        for module in modules:
            try:
                _BUILTIN[name] = getattr(__import__(module), name)
                break
            except (ImportError, AttributeError):
                continue
    return _BUILTIN[name]


def sha256_digest(data: ReadableBuffer) -> bytes:
    """The SHA-256 of ``data``."""
    return _hash("sha256", ("_sha2", "_sha256"), data).digest()


def sha256_hex(data: ReadableBuffer) -> str:
    """The SHA-256 of ``data`` as lower-case hex."""
    return _hash("sha256", ("_sha2", "_sha256"), data).hexdigest()


def md5_hex(data: ReadableBuffer) -> str:
    """The MD5 of ``data`` as lower-case hex (key ids only: not a security use)."""
    return _hash("md5", ("_md5",), data).hexdigest()


def _hash(name: str, modules: tuple[str, ...], data: ReadableBuffer) -> _Hash:
    constructor = _builtin(name, modules) if memoryview(data).nbytes < SMALL else None
    if constructor is not None:
        return constructor(data)
    import hashlib

    return hashlib.new(name, data, usedforsecurity=name != "md5")
