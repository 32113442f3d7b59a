"""``mewarden group add|list|set-policy|remove``: groups give their nodes a default policy."""

from __future__ import annotations

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option


@click.group(name="group")
def command() -> None:
    """Manage node groups."""


@command.command("add")
@click.argument("name")
@click.option("--policy", help="use, neutralize or ignore (default: inherit the org default).")
@org_options
def add(org: OrgAccess, name: str, policy: str | None) -> None:
    """Create a group."""
    from mewarden.state.models import parse_policy

    org.store().add_group(name, parse_policy(policy) if policy else None)
    click.echo(f"group {name} added")


@command.command("set-policy")
@click.argument("name")
@click.argument("policy")
@org_options
def set_policy(org: OrgAccess, name: str, policy: str) -> None:
    """Set a group's policy (use, neutralize, ignore, or inherit)."""
    from mewarden.state.models import parse_policy

    chosen = None if policy == "inherit" else parse_policy(policy)
    org.store().set_group_policy(name, chosen)
    click.echo(f"group {name}: policy {policy}")


@command.command("remove")
@click.argument("name")
@org_options
def remove(org: OrgAccess, name: str) -> None:
    """Delete an empty group."""
    org.store().remove_group(name)
    click.echo(f"group {name} removed")


@command.command("list")
@org_options
@json_option
def list_groups(org: OrgAccess, as_json: bool) -> None:
    """List groups with their policy and node count."""
    groups = org.store().list_groups()

    def render(console: object) -> None:
        for group in groups:
            click.echo(f"{group.name}\t{group.policy or 'inherit'}\t{group.nodes} node(s)")

    emit(groups, as_json=as_json, render=render)
