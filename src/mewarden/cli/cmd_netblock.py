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
    from mewarden.state.store import Store

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
        from mewarden.netblock.inventory import inventory_from_json

        if self.path is not None:
            if self.controllers or self.mps_ports:
                raise BadInputError(
                    "--controller and --mps-port go with org state; "
                    "put controllers and mps_ports in the inventory file instead"
                )
            data = read_input_file(self.path, what="inventory")
            return inventory_from_json(data, source=str(self.path))
        return self._from_state()

    def _from_state(self) -> NetblockInventory:
        """Org state's nodes and netblock settings; --controller adds, --mps-port replaces."""
        from mewarden.cli.cmd_org import OrgAccess
        from mewarden.netblock.from_state import inventory_from_state
        from mewarden.netblock.inventory import DEFAULT_MPS_PORTS
        from mewarden.state import netblock_settings

        store = OrgAccess(db=self.db, key_file=None, key_command=None).store()
        settings = netblock_settings.load(store)
        controllers = sorted({*settings.controllers, *self.controllers})
        ports = self.mps_ports or settings.mps_ports or DEFAULT_MPS_PORTS
        return inventory_from_state(store.nodes(), controllers, ports)


def require_controllers(inventory: NetblockInventory, *, none_on_purpose: bool) -> None:
    """Use nodes without any controller would lose AMT to everybody: say so, unless asked."""
    from mewarden.errors import BadInputError
    from mewarden.netblock.inventory import NodePolicy

    use = [n.name for n in inventory.with_policy(NodePolicy.USE)]
    if not use or inventory.controllers or none_on_purpose:
        return
    names = ", ".join(use[:3]) + (", ..." if len(use) > 3 else "")
    raise BadInputError(
        f"{len(use)} use node(s) ({names}) but no controllers: AMT to them would be dropped "
        "for everybody; add one (netblock controllers add ADDR, --controller or the "
        "inventory's controllers) or pass --no-controllers if that is intended"
    )


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
        help="Controller address or CIDR, added to the stored ones (org state; repeatable).",
    )
    @click.option(
        "--mps-port",
        "mps_ports",
        multiple=True,
        type=click.IntRange(1, 65535),
        help="CIRA/MPS port, replacing the stored ones (org state; repeatable; default 4433).",
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
no_controllers_option = click.option(
    "--no-controllers",
    "no_controllers",
    is_flag=True,
    help="Allow use nodes with no controller at all (AMT to them dropped for everybody).",
)
bridge_option = click.option(
    "--bridge-port",
    "--bridge",
    "bridge",
    metavar="PORT",
    help="Limit the MAC-aimed bridge table to frames entering on bridge port PORT "
    "(a member of the bridge such as eth1, not the bridge br0 itself).",
)


def _nft_ruleset(
    source: InventorySource, table: str, bridge: str | None, no_controllers: bool
) -> bytes:
    """The ruleset for this machine: a bridge port must be one here (not the bridge)."""
    from mewarden.netblock.apply import check_bridge_port
    from mewarden.netblock.render import RulesetFormat, render

    if bridge is not None:
        check_bridge_port(bridge)
    inventory = source.load()
    require_controllers(inventory, none_on_purpose=no_controllers)
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
@no_controllers_option
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
    no_controllers: bool,
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
    require_controllers(inventory, none_on_purpose=no_controllers)
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
@no_controllers_option
@json_option
def apply_command(
    source: InventorySource, table: str, bridge: str | None, no_controllers: bool, as_json: bool
) -> None:
    """Load the nftables ruleset on this machine, replacing the tables atomically."""
    from mewarden.netblock.apply import apply_ruleset

    ruleset = _nft_ruleset(source, table, bridge, no_controllers)
    apply_ruleset(ruleset)
    recorded = _record_state(source, ruleset, table, event="applied") if source.from_state else 0
    report = {"applied": True, "table": table, "bytes": len(ruleset), "recorded": recorded}
    emit(report, as_json=as_json, render=lambda c: c.print(f"loaded tables named {table}"))


@command.command("diff")
@source_options
@table_option
@bridge_option
@no_controllers_option
@json_option
def diff_command(
    source: InventorySource, table: str, bridge: str | None, no_controllers: bool, as_json: bool
) -> None:
    """Show how the live tables differ from the rendered ruleset (nothing when equal)."""
    from mewarden.netblock.apply import diff_ruleset

    ruleset = _nft_ruleset(source, table, bridge, no_controllers)
    text = diff_ruleset(ruleset, table)
    recorded = 0
    if source.from_state:
        recorded = _record_state(source, ruleset, table, event="checked", diff=text)
    report = {"table": table, "changed": bool(text), "diff": text, "recorded": recorded}
    emit(report, as_json=as_json, render=lambda c: _print_diff(c, text, table))


def _record_state(
    source: InventorySource, ruleset: bytes, table: str, *, event: str, diff: str | None = None
) -> int:
    """Record each neutralize node's netblock-state evidence (apply checks the diff itself)."""
    from mewarden.jsonutil import dumps
    from mewarden.netblock.apply import diff_ruleset
    from mewarden.netblock.evidence import netblock_documents
    from mewarden.state.evidence import EvidenceRecord, record_evidence
    from mewarden.state.models import DocumentKind

    if diff is None:
        diff = diff_ruleset(ruleset, table)
    store = _settings_store(source.db)
    bodies = netblock_documents(
        source.load(),
        ruleset.decode("utf-8"),
        now=store.clock(),
        event=event,
        table=table,
        diff_empty=not diff,
    )
    records = [
        EvidenceRecord(node=n, kind=DocumentKind.NETBLOCK_STATE, source=f"netblock {event}",
                       body=dumps(body))
        for n, body in sorted(bodies.items())
    ]  # fmt: skip
    return record_evidence(store, records)


def _print_diff(console: Console, text: str, table: str) -> None:
    if not text:
        console.print(f"live tables named {table} match the rendered ruleset")
        return
    click.echo(text, nl=False)


def _settings_store(db: str | None) -> Store:
    from mewarden.cli.cmd_org import OrgAccess

    return OrgAccess(db=db, key_file=None, key_command=None).store()


db_option = click.option("--db", metavar="URL", help="Org database (default: $MEWARDEN_DB).")


@command.group("controllers")
def controllers_group() -> None:
    """The controllers: the only peers allowed to reach use nodes' AMT (org state)."""


def _emit_controllers(controllers: tuple[str, ...], as_json: bool) -> None:
    emit(
        {"controllers": list(controllers)},
        as_json=as_json,
        render=lambda c: c.print("\n".join(controllers) or "no controllers"),
    )


@controllers_group.command("add")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR/CIDR...")
@db_option
@json_option
def controllers_add(addresses: tuple[str, ...], db: str | None, as_json: bool) -> None:
    """Add controller addresses or CIDR networks."""
    from mewarden.state import netblock_settings

    stored = netblock_settings.add_controllers(_settings_store(db), addresses)
    _emit_controllers(stored, as_json)


@controllers_group.command("remove")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR/CIDR...")
@db_option
@json_option
def controllers_remove(addresses: tuple[str, ...], db: str | None, as_json: bool) -> None:
    """Remove stored controllers (exactly as added)."""
    from mewarden.state import netblock_settings

    stored = netblock_settings.remove_controllers(_settings_store(db), addresses)
    _emit_controllers(stored, as_json)


@controllers_group.command("list")
@db_option
@json_option
def controllers_list(db: str | None, as_json: bool) -> None:
    """List the stored controllers."""
    from mewarden.state import netblock_settings

    _emit_controllers(netblock_settings.load(_settings_store(db)).controllers, as_json)


@command.group("mps-ports")
def mps_ports_group() -> None:
    """The CIRA/MPS ports use nodes may dial out to (org state; default 4433)."""


def _emit_ports(ports: tuple[int, ...], stored: bool, as_json: bool) -> None:
    text = ",".join(str(p) for p in ports) + ("" if stored else " (default)")
    emit(
        {"mps_ports": list(ports), "stored": stored},
        as_json=as_json,
        render=lambda c: c.print(text),
    )


@mps_ports_group.command("set")
@click.argument("ports", nargs=-1, required=True, metavar="PORT[,PORT]...")
@db_option
@json_option
def mps_ports_set(ports: tuple[str, ...], db: str | None, as_json: bool) -> None:
    """Replace the MPS ports (e.g. 4433,8443)."""
    from mewarden.state import netblock_settings

    chosen = netblock_settings.parse_ports(ports)
    _emit_ports(netblock_settings.set_mps_ports(_settings_store(db), chosen), True, as_json)


@mps_ports_group.command("show")
@db_option
@json_option
def mps_ports_show(db: str | None, as_json: bool) -> None:
    """Show the MPS ports rendering uses."""
    from mewarden.netblock.inventory import DEFAULT_MPS_PORTS
    from mewarden.state import netblock_settings

    stored = netblock_settings.load(_settings_store(db)).mps_ports
    _emit_ports(stored or DEFAULT_MPS_PORTS, stored is not None, as_json)
