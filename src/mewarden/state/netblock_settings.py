"""Org-wide netblock settings: the controllers' addresses and the CIRA/MPS ports.

Both are rows of ``org_settings`` (JSON lists, no schema of their own). Every change is one
transaction that locks the row before reading it, writes it and appends its audit event, so
concurrent CLIs never lose each other's change and the audit trail never disagrees with the
state. Values are validated here, so whatever a renderer reads back is well formed: controllers
are IP networks that do not overlap each other, ports are 1-65535.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from mewarden.errors import BadInputError, StateError
from mewarden.state import schema as t
from mewarden.state.store import Store

CONTROLLERS_KEY = "netblock_controllers"
MPS_PORTS_KEY = "netblock_mps_ports"
_ATTEMPTS = 5  # two first writers may both insert the missing row: the loser retries

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, kw_only=True)
class NetblockSettings:
    """What org state says; ``mps_ports`` is None while never set (renderers use 4433)."""

    controllers: tuple[str, ...] = ()
    mps_ports: tuple[int, ...] | None = None


def parse_controller(text: str) -> IpNetwork:
    """An address or CIDR (host bits set is an error), as a one-line error."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise BadInputError(f"controller {text!r}: {exc}") from None


def parse_ports(texts: Iterable[str]) -> tuple[int, ...]:
    """Ports from ``4433 8443`` or ``4433,8443``; at least one, each 1-65535."""
    ports: set[int] = set()
    for text in texts:
        for part in text.split(","):
            if not part.strip().isdigit() or not 1 <= int(part) <= 65535:
                raise BadInputError(f"MPS port {part.strip()!r} is not a number 1-65535")
            ports.add(int(part))
    if not ports:
        raise BadInputError("give at least one MPS port")
    return tuple(sorted(ports))


def _ordered(nets: Iterable[IpNetwork]) -> list[IpNetwork]:
    return sorted(set(nets), key=lambda n: (n.version, n.network_address, n.prefixlen))


def _check_overlaps(nets: list[IpNetwork]) -> None:
    for i, net in enumerate(nets):
        for other in nets[i + 1 :]:
            if net.version == other.version and net.overlaps(other):
                raise BadInputError(f"controller addresses {net} and {other} overlap")


def _decode(key: str, value: str | None) -> list[Any] | None:
    if value is None:
        return None
    decoded = json.loads(value)
    if not isinstance(decoded, list):
        raise StateError(f"org setting {key} is not a JSON list")
    return decoded


def load(store: Store) -> NetblockSettings:
    """The stored settings (defaults when never set)."""
    table = t.org_settings
    query = sa.select(table.c.key, table.c.value).where(
        table.c.key.in_([CONTROLLERS_KEY, MPS_PORTS_KEY])
    )
    try:
        with store.engine.begin() as conn:
            rows = {str(k): str(v) for k, v in conn.execute(query)}
    except OperationalError as exc:
        raise _fail(exc) from None
    controllers = _decode(CONTROLLERS_KEY, rows.get(CONTROLLERS_KEY)) or []
    ports = _decode(MPS_PORTS_KEY, rows.get(MPS_PORTS_KEY))
    return NetblockSettings(
        controllers=tuple(str(c) for c in controllers),
        mps_ports=None if ports is None else tuple(int(p) for p in ports),
    )


def _fail(exc: OperationalError) -> StateError:
    first = str(exc.orig).splitlines()[0] if exc.orig is not None else "error"
    return StateError(f"org database error: {first}")


class _Collision(Exception):
    """The row appeared under a concurrent writer; the transaction is retried."""


Change = Callable[[list[Any] | None], tuple[list[Any], dict[str, Any]]]


def _update(store: Store, key: str, kind: str, change: Change) -> list[Any]:
    """Read-modify-write one setting and record ``kind`` in one transaction (retried)."""
    table = t.org_settings
    for attempt in range(_ATTEMPTS):
        try:
            with store.engine.begin() as conn:
                # Write first: the no-op update takes the row lock (PostgreSQL) or the database
                # write lock (SQLite, whose driver would otherwise run the read outside the
                # transaction), so the read below cannot go stale before the write.
                noop = table.update().where(table.c.key == key).values(value=table.c.value)
                locked = conn.execute(noop).rowcount == 1
                stored = conn.execute(sa.select(table.c.value).where(table.c.key == key)).scalar()
                if stored is not None and not locked:
                    # another writer inserted the row after our no-op update: we hold no lock
                    # on it, so a write now could overwrite a third writer's change. Start over.
                    raise _Collision
                old = _decode(key, stored)
                new, detail = change(old)
                value = json.dumps(new)
                if old is None:
                    conn.execute(table.insert().values(key=key, value=value))
                else:
                    conn.execute(table.update().where(table.c.key == key).values(value=value))
                store._event(conn, kind, None, detail)  # the store's one event writer
                return new
        except (IntegrityError, _Collision):
            if attempt == _ATTEMPTS - 1:
                raise StateError(f"org setting {key}: concurrent writers kept colliding") from None
        except OperationalError as exc:
            raise _fail(exc) from None
    raise AssertionError("unreachable")  # pragma: no cover


def add_controllers(store: Store, texts: Iterable[str]) -> tuple[str, ...]:
    """Add controller addresses/CIDRs (idempotent); the full list afterwards."""
    wanted = [parse_controller(x) for x in texts]

    def change(old: list[Any] | None) -> tuple[list[Any], dict[str, Any]]:
        nets = _ordered([*(ipaddress.ip_network(c) for c in old or []), *wanted])
        _check_overlaps(nets)
        return [str(n) for n in nets], {"added": sorted({str(n) for n in wanted})}

    return tuple(_update(store, CONTROLLERS_KEY, "netblock.controllers.added", change))


def remove_controllers(store: Store, texts: Iterable[str]) -> tuple[str, ...]:
    """Remove controllers; one not stored is a one-line error. The full list afterwards."""
    unwanted = {parse_controller(x) for x in texts}

    def change(old: list[Any] | None) -> tuple[list[Any], dict[str, Any]]:
        stored = {ipaddress.ip_network(c) for c in old or []}
        absent = unwanted - stored
        if absent:
            names = ", ".join(str(n) for n in _ordered(absent))
            raise BadInputError(f"not a stored controller: {names}")
        left = _ordered(stored - unwanted)
        return [str(n) for n in left], {"removed": sorted(str(n) for n in unwanted)}

    return tuple(_update(store, CONTROLLERS_KEY, "netblock.controllers.removed", change))


def set_mps_ports(store: Store, ports: Iterable[int]) -> tuple[int, ...]:
    """Replace the MPS port list (validated again: callers may skip :func:`parse_ports`)."""
    chosen = parse_ports(str(p) for p in ports)

    def change(old: list[Any] | None) -> tuple[list[Any], dict[str, Any]]:
        return list(chosen), {"old": old, "new": list(chosen)}

    return tuple(_update(store, MPS_PORTS_KEY, "netblock.mps_ports.set", change))
