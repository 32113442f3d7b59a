"""``mewarden events [--node N] [--since T]``: the append-only audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option
from mewarden.jsonutil import plain


def parse_since(text: str) -> datetime:
    """An ISO-8601 time in UTC (UTC when no zone is given); a bad value is bad input."""
    from mewarden.errors import BadInputError

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"--since {text!r} is not an ISO-8601 time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@click.command(name="events")
@click.option("--node", help="Only events of this node.")
@click.option("--since", help="Only events at or after this ISO-8601 time (UTC by default).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True)
@org_options
@json_option
def command(org: OrgAccess, node: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Show the audit trail, oldest first."""
    start = parse_since(since) if since else None
    events = org.store().events(node=node, since=start, limit=limit)

    def render(console: object) -> None:
        for event in events:
            detail = " ".join(f"{k}={v}" for k, v in sorted(event.detail.items()))
            click.echo(
                f"{event.at.isoformat(timespec='seconds')} {event.actor} {event.kind} "
                f"{event.node or '-'} {detail}".rstrip()
            )

    emit(plain(events), as_json=as_json, render=render)
