"""The transaction and audit plumbing every part of the store shares (see :mod:`.store`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from mewarden.crypto.vault import OrgKey
from mewarden.errors import NodeNotFoundError, StateError, VaultError
from mewarden.state import schema as t

Clock = Callable[[], datetime]
KEY_ID = "org_key_id"


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def database_error(exc: DBAPIError) -> StateError:
    """A driver error as one line (the first line of the driver's message, never the SQL)."""
    text = str(exc.orig).strip() if exc.orig is not None else ""
    first = text.splitlines()[0] if text else type(exc).__name__
    return StateError(f"org database error: {first}")


class StoreBase:
    """Org state on one engine, acting as ``actor`` (recorded in every event)."""

    def __init__(self, engine: Engine, *, actor: str = "cli", clock: Clock = utc_now) -> None:
        self.engine = engine
        self.actor = actor
        self.clock = clock

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise  # callers turn a constraint into DuplicateError with the name that clashed
        except DBAPIError as exc:
            raise database_error(exc) from None

    def _event(
        self, conn: sa.Connection, kind: str, node: str | None, detail: Mapping[str, Any]
    ) -> None:
        conn.execute(
            t.events.insert().values(
                at=self.clock(),
                node=node,
                actor=self.actor,
                kind=kind,
                detail=json.dumps(dict(detail), sort_keys=True),
            )
        )

    def check_key(self, org_key: OrgKey) -> None:
        """Raise VaultError unless ``org_key`` is the key this database is bound to."""
        with self._tx() as conn:
            stored = conn.execute(sa.select(t.org_settings.c.value).where(is_key_id())).scalar()
        if stored is None:
            raise StateError("the org database is not initialized; run 'mewarden org init'")
        if stored != org_key.key_id:
            raise VaultError(
                f"wrong org key: this database expects key {stored}, got {org_key.key_id}"
            )


def is_key_id() -> sa.ColumnElement[bool]:
    """The org-settings row holding the bound org key id."""
    return t.org_settings.c.key == KEY_ID


def node_id(conn: sa.Connection, name: str) -> int:
    """The row id of node ``name``; NodeNotFoundError otherwise."""
    found = conn.execute(sa.select(t.nodes.c.id).where(t.nodes.c.name == name)).scalar()
    if found is None:
        raise NodeNotFoundError(f"no node named {name!r}")
    return int(found)
