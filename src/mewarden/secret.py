"""A wrapper that keeps secrets out of reprs, logs, exceptions and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string. ``str()``/``repr()`` show ``'***'``; call :meth:`reveal` to use it."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """Return the plaintext; call only at the point of use (an auth header, a cipher)."""
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    def __bool__(self) -> bool:
        return bool(self._value)
