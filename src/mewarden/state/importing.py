"""Parsing bulk-enrollment files (pure): CSV with a header row, or a JSON array of objects.

Columns/keys: ``name`` (required), ``amt_host``, ``amt_port``, ``tls`` (true/false/1/0/yes/no),
``username``, ``group``, ``policy``, ``macs`` (space or ``;`` separated in CSV, a list in JSON),
``agent``. The whole file is validated before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from mewarden.errors import BadInputError
from mewarden.state.models import NodeSpec, check_port, parse_policy

_KNOWN = frozenset(
    {"name", "amt_host", "amt_port", "tls", "username", "group", "policy", "macs", "agent"}
)
_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"", "0", "false", "no", "n", "off"})


def _text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadInputError(f"{where}: tls must be true or false, not {text!r}")


def _port(value: Any, where: str) -> int | None:
    """A port from CSV text of digits or a JSON integer (never a bool, float or other text)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            raise BadInputError(f"{where}: amt_port {value!r} is not an integer")
        value = int(text)
    try:
        return check_port(value)
    except BadInputError as exc:
        raise BadInputError(f"{where}: {exc}") from None


def _macs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(p for p in str(value).replace(";", " ").split() if p)


def spec_from_row(row: Mapping[str, Any], where: str) -> NodeSpec:
    """One validated NodeSpec from a CSV row or JSON object."""
    unknown = sorted(str(k) for k in set(row) - _KNOWN)  # None: extra CSV fields
    if unknown:
        raise BadInputError(f"{where}: unknown column(s) {', '.join(unknown)}")
    name = _text(row, "name")
    if not name:
        raise BadInputError(f"{where}: a node needs a name")
    policy = _text(row, "policy")
    try:
        return _spec(row, name, policy, where)
    except BadInputError as exc:
        if str(exc).startswith(where):
            raise
        raise BadInputError(f"{where}: {exc}") from None


def _spec(row: Mapping[str, Any], name: str, policy: str | None, where: str) -> NodeSpec:
    return NodeSpec(
        name=name,
        group=_text(row, "group"),
        policy=parse_policy(policy) if policy else None,
        amt_host=_text(row, "amt_host"),
        amt_port=_port(row.get("amt_port"), where),
        amt_tls=_flag(row.get("tls"), where),
        amt_username=_text(row, "username"),
        macs=_macs(row.get("macs")),
        agent_address=_text(row, "agent"),
    )


def parse_import(raw: bytes, *, source: str) -> list[NodeSpec]:
    """All rows of a CSV or JSON import file; duplicate names in the file are bad input."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(f"{source} is not UTF-8 text") from None
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{source} is not valid JSON (line {exc.lineno})") from None
        if not all(isinstance(r, dict) for r in rows):
            raise BadInputError(f"{source}: a JSON import is an array of objects")
        specs = [spec_from_row(r, f"{source} item {i + 1}") for i, r in enumerate(rows)]
    else:
        reader = csv.DictReader(io.StringIO(text))
        specs = [spec_from_row(r, f"{source} line {i + 2}") for i, r in enumerate(reader)]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise BadInputError(f"{source}: node {spec.name!r} appears twice")
        seen.add(spec.name)
    return specs
