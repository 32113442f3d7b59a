"""Opening the org database and migrating it with Alembic (no alembic.ini needed).

URL resolution: an explicit ``--db`` URL, else ``$MEWARDEN_DB``, else SQLite at
``$XDG_STATE_HOME/mewarden/org.db`` (``~/.local/state/mewarden/org.db``). A bare path is taken
as a SQLite file; ``postgresql://`` URLs use psycopg 3.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from mewarden.errors import ConfigError, StateError
from mewarden.state.schema import metadata

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/mewarden`` (``~/.local/state/mewarden`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mewarden"


def resolve_url(explicit: str | None) -> str:
    """The SQLAlchemy URL to use, from ``--db``, ``$MEWARDEN_DB`` or the default file."""
    raw = explicit or os.environ.get("MEWARDEN_DB") or str(default_state_dir() / "org.db")
    if "://" not in raw:
        return f"sqlite:///{Path(raw).expanduser().resolve()}"
    if raw.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    return raw


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other engines and in-memory databases."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_engine(url: str, *, create_dir: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    path = sqlite_path(url)
    if path is not None:
        if create_dir:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        elif not path.exists():
            raise StateError(f"no org database at {path}; run 'mewarden org init' first")
    try:
        engine = sa.create_engine(url, future=True)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"unusable database URL: {type(exc).__name__}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Upgrade the schema to the newest revision; return (before, after) revisions."""
    try:
        with engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            command.upgrade(_alembic_config(connection), "head")
            after = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise StateError(f"cannot migrate the org database: {_reason(exc)}") from None
    return before, after or ""


def head_revision() -> str:
    """The newest revision shipped with this mewarden."""
    script = ScriptDirectory(str(_MIGRATIONS))
    return str(script.get_current_head())


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_drift(engine: Engine) -> list[Any]:
    """Differences between the migrated database and :data:`schema.metadata` (empty = none)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs: list[Any] = compare_metadata(context, metadata)
    return diffs


def _reason(exc: OperationalError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig is not None else "operational error"
