"""``mewarden org init|migrate|rotate-key``, plus the options every org-state command shares.

Database: ``--db URL`` or ``$MEWARDEN_DB``, else ``$XDG_STATE_HOME/mewarden/org.db``. Org key:
``$MEWARDEN_ORG_KEY``, else ``--key-command``/``$MEWARDEN_KEY_COMMAND``, else ``--key-file``/
``$MEWARDEN_KEY_FILE``, else ``org.key`` in the state directory.
"""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.crypto.keys import KeySource
    from mewarden.crypto.vault import OrgKey
    from mewarden.state.store import Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgAccess:
    """Where org state and its key are (opened only when a command needs them)."""

    db: str | None
    key_file: str | None
    key_command: str | None

    @property
    def url(self) -> str:
        from mewarden.state.db import resolve_url

        return resolve_url(self.db)

    def key_source(self) -> KeySource:
        from mewarden.crypto.keys import ENV_COMMAND, ENV_FILE, KeySource
        from mewarden.state.db import default_state_dir

        command = self.key_command or os.environ.get(ENV_COMMAND) or None
        file = self.key_file or os.environ.get(ENV_FILE) or str(default_state_dir() / "org.key")
        return KeySource(command=command, file=Path(file))

    def store(self, *, create: bool = False) -> Store:
        from mewarden.state.db import open_engine
        from mewarden.state.store import Store

        engine = open_engine(self.url, create_dir=create)
        return Store(engine, actor=f"cli:{getpass.getuser()}")

    def key(self, store: Store) -> OrgKey:
        """The org key, checked against the database it must open."""
        from mewarden.crypto.keys import ENV_KEY, KeySource, load_key
        from mewarden.errors import VaultError

        source = self.key_source()
        key = load_key(source)
        try:
            store.check_key(key)
        except VaultError:
            # rotate-key committed but died before renaming org.key.new over org.key
            staged = source.file.with_name(source.file.name + ".new") if source.file else None
            if staged is None or source.command or os.environ.get(ENV_KEY) or not staged.exists():
                raise
            new = load_key(KeySource(file=staged))
            store.check_key(new)
            staged.replace(source.file)  # type: ignore[arg-type]
            return new
        return key


def org_options(func: F) -> F:
    """Add --db/--key-file/--key-command and pass ``org: OrgAccess``."""

    @click.option("--db", "db", metavar="URL", help="Org database (default: $MEWARDEN_DB).")
    @click.option("--key-file", type=click.Path(dir_okay=False), help="Org key file (0600).")
    @click.option(
        "--key-command", help="Command printing the org key (base64), run without a shell."
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any, db: str | None, key_file: str | None, key_command: str | None, **kwargs: Any
    ) -> Any:
        org = OrgAccess(db=db, key_file=key_file, key_command=key_command)
        return func(*args, org=org, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group(name="org")
def command() -> None:
    """Create, migrate and re-key the org database."""


@command.command("init")
@org_options
@json_option
def init(org: OrgAccess, as_json: bool) -> None:
    """Create the org database and its org key (a new 0600 key file unless one is configured)."""
    from mewarden.crypto.keys import ENV_KEY, load_key, write_key_file
    from mewarden.crypto.vault import OrgKey
    from mewarden.errors import DuplicateError
    from mewarden.state.db import migrate

    store = org.store(create=True)
    _, revision = migrate(store.engine)
    _restrict(org.url)
    source = org.key_source()
    external = bool(os.environ.get(ENV_KEY) or source.command)
    if _initialized(store):
        raise DuplicateError("this org database is already initialized")
    if external:
        key = load_key(source)
    else:
        assert source.file is not None
        key = OrgKey.generate()
        write_key_file(source.file, key)
    store.initialize(key)
    result = {
        "database": _safe_url(org.url),
        "revision": revision,
        "key_id": key.key_id,
        "key_source": source.describe(),
    }
    emit(
        result,
        as_json=as_json,
        render=lambda c: c.print(
            f"initialized {result['database']} (schema {revision}), org key {key.key_id} "
            f"from {source.describe()}"
        ),
    )


def _restrict(url: str) -> None:
    """The SQLite file holds only ciphertext, but still nobody else's business: mode 0600."""
    from mewarden.state.db import sqlite_path

    path = sqlite_path(url)
    if path is not None and path.exists():
        path.chmod(0o600)


def _initialized(store: Store) -> bool:
    import sqlalchemy as sa

    from mewarden.state import schema

    with store.engine.connect() as conn:
        found = conn.execute(sa.select(sa.func.count()).select_from(schema.org_settings))
        return bool(found.scalar())


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@command.command("migrate")
@org_options
@json_option
def migrate_cmd(org: OrgAccess, as_json: bool) -> None:
    """Upgrade the org database schema to this mewarden's version."""
    from mewarden.state.db import migrate

    store = org.store()
    before, after = migrate(store.engine)
    result = {"database": _safe_url(org.url), "from": before, "to": after}
    emit(
        result, as_json=as_json, render=lambda c: c.print(f"schema {before or 'empty'} -> {after}")
    )


@command.command("rotate-key")
@org_options
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the new key from this 0600 file (required when the key is not in a key file).",
)
@json_option
def rotate_key(org: OrgAccess, new_key_file: Path | None, as_json: bool) -> None:
    """Re-wrap every data key under a new org key, in one transaction."""
    from mewarden.crypto.keys import ENV_KEY, read_key_file, write_key_file
    from mewarden.crypto.vault import OrgKey
    from mewarden.errors import BadInputError, ConfigError

    store = org.store()
    old = org.key(store)
    source = org.key_source()
    external = bool(os.environ.get(ENV_KEY) or source.command)
    if new_key_file is not None:
        new = read_key_file(new_key_file)  # the file itself, never $MEWARDEN_ORG_KEY again
        if new.key_id == old.key_id:
            raise BadInputError(f"{new_key_file} holds the current org key; nothing to rotate")
    elif external:
        raise ConfigError("the org key is not in a key file; give the new key with --new-key-file")
    else:
        new = OrgKey.generate()
    if external:  # whoever keeps the key outside mewarden switches to the new one
        count = store.rotate_key(old, new)
    else:  # the key file follows the database (org.key.new is the valid key if we die here)
        assert source.file is not None
        staged = source.file.with_name(source.file.name + ".new")
        write_key_file(staged, new, overwrite=True)
        count = store.rotate_key(old, new)
        staged.replace(source.file)
    result = {"from": old.key_id, "to": new.key_id, "credentials": count}
    emit(
        result,
        as_json=as_json,
        render=lambda c: c.print(
            f"org key {old.key_id} -> {new.key_id}: {count} credential(s) re-wrapped"
        ),
    )
