"""``mewarden netblock``: render, apply and diff the ME/AMT blocking ruleset."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.netblock.inventory import NetblockInventory

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True, kw_only=True)
class InventorySource:
    """Where the inventory comes from: a JSON file, or org state (the default)."""

    path: Path | None
    db: str | None
    controllers: tuple[str, ...]
    mps_ports: tuple[int, ...]

    @property
    def from_state(self) -> bool:
        return self.path is None

    def load(self) -> NetblockInventory:
        """Read and validate the inventory (one-line errors, exit 2 or 10)."""
        from mewarden.errors import BadInputError
        from mewarden.fsutil import read_input_file
        from mewarden.netblock.inventory import DEFAULT_MPS_PORTS, inventory_from_json

        if self.path is not None:
            if self.controllers or self.mps_ports:
                raise BadInputError(
                    "--controller and --mps-port go with org state; "
                    "put controllers and mps_ports in the inventory file instead"
                )
            data = read_input_file(self.path, what="inventory")
            return inventory_from_json(data, source=str(self.path))
        from mewarden.cli.cmd_org import OrgAccess
        from mewarden.netblock.from_state import inventory_from_state

        nodes = OrgAccess(db=self.db, key_file=None, key_command=None).store().nodes()
        return inventory_from_state(nodes, self.controllers, self.mps_ports or DEFAULT_MPS_PORTS)


def source_options(func: F) -> F:
    """Add --inventory/--db/--controller/--mps-port and pass ``source: InventorySource``."""

    @click.option(
        "--inventory",
        "inventory_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="JSON inventory (nodes, controllers, mps_ports) instead of org state.",
    )
    @click.option("--db", metavar="URL", help="Org database (default: $MEWARDEN_DB).")
    @click.option(
        "--controller",
        "controllers",
        multiple=True,
        metavar="ADDR",
        help="Controller address or CIDR (with org state; repeatable).",
    )
    @click.option(
        "--mps-port",
        "mps_ports",
        multiple=True,
        type=click.IntRange(1, 65535),
        help="CIRA/MPS port (with org state; repeatable; default 4433).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        inventory_path: Path | None,
        db: str | None,
        controllers: tuple[str, ...],
        mps_ports: tuple[int, ...],
        **kwargs: Any,
    ) -> Any:
        source = InventorySource(
            path=inventory_path, db=db, controllers=controllers, mps_ports=mps_ports
        )
        return func(*args, source=source, **kwargs)

    return wrapper  # type: ignore[return-value]


table_option = click.option(
    "--table", default="mewarden", show_default=True, help="Name of the nft tables."
)
bridge_option = click.option(
    "--bridge-port",
    "--bridge",
    "bridge",
    metavar="PORT",
    help="Limit the MAC-aimed bridge table to frames entering on bridge port PORT "
    "(a member of the bridge such as eth1, not the bridge br0 itself).",
)


def _nft_ruleset(source: InventorySource, table: str, bridge: str | None) -> bytes:
    """The ruleset for this machine: a bridge port must be one here (not the bridge)."""
    from mewarden.netblock.apply import check_bridge_port
    from mewarden.netblock.render import RulesetFormat, render

    if bridge is not None:
        check_bridge_port(bridge)
    inventory = source.load()
    return render(inventory, RulesetFormat.NFTABLES, table=table, bridge=bridge)


@click.group()
def command() -> None:
    """Block ME/AMT traffic on the org's routers and bridges."""


@command.command("render")
@source_options
@click.option(
    "--format",
    "fmt",
    default="nftables",
    show_default=True,
    help="nftables, iptables, ip6tables or json.",
)
@table_option
@bridge_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@click.option("--check", is_flag=True, help="Validate with nft -c / iptables-restore --test.")
def render_command(
    *,
    source: InventorySource,
    fmt: str,
    table: str,
    bridge: str | None,
    output: Path | None,
    check: bool,
) -> None:
    """Render the ruleset for the inventory (same inventory, same bytes)."""
    from mewarden.errors import BadInputError
    from mewarden.fsutil import atomic_write_bytes
    from mewarden.netblock.apply import check_iptables, check_ruleset
    from mewarden.netblock.render import RulesetFormat, render

    chosen = RulesetFormat.parse(fmt)
    if check and chosen is RulesetFormat.JSON:
        raise BadInputError("--check validates nftables and iptables rulesets, not json")
    inventory = source.load()
    ruleset = render(inventory, chosen, table=table, bridge=bridge)
    if check and chosen is RulesetFormat.NFTABLES:
        check_ruleset(ruleset)
    elif check and chosen in (RulesetFormat.IPTABLES, RulesetFormat.IP6TABLES):
        check_iptables(ruleset, version=4 if chosen is RulesetFormat.IPTABLES else 6)
    if output is not None:
        atomic_write_bytes(output, ruleset)
        if check:
            click.echo(f"mewarden: {output}: ruleset valid", err=True)
    else:
        sys.stdout.buffer.write(ruleset)
        sys.stdout.buffer.flush()


@command.command("apply")
@source_options
@table_option
@bridge_option
@json_option
def apply_command(source: InventorySource, table: str, bridge: str | None, as_json: bool) -> None:
    """Load the nftables ruleset on this machine, replacing the tables atomically."""
    from mewarden.netblock.apply import apply_ruleset

    ruleset = _nft_ruleset(source, table, bridge)
    apply_ruleset(ruleset)
    report = {"applied": True, "table": table, "bytes": len(ruleset)}
    emit(report, as_json=as_json, render=lambda c: c.print(f"loaded tables named {table}"))


@command.command("diff")
@source_options
@table_option
@bridge_option
@json_option
def diff_command(source: InventorySource, table: str, bridge: str | None, as_json: bool) -> None:
    """Show how the live tables differ from the rendered ruleset (nothing when equal)."""
    from mewarden.netblock.apply import diff_ruleset

    text = diff_ruleset(_nft_ruleset(source, table, bridge), table)
    report = {"table": table, "changed": bool(text), "diff": text}
    emit(report, as_json=as_json, render=lambda c: _print_diff(c, text, table))


def _print_diff(console: Console, text: str, table: str) -> None:
    if not text:
        console.print(f"live tables named {table} match the rendered ruleset")
        return
    click.echo(text, nl=False)
