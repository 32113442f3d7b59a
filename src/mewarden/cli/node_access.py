"""An enrolled node's AMT endpoint from org state (address, stored pin, the vault's password),
and the audit events of the consoles opened on it (``node console``, ``node kvm``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mewarden.amt.client import Endpoint
    from mewarden.cli.cmd_org import OrgAccess
    from mewarden.state.store import Store


def node_endpoint(org: OrgAccess, name: str, *, timeout_s: float = 10.0) -> tuple[Store, Endpoint]:
    """The org store and node ``name``'s endpoint; typed errors when it is not usable."""
    from mewarden.amt.client import Endpoint
    from mewarden.crypto.vault import unseal
    from mewarden.errors import BadInputError
    from mewarden.state.models import Purpose

    store = org.store()
    node = store.node(name)
    if not node.amt_host:
        raise BadInputError(f"node {name!r} has no AMT address (set one with node add --amt-host)")
    user, sealed = store.credential(name, Purpose.AMT_ADMIN.value)
    password = unseal(org.key(store), sealed, node=name, purpose=Purpose.AMT_ADMIN.value)
    endpoint = Endpoint(
        host=node.amt_host,
        port=node.amt_port,
        tls=node.amt_tls,
        username=node.amt_username or user or "admin",
        password=password,
        pin_sha256=node.tls_pin,
        timeout_s=timeout_s,
    )
    return store, endpoint


def audit(store: Store, name: str, kind: str, detail: Mapping[str, Any]) -> None:
    """One audit event on the node (the store records who: its actor)."""
    from mewarden.state.heal_store import record_events

    record_events(store, name, [(kind, dict(detail))])


def keep_pin(store: Store, name: str, pin: str | None) -> None:
    """Store a certificate pin seen on first use (a node with a pin keeps it: it was checked)."""
    if pin and store.node(name).tls_pin is None:
        store.pin_tls(name, pin)


def capture_rows(
    store: Store, name: str, *, last: int, png_dir: str | None
) -> list[dict[str, Any]]:
    """The node's latest ``console-capture`` documents, oldest first; screenshots written
    (atomically) to ``png_dir`` when given."""
    import base64
    import json
    from pathlib import Path

    from mewarden.fsutil import atomic_write_bytes
    from mewarden.state.models import DocumentKind

    rows: list[dict[str, Any]] = []
    for doc in store.documents(name, DocumentKind.CONSOLE_CAPTURE)[-last:]:
        body = json.loads(doc.body)
        row = {
            "kind": body.get("kind"),
            "at": doc.created_at.isoformat(),
            "source": doc.source,
            "text": body.get("text"),
            "error": body.get("error"),
            "host_powered": body.get("host_powered"),
        }
        png = body.get("png_base64")
        if png and png_dir:
            path = Path(png_dir) / f"{name}-{doc.id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, base64.b64decode(png))
            row["png"] = str(path)
        rows.append(row)
    return rows
