"""Turning mewarden's value types into JSON, the same way everywhere.

Reports are frozen dataclasses; their JSON form is part of a versioned contract, so the
conversion rules live in one place: dataclasses become objects (field order kept), enums become
their ``name`` lower-cased with dashes unless they are ``StrEnum`` (then their value), ``bytes``
become lower-case hex, tuples and lists become arrays, and ``Path`` becomes a string.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from pathlib import PurePath

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` (dataclasses, enums, bytes, containers) to plain JSON types."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, enum.Enum):
            return _enum_to_json(value)
        return value
    if isinstance(value, enum.Enum):
        return _enum_to_json(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr
        }
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"cannot represent {type(value).__name__} as JSON")


def _enum_to_json(value: enum.Enum) -> Any:
    if isinstance(value, enum.StrEnum):
        return value.value
    return value.name.lower().replace("_", "-")


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """Serialize ``value`` deterministically (sorted only where the value itself is a set)."""
    return json.dumps(to_jsonable(value), indent=indent, ensure_ascii=False)


def plain(value: Any) -> Any:
    """``value`` with datetimes as ISO-8601 strings (the rest is left to to_jsonable)."""
    from datetime import datetime

    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
