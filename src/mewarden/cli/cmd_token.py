"""``mewarden token create|list|revoke``: API tokens for automation.

The token is printed once (``Authorization: Bearer mwt_...``); org state keeps its id and the
SHA-256 of its secret.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option
from mewarden.jsonutil import plain

_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``90d``: a positive duration; bad input otherwise."""
    from mewarden.errors import BadInputError

    value, unit = text[:-1], text[-1:].lower()
    if unit not in _UNITS or not value.isdigit() or int(value) == 0:
        raise BadInputError(f"--expires {text!r} is not a duration like 30m, 12h or 90d")
    return timedelta(seconds=int(value) * _UNITS[unit])


@click.group(name="token")
def command() -> None:
    """API tokens (Bearer) with a role and an optional expiry."""


@command.command("create")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin"]))
@click.option("--expires", help="Lifetime such as 30m, 12h or 90d (default: no expiry).")
@click.option("--description", default="", help="What the token is for.")
@org_options
@json_option
def create(org: OrgAccess, role: str, expires: str | None, description: str, as_json: bool) -> None:
    """Mint a token and print it once."""
    from mewarden.serve.identity import mint_token
    from mewarden.state import users
    from mewarden.state.models import check_text

    if description:
        check_text(description, "description", 128)
    store = org.store()
    expires_at = store.clock() + parse_duration(expires) if expires else None
    new = mint_token()
    users.add_token(
        store,
        new.token_id,
        new.secret_sha256,
        role=role,
        description=description,
        expires_at=expires_at,
    )
    result = {"id": new.token_id, "role": role, "expires_at": expires_at, "token": new.text}

    def render(_out: Any) -> None:
        click.echo(new.text)
        click.echo(f"token {new.token_id} ({role}); shown once, store it now", err=True)

    emit(plain(result), as_json=as_json, render=render)


@command.command("list")
@org_options
@json_option
def list_tokens(org: OrgAccess, as_json: bool) -> None:
    """Every token (id, role, expiry, revocation, last use; never the secret)."""
    from mewarden.state import users

    rows = plain(
        [
            {
                "id": tk.token_id,
                "role": tk.role,
                "description": tk.description,
                "created_at": tk.created_at,
                "expires_at": tk.expires_at,
                "revoked_at": tk.revoked_at,
                "last_used_at": tk.last_used_at,
            }
            for tk in users.tokens(org.store())
        ]
    )

    def render(out: Any) -> None:
        from rich.table import Table

        table = Table("id", "role", "description", "expires", "revoked", "last used")
        for r in rows:
            table.add_row(
                r["id"],
                r["role"],
                r["description"],
                r["expires_at"] or "",
                r["revoked_at"] or "",
                r["last_used_at"] or "",
            )
        out.print(table)

    emit(rows, as_json=as_json, render=render)


@command.command("revoke")
@click.argument("token_id")
@org_options
@json_option
def revoke(org: OrgAccess, token_id: str, as_json: bool) -> None:
    """Revoke token TOKEN_ID (its id, as listed)."""
    from mewarden.state import users

    users.revoke_token(org.store(), token_id)
    emit(
        {"id": token_id, "revoked": True},
        as_json=as_json,
        render=lambda _o: click.echo(f"token {token_id} revoked"),
    )
