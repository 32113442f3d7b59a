"""Org state of the re-provision method per group or node (table ``reprovision_methods``).

Setting or clearing one writes an audit event (``heal.reprovision-method``) in the same
transaction. The resolution (node, then group, then PXE) is pure policy
(:func:`mewarden.policy.reprovision.resolve`); this module only reads and writes rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from mewarden.errors import StateError
from mewarden.policy.reprovision import Reprovision, ReprovisionMethod, Scope
from mewarden.state import schema as t
from mewarden.state.store import Store, _group_id
from mewarden.state.store_base import node_id

EVENT = "heal.reprovision-method"


def _check_target(conn: sa.Connection, scope: Scope, name: str) -> None:
    if scope is Scope.NODE:
        node_id(conn, name)  # NodeNotFoundError for an unknown node
    else:
        _group_id(conn, name)  # StateError for an unknown group


def set_method(store: Store, scope: Scope, name: str, setting: Reprovision) -> None:
    """Attach ``setting`` to the group or node ``name`` (replacing any earlier one)."""
    table = t.reprovision_methods
    where = sa.and_(table.c.scope == scope.value, table.c.name == name)
    detail = {
        "scope": scope.value,
        "method": setting.method.value,
        "image": setting.image,
        "image_sha256": setting.image_sha256,
    }
    with store._tx() as conn:
        _check_target(conn, scope, name)
        conn.execute(table.delete().where(where))
        conn.execute(
            table.insert().values(
                scope=scope.value,
                name=name,
                method=setting.method.value,
                image=setting.image,
                image_sha256=setting.image_sha256,
                updated_at=store.clock(),
            )
        )
        store._event(conn, EVENT, name if scope is Scope.NODE else None, detail | {"name": name})


def clear_method(store: Store, scope: Scope, name: str) -> bool:
    """Drop the group's or node's setting (it inherits again); False when there was none."""
    table = t.reprovision_methods
    where = sa.and_(table.c.scope == scope.value, table.c.name == name)
    with store._tx() as conn:
        _check_target(conn, scope, name)
        gone = conn.execute(table.delete().where(where)).rowcount
        if gone:
            detail = {"scope": scope.value, "name": name, "method": None}
            store._event(conn, EVENT, name if scope is Scope.NODE else None, detail)
    return bool(gone)


def load_methods(store: Store) -> dict[tuple[Scope, str], Reprovision]:
    """Every stored setting, by (scope, name); what :func:`~mewarden.policy.reprovision.
    resolve` reads."""
    table = t.reprovision_methods
    with store._tx() as conn:
        rows = conn.execute(sa.select(table)).all()
    found: dict[tuple[Scope, str], Reprovision] = {}
    for row in rows:
        try:
            scope = Scope(row.scope)
            found[(scope, row.name)] = Reprovision(
                method=ReprovisionMethod(row.method),
                image=row.image,
                image_sha256=row.image_sha256,
                source=scope.value,
            )
        except ValueError:
            raise StateError(f"unreadable re-provision setting for {row.name!r}") from None
    return found
