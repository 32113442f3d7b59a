"""Users, API tokens and browser sessions of ``mewarden serve`` (the SQL; hashing is the
caller's, see :mod:`mewarden.serve.identity`). Every change is an audit event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mewarden.errors import DuplicateError, StateError
from mewarden.state import schema as t
from mewarden.state.models import as_utc
from mewarden.state.store import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    role: str
    created_at: datetime
    failed_logins: int
    locked_until: datetime | None
    password_hash: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    token_id: str
    role: str
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    secret_sha256: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSession:
    user: str
    role: str
    csrf: str
    expires_at: datetime


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _user(m: sa.RowMapping) -> User:
    return User(
        name=m["name"],
        role=m["role"],
        created_at=as_utc(m["created_at"]),
        failed_logins=int(m["failed_logins"]),
        locked_until=_opt(m["locked_until"]),
        password_hash=m["password_hash"],
    )


def add_user(store: Store, name: str, role: str, password_hash: str) -> None:
    try:
        with store._tx() as conn:
            conn.execute(
                t.users.insert().values(
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    failed_logins=0,
                    created_at=store.clock(),
                )
            )
            store._event(conn, "user.add", None, {"user": name, "role": role})
    except IntegrityError:
        raise DuplicateError(f"user {name!r} already exists") from None


def user(store: Store, name: str) -> User | None:
    with store._tx() as conn:
        row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).mappings().first()
    return _user(row) if row is not None else None


def users(store: Store) -> list[User]:
    with store._tx() as conn:
        rows = conn.execute(sa.select(t.users).order_by(t.users.c.name)).mappings().all()
    return [_user(r) for r in rows]


def _user_id(conn: sa.Connection, name: str) -> int:
    found = conn.execute(sa.select(t.users.c.id).where(t.users.c.name == name)).scalar()
    if found is None:
        raise StateError(f"no user named {name!r}")
    return int(found)


def remove_user(store: Store, name: str) -> None:
    """Delete a user and end every session of theirs."""
    with store._tx() as conn:
        user_id = _user_id(conn, name)
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.user_id == user_id))
        conn.execute(t.users.delete().where(t.users.c.id == user_id))
        store._event(conn, "user.remove", None, {"user": name})


def set_password(store: Store, name: str, password_hash: str) -> None:
    """New password: unlock the account and end its sessions (a stolen cookie dies too)."""
    with store._tx() as conn:
        user_id = _user_id(conn, name)
        conn.execute(
            t.users.update()
            .where(t.users.c.id == user_id)
            .values(password_hash=password_hash, failed_logins=0, locked_until=None)
        )
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.user_id == user_id))
        store._event(conn, "user.passwd", None, {"user": name})


def login_failed(store: Store, name: str, *, limit: int, lockout: timedelta) -> bool:
    """Count a failed login; lock the account at ``limit`` failures. True when now locked."""
    with store._tx() as conn:
        row = conn.execute(
            sa.select(t.users.c.id, t.users.c.failed_logins).where(t.users.c.name == name)
        ).first()
        locked = False
        if row is not None:
            failures = int(row[1]) + 1
            locked = failures >= limit
            values: dict[str, object] = {"failed_logins": 0 if locked else failures}
            if locked:
                values["locked_until"] = store.clock() + lockout
            conn.execute(t.users.update().where(t.users.c.id == row[0]).values(**values))
        store._event(conn, "login.failed", None, {"user": name, "locked": locked})
    return locked


def login_succeeded(
    store: Store, name: str, session_sha256: str, csrf: str, ttl: timedelta
) -> None:
    now = store.clock()
    with store._tx() as conn:
        user_id = _user_id(conn, name)
        conn.execute(
            t.users.update()
            .where(t.users.c.id == user_id)
            .values(failed_logins=0, locked_until=None)
        )
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.expires_at < now))
        conn.execute(
            t.web_sessions.insert().values(
                id_sha256=session_sha256,
                user_id=user_id,
                csrf=csrf,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        store._event(conn, "login", None, {"user": name})


def session(store: Store, session_sha256: str) -> WebSession | None:
    """The live session with that cookie hash (None when unknown or expired)."""
    query = (
        sa.select(
            t.users.c.name, t.users.c.role, t.web_sessions.c.csrf, t.web_sessions.c.expires_at
        )
        .join(t.users, t.users.c.id == t.web_sessions.c.user_id)
        .where(t.web_sessions.c.id_sha256 == session_sha256)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or as_utc(row[3]) <= store.clock():
        return None
    return WebSession(user=row[0], role=row[1], csrf=row[2], expires_at=as_utc(row[3]))


def end_session(store: Store, session_sha256: str, name: str) -> None:
    with store._tx() as conn:
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.id_sha256 == session_sha256))
        store._event(conn, "logout", None, {"user": name})


# --- API tokens --------------------------------------------------------------------------------


def _token(m: sa.RowMapping) -> ApiToken:
    return ApiToken(
        token_id=m["token_id"],
        role=m["role"],
        description=m["description"],
        created_at=as_utc(m["created_at"]),
        expires_at=_opt(m["expires_at"]),
        revoked_at=_opt(m["revoked_at"]),
        last_used_at=_opt(m["last_used_at"]),
        secret_sha256=m["secret_sha256"],
    )


def add_token(
    store: Store,
    token_id: str,
    secret_sha256: str,
    *,
    role: str,
    description: str,
    expires_at: datetime | None,
) -> None:
    with store._tx() as conn:
        conn.execute(
            t.api_tokens.insert().values(
                token_id=token_id,
                secret_sha256=secret_sha256,
                role=role,
                description=description,
                created_at=store.clock(),
                expires_at=expires_at,
            )
        )
        detail = {"token": token_id, "role": role, "expires_at": str(expires_at or "")}
        store._event(conn, "token.create", None, detail)


def tokens(store: Store) -> list[ApiToken]:
    with store._tx() as conn:
        rows = conn.execute(sa.select(t.api_tokens).order_by(t.api_tokens.c.id)).mappings().all()
    return [_token(r) for r in rows]


def token(store: Store, token_id: str) -> ApiToken | None:
    query = sa.select(t.api_tokens).where(t.api_tokens.c.token_id == token_id)
    with store.engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return _token(row) if row is not None else None


def revoke_token(store: Store, token_id: str) -> None:
    with store._tx() as conn:
        done = conn.execute(
            t.api_tokens.update()
            .where(t.api_tokens.c.token_id == token_id, t.api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=store.clock())
        )
        if done.rowcount != 1:
            raise StateError(f"no live token {token_id!r}")
        store._event(conn, "token.revoke", None, {"token": token_id})


def token_used(store: Store, token_id: str) -> None:
    with store._tx() as conn:
        conn.execute(
            t.api_tokens.update()
            .where(t.api_tokens.c.token_id == token_id)
            .values(last_used_at=store.clock())
        )
