"""``mewarden user add|list|remove|passwd``: the people who may use ``mewarden serve``.

Passwords come from ``--password-file`` (first line), ``$MEWARDEN_USER_PASSWORD`` or a prompt,
never from an option value; only their Argon2id hash is stored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option
from mewarden.jsonutil import plain

PASSWORD_ENV = "MEWARDEN_USER_PASSWORD"  # noqa: S105 - the variable's name
_password_file = click.option(
    "--password-file", type=click.Path(dir_okay=False), help="File whose first line is it."
)


def _prompt() -> Callable[[], str] | None:
    if not sys.stdin.isatty():
        return None
    return lambda: str(
        click.prompt("password", hide_input=True, confirmation_prompt=True, default="")
    )


def _password_hash(password_file: str | None) -> str:
    from mewarden.amt.targets import read_secret
    from mewarden.serve.identity import hash_password

    secret = read_secret(
        env_name=PASSWORD_ENV, file=password_file, prompt=_prompt(), what="password"
    )
    return hash_password(secret.reveal())


@click.group(name="user")
def command() -> None:
    """Users of the web console and REST API, with roles viewer, operator, admin."""


@command.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin"]))
@_password_file
@org_options
@json_option
def add(org: OrgAccess, name: str, role: str, password_file: str | None, as_json: bool) -> None:
    """Add user NAME with ROLE."""
    from mewarden.serve.identity import check_user_name
    from mewarden.state import users

    check_user_name(name)
    users.add_user(org.store(), name, role, _password_hash(password_file))
    emit(
        {"user": name, "role": role},
        as_json=as_json,
        render=lambda _o: click.echo(f"user {name} ({role}) added"),
    )


@command.command("list")
@org_options
@json_option
def list_users(org: OrgAccess, as_json: bool) -> None:
    """Every user with role and lockout state (never a hash)."""
    from mewarden.state import users

    rows = [
        {"user": u.name, "role": u.role, "created_at": u.created_at, "locked_until": u.locked_until}
        for u in users.users(org.store())
    ]

    def render(out: Any) -> None:
        from rich.table import Table

        table = Table("user", "role", "created", "locked until")
        for r in plain(rows):
            table.add_row(r["user"], r["role"], r["created_at"], r["locked_until"] or "")
        out.print(table)

    emit(plain(rows), as_json=as_json, render=render)


@command.command("remove")
@click.argument("name")
@org_options
@json_option
def remove(org: OrgAccess, name: str, as_json: bool) -> None:
    """Remove user NAME and end their sessions."""
    from mewarden.state import users

    users.remove_user(org.store(), name)
    emit(
        {"user": name, "removed": True},
        as_json=as_json,
        render=lambda _o: click.echo(f"user {name} removed"),
    )


@command.command("passwd")
@click.argument("name")
@_password_file
@org_options
@json_option
def passwd(org: OrgAccess, name: str, password_file: str | None, as_json: bool) -> None:
    """Set NAME's password (unlocks the account, ends its sessions)."""
    from mewarden.state import users

    users.set_password(org.store(), name, _password_hash(password_file))
    emit(
        {"user": name, "changed": True},
        as_json=as_json,
        render=lambda _o: click.echo(f"user {name}: password changed"),
    )
