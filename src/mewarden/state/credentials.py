"""Sealed credentials and org-key rotation (part of the store API, see :mod:`.store`).

Only ciphertext is stored: :mod:`mewarden.crypto.vault` seals and unseals; this module keeps
the sealed blobs, and re-wraps every data key in one transaction when the org key changes.
"""

from __future__ import annotations

import sqlalchemy as sa

from mewarden.crypto.vault import OrgKey, SealedSecret, rewrap
from mewarden.errors import StateError
from mewarden.state import schema as t
from mewarden.state.store_base import StoreBase, is_key_id, node_id


class CredentialStore(StoreBase):
    """The credential half of :class:`~mewarden.state.store.Store`."""

    def put_credential(self, name: str, purpose: str, username: str, sealed: SealedSecret) -> None:
        """Store (or replace) a node's sealed credential for ``purpose``."""
        with self._tx() as conn:
            owner = node_id(conn, name)
            table = t.credentials
            conn.execute(table.delete().where(table.c.node_id == owner, table.c.purpose == purpose))
            conn.execute(
                table.insert().values(
                    node_id=owner,
                    purpose=purpose,
                    username=username,
                    key_id=sealed.key_id,
                    wrapped_key=sealed.wrapped_key,
                    ciphertext=sealed.ciphertext,
                    updated_at=self.clock(),
                )
            )
            self._event(conn, "credential.store", name, {"purpose": purpose, "user": username})

    def delete_credential(self, name: str, purpose: str) -> None:
        """Forget a node's credential for ``purpose`` (no-op, and no event, when absent)."""
        with self._tx() as conn:
            owner = node_id(conn, name)
            table = t.credentials
            done = conn.execute(
                table.delete().where(table.c.node_id == owner, table.c.purpose == purpose)
            )
            if done.rowcount:
                self._event(conn, "credential.delete", name, {"purpose": purpose})

    def credential(self, name: str, purpose: str) -> tuple[str, SealedSecret]:
        """(username, sealed secret) of a node's credential; StateError when absent."""
        table = t.credentials
        query = (
            sa.select(table.c.username, table.c.key_id, table.c.wrapped_key, table.c.ciphertext)
            .join(t.nodes, t.nodes.c.id == table.c.node_id)
            .where(t.nodes.c.name == name, table.c.purpose == purpose)
        )
        with self._tx() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise StateError(f"node {name!r} has no {purpose} credential")
        sealed = SealedSecret(key_id=row[1], wrapped_key=bytes(row[2]), ciphertext=bytes(row[3]))
        return row[0], sealed

    def credential_purposes(self, name: str) -> tuple[str, ...]:
        """The purposes of the credentials node ``name`` holds, sorted (no secrets)."""
        table = t.credentials
        query = (
            sa.select(table.c.purpose)
            .join(t.nodes, t.nodes.c.id == table.c.node_id)
            .where(t.nodes.c.name == name)
            .order_by(table.c.purpose)
        )
        with self._tx() as conn:
            return tuple(conn.execute(query).scalars())

    def credential_count(self) -> int:
        """How many credentials are stored."""
        with self._tx() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(t.credentials)).scalar_one()
            )

    def rotate_key(self, old: OrgKey, new: OrgKey) -> int:
        """Re-wrap every data key from ``old`` to ``new`` in one transaction; returns the count."""
        self.check_key(old)
        table = t.credentials
        with self._tx() as conn:
            rows = conn.execute(sa.select(table.c.id, table.c.key_id, table.c.wrapped_key)).all()
            for row_id, key_id, wrapped in rows:
                sealed = SealedSecret(key_id=key_id, wrapped_key=bytes(wrapped), ciphertext=b"")
                fresh = rewrap(sealed, old=old, new=new)
                conn.execute(
                    table.update()
                    .where(table.c.id == row_id)
                    .values(key_id=fresh.key_id, wrapped_key=fresh.wrapped_key)
                )
            conn.execute(t.org_settings.update().where(is_key_id()).values(value=new.key_id))
            self._event(
                conn,
                "org.rotate-key",
                None,
                {"from": old.key_id, "to": new.key_id, "credentials": len(rows)},
            )
        return len(rows)
