"""Turning mewarden's value types into JSON, the same way everywhere.

Reports are frozen dataclasses or records (:mod:`mewarden.record`); their JSON form is part of
a versioned contract, so the conversion rules live in one place: dataclasses and records become
objects (field order kept), enums become their ``name`` lower-cased with dashes unless they are
``StrEnum`` (then their value), ``bytes`` become lower-case hex, tuples and lists become arrays,
and ``Path`` becomes a string.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Mapping

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
    shown = _shown_fields(value)
    if shown is not None:
        return {name: to_jsonable(getattr(value, name)) for name in shown}
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    if _is_path(value):
        return str(value)
    raise TypeError(f"cannot represent {type(value).__name__} as JSON")


def _is_path(value: Any) -> bool:
    """A ``pathlib`` path, without importing pathlib (a path exists only if it is loaded)."""
    pathlib = sys.modules.get("pathlib")
    return pathlib is not None and isinstance(value, pathlib.PurePath)


def _shown_fields(value: Any) -> list[str] | None:
    """The field names ``repr`` shows, for a record or dataclass instance; else None.

    Neither check imports ``dataclasses``: a dataclass instance means it is loaded already, and
    the firmware commands (records only) must not pay for it.
    """
    kind = type(value)
    record_fields = getattr(kind, "__record_fields__", None)
    if record_fields is not None:
        return [f.name for f in record_fields if f.repr]
    if hasattr(kind, "__dataclass_fields__"):
        import dataclasses

        return [f.name for f in dataclasses.fields(value) if f.repr]
    return None


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
    shown = _shown_fields(value)
    if shown is not None:
        return {name: plain(getattr(value, name)) for name in shown}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
