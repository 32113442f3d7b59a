"""Where the CLI's devices and secrets come from: fleet files, password sources, selectors.

Secrets come from an environment variable, a file, or an interactive prompt, never from argv
(argv is visible to every user on the host through ``/proc``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mewarden.errors import BadInputError
from mewarden.fsutil import read_input_file
from mewarden.secret import Secret

PASSWORD_ENV = "MEWARDEN_AMT_PASSWORD"  # noqa: S105 - a variable name, not a secret
NEW_PASSWORD_ENV = "MEWARDEN_AMT_NEW_PASSWORD"  # noqa: S105 - a variable name, not a secret
MAX_FLEET_HOSTS = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSpec:
    """One line of a fleet file: a host, an optional port and an optional TLS pin."""

    host: str
    port: int | None = None
    pin: str | None = None


def _parse_port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadInputError(f"{where}: port {text!r} is not a number between 1 and 65535")
    return int(text)


_HOST = re.compile(r"^[A-Za-z0-9._%:-]+$")


def parse_host(text: str, *, where: str = "host") -> HostSpec:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    text = text.strip()
    port: int | None = None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise BadInputError(f"{where}: {text!r} is not a host name or address")
        port = _parse_port(rest[1:], where) if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _parse_port(port_text, where)
    else:
        host = text
    if not _HOST.match(host):
        raise BadInputError(f"{where}: {text!r} is not a host name or address")
    return HostSpec(host=host, port=port)


def _check_pin(text: str, where: str) -> str:
    cleaned = text.replace(":", "").lower()
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise BadInputError(f"{where}: {text!r} is not a SHA-256 fingerprint (64 hex digits)")
    return cleaned


def parse_fleet_file(data: bytes, *, name: str = "fleet file") -> tuple[HostSpec, ...]:
    """``host[:port] [sha256-pin]`` per line; blank lines and ``#`` comments are ignored;
    duplicates are refused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{name} is not UTF-8 text") from None
    hosts: list[HostSpec] = []
    seen: set[tuple[str, int | None]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{name} line {number}"
        if len(fields) > 2:
            raise BadInputError(f"{where}: expected 'host[:port] [sha256-pin]'")
        content = fields[0]
        spec = parse_host(content, where=where)
        if len(fields) == 2:
            spec = HostSpec(host=spec.host, port=spec.port, pin=_check_pin(fields[1], where))
        if (spec.host, spec.port) in seen:
            raise BadInputError(f"{name} line {number}: {content} is listed twice")
        seen.add((spec.host, spec.port))
        hosts.append(spec)
        if len(hosts) > MAX_FLEET_HOSTS:
            raise BadInputError(f"{name} lists more than {MAX_FLEET_HOSTS} hosts")
    if not hosts:
        raise BadInputError(f"{name} lists no hosts")
    return tuple(hosts)


def load_fleet(path: str) -> tuple[HostSpec, ...]:
    """Read and parse a fleet file."""
    return parse_fleet_file(read_input_file(path, what="fleet file"), name=f"fleet file {path}")


def read_secret(
    *,
    env_name: str,
    file: str | None,
    prompt: Callable[[], str] | None,
    what: str,
) -> Secret:
    """The secret from ``file`` (first line), else ``env_name``, else ``prompt``."""
    if file:
        lines = read_input_file(file, what=f"{what} file").decode("utf-8", "replace").splitlines()
        value = lines[0] if lines else ""
        if not value:
            raise BadInputError(f"{what} file {file} is empty")
        return Secret(value)
    value = os.environ.get(env_name, "")
    if value:
        return Secret(value)
    if prompt is None:
        raise BadInputError(
            f"no {what}: set {env_name}, pass a --{what.replace(' ', '-')}-file, "
            "or run interactively to be prompted"
        )
    entered = prompt()
    if not entered:
        raise BadInputError(f"no {what} entered")
    return Secret(entered)


def parse_selectors(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``K=V`` options into selector pairs."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInputError(f"selector {item!r} is not of the form Name=Value")
        pairs.append((key, value))
    return tuple(pairs)


def check_class_name(name: str) -> str:
    """A CIM_/AMT_/IPS_ class name (letters, digits, underscore)."""
    prefix, _, rest = name.partition("_")
    if prefix not in ("CIM", "AMT", "IPS") or not rest.replace("_", "").isalnum():
        raise BadInputError(f"{name!r} is not a WS-MAN class name (CIM_..., AMT_... or IPS_...)")
    return name
