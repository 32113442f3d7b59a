"""``mewarden node add|list|show|set-policy|remove|enroll|import``.

AMT passwords come from ``$MEWARDEN_AMT_PASSWORD``, ``--password-file`` or a hidden prompt,
never from argv. Generated admin passwords go only into the vault.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mewarden.cli import node_console, node_kvm
from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option, track
from mewarden.jsonutil import plain

if TYPE_CHECKING:
    from mewarden.crypto.vault import OrgKey
    from mewarden.secret import Secret
    from mewarden.state.enroll import AmtProfile
    from mewarden.state.store import Store

_DEFAULT_CONCURRENCY = 32


def _prompt(what: str) -> Callable[[], str] | None:
    if not sys.stdin.isatty():
        return None
    return lambda: str(click.prompt(what, hide_input=True, default="", show_default=False))


def _amt_password(password_file: str | None) -> Secret:
    from mewarden.amt.targets import PASSWORD_ENV, read_secret

    return read_secret(
        env_name=PASSWORD_ENV, file=password_file, prompt=_prompt("AMT password"), what="password"
    )


@click.group(name="node")
def command() -> None:
    """Manage nodes: their AMT address, group, policy and enrollment."""


@command.command("add")
@click.argument("name")
@click.option("--group")
@click.option("--policy", help="use, neutralize or ignore (default: inherit).")
@click.option("--amt-host")
@click.option("--amt-port", type=click.IntRange(1, 65535))
@click.option("--amt-tls/--no-amt-tls", default=False)
@click.option("--amt-user", help="AMT account (default admin).")
@click.option("--mac", "macs", multiple=True)
@click.option("--agent", help="Host agent address.")
@org_options
def add(org: OrgAccess, name: str, policy: str | None, **fields: Any) -> None:
    """Register a node."""
    org.store().add_node(_spec(name, policy, fields))
    click.echo(f"node {name} added")


def _spec(name: str, policy: str | None, fields: dict[str, Any]) -> Any:
    from mewarden.state.models import NodeSpec, parse_policy

    return NodeSpec(
        name=name,
        group=fields.get("group"),
        policy=parse_policy(policy) if policy else None,
        amt_host=fields.get("amt_host"),
        amt_port=fields.get("amt_port"),
        amt_tls=bool(fields.get("amt_tls")),
        amt_username=fields.get("amt_user"),
        macs=tuple(fields.get("macs") or ()),
        agent_address=fields.get("agent"),
    )


@command.command("list")
@org_options
@json_option
def list_nodes(org: OrgAccess, as_json: bool) -> None:
    """List nodes with their effective policy."""
    nodes = org.store().nodes()

    def render(console: Any) -> None:
        for n in nodes:
            click.echo(
                f"{n.name}\t{n.effective_policy.value} ({n.policy_source})\t{n.lifecycle.value}"
                f"\t{n.amt_host or '-'}\t{n.group or '-'}"
            )

    emit(plain(nodes), as_json=as_json, render=render)


@command.command("show")
@click.argument("name")
@org_options
@json_option
def show(org: OrgAccess, name: str, as_json: bool) -> None:
    """One node and its metadata documents (kind, time, hash, source; not the bodies)."""
    store = org.store()
    node = store.node(name)
    docs = [
        {
            "kind": d.kind.value,
            "source": d.source,
            "at": d.created_at.isoformat(),
            "sha256": d.sha256,
        }
        for d in store.documents(name)
    ]
    from mewarden.state.fleet import fleet_status

    [verdict] = fleet_status(store, names={name})
    result = {"node": plain(node), "status": verdict.status, "reasons": verdict.reasons}
    result["documents"] = docs

    def render(console: Any) -> None:
        from mewarden.cli.output import render_value

        render_value(console, plain(node), title=f"node {name}", hidden=NODE_INTERNALS)
        compliance = {"status": verdict.status, "reasons": list(verdict.reasons)}
        render_value(console, compliance, title="compliance")
        shown = [{**d, "sha256": d["sha256"][:16]} for d in docs]
        render_value(console, shown, title="documents")

    emit(result, as_json=as_json, render=render)


NODE_INTERNALS = ("version", "lease_owner", "lease_epoch")
"""Bookkeeping columns of the node row (optimistic locking, heal leases): ``--json`` only."""


@command.command("set-policy")
@click.argument("name")
@click.argument("policy")
@org_options
def set_policy(org: OrgAccess, name: str, policy: str) -> None:
    """Set a node's policy (use, neutralize, ignore, or inherit to follow its group)."""
    from mewarden.state.models import parse_policy

    chosen = None if policy == "inherit" else parse_policy(policy)
    node = org.store().set_policy(name, chosen)
    click.echo(f"node {name}: policy {node.effective_policy.value} (from {node.policy_source})")


_ON_OFF = click.Choice(["on", "off"])


def _set_intent(org: OrgAccess, name: str, values: dict[str, object], kind: str) -> Any:
    return org.store().update_node(name, lambda _n: values, kind)


@command.command("maintenance")
@click.argument("name")
@click.argument("state", type=_ON_OFF)
@org_options
@json_option
def maintenance(org: OrgAccess, name: str, state: str, as_json: bool) -> None:
    """Put a node in maintenance (on) or take it out (off): heal leaves it alone while on."""
    node = _set_intent(org, name, {"maintenance": state == "on"}, "node.maintenance")
    result = {"node": name, "maintenance": node.maintenance}
    emit(result, as_json=as_json, render=lambda _o: click.echo(f"node {name}: maintenance {state}"))


@command.command("power-intent")
@click.argument("name")
@click.argument("state", type=_ON_OFF)
@org_options
@json_option
def power_intent(org: OrgAccess, name: str, state: str, as_json: bool) -> None:
    """Whether the node is meant to be powered (on) or off: heal never powers on an off node."""
    node = _set_intent(org, name, {"power_intent": state}, "node.power-intent")
    result = {"node": name, "power_on": node.desired_power_on}
    emit(result, as_json=as_json, render=lambda _o: click.echo(f"node {name}: power {state}"))


@command.command("set-group")
@click.argument("name")
@click.argument("group")
@org_options
@json_option
def set_group(org: OrgAccess, name: str, group: str, as_json: bool) -> None:
    """Move a node to GROUP ('none' takes it out of its group)."""
    from mewarden.state.models import check_group_name

    target = None if group == "none" else check_group_name(group)
    node = org.store().set_group(name, target)
    result = {
        "node": name,
        "group": node.group,
        "effective_policy": node.effective_policy.value,
        "policy_source": node.policy_source,
    }
    emit(
        result,
        as_json=as_json,
        render=lambda _c: click.echo(
            f"node {name}: group {node.group or '-'}, policy {node.effective_policy.value} "
            f"(from {node.policy_source})"
        ),
    )


@command.command("remove")
@click.argument("name")
@org_options
def remove(org: OrgAccess, name: str) -> None:
    """Forget a node, its documents and credentials (its audit events stay)."""
    org.store().remove_node(name)
    click.echo(f"node {name} removed")


_CONSENT = {"none": 0, "kvm": 1, "all": 4294967295}


def _profile(sol: bool, ider: bool, kvm: bool, opts: dict[str, Any] | None = None) -> AmtProfile:
    from mewarden.amt.network import AddressMode, EthernetChange, validate_change
    from mewarden.state.enroll import AmtProfile
    from mewarden.wsman.resources import OptInRequired

    opts = opts or {}
    consent = opts.get("consent")
    network = None
    if opts.get("network"):
        network = EthernetChange(
            mode=AddressMode(opts["network"]),
            ip_address=opts.get("ip") or "",
            subnet_mask=opts.get("mask") or "",
            default_gateway=opts.get("gateway") or "",
            primary_dns=opts.get("dns") or "",
        )
        validate_change(network)
    return AmtProfile(
        sol=sol,
        ider=ider,
        kvm=kvm,
        user_consent=OptInRequired(_CONSENT[consent]) if consent else None,
        network=network,
    )


@command.command("enroll")
@click.argument("name")
@click.option("--policy", required=True, help="use, neutralize or ignore.")
@click.option("--amt-host")
@click.option("--amt-port", type=click.IntRange(1, 65535))
@click.option("--amt-tls/--no-amt-tls", default=False)
@click.option("--amt-user", help="AMT account (default admin).")
@click.option("--group")
@click.option("--password-file", type=click.Path(dir_okay=False), help="Current AMT password.")
@click.option("--sol/--no-sol", default=True, help="Profile: Serial-over-LAN.")
@click.option("--ider/--no-ider", default=False, help="Profile: IDE redirection.")
@click.option("--kvm/--no-kvm", default=False, help="Profile: KVM.")
@click.option(
    "--consent",
    type=click.Choice(sorted(_CONSENT)),
    help="Profile: user consent to set (admin control mode only; default: leave it).",
)
@click.option(
    "--network",
    type=click.Choice(["dhcp", "static", "shared"]),
    help="Profile: wired IPv4 mode to set (default: leave it).",
)
@click.option("--ip", help="With --network static: AMT's address (org state follows it).")
@click.option("--mask", help="With --network static.")
@click.option("--gateway", help="With --network static.")
@click.option("--dns", help="With --network static.")
@click.option(
    "--inspect",
    "inspect_file",
    type=click.Path(dir_okay=False),
    help="firmware inspect --json report.",
)
@click.option(
    "--neutralize-report",
    type=click.Path(dir_okay=False),
    help="firmware neutralize --json report.",
)
@click.option("--probe", type=click.Path(dir_okay=False), help="host probe --json report.")
@org_options
@json_option
def enroll(org: OrgAccess, name: str, policy: str, as_json: bool, **opts: Any) -> None:
    """Enroll a node under a policy (adds it first when it is new)."""
    from mewarden.state.amt_enroll import enroll_over_amt
    from mewarden.state.enroll import enroll_observed, enroll_use_or_undo, validate_reports
    from mewarden.state.models import Policy, parse_policy

    chosen = parse_policy(policy)
    # everything the user gives is checked before anything is stored or sent: profile options,
    # the node's fields, every report, and (for use) the current AMT password
    profile = _profile(opts["sol"], opts["ider"], opts["kvm"], opts)
    spec = _spec(name, None, opts)  # the policy is set only once the enrollment succeeded
    reports = validate_reports(chosen, _read_reports(opts))
    password = _amt_password(opts.get("password_file")) if chosen is Policy.USE else None
    store = org.store()
    key = org.key(store)
    created = _register(store, spec, opts)
    if password is not None:
        attempt = enroll_over_amt(store, key, name, password, profile)
        result = asyncio.run(
            enroll_use_or_undo(store, name, attempt, created=created, reports=reports)
        )
    else:
        result = enroll_observed(store, name, chosen, reports)
    emit(
        result,
        as_json=as_json,
        render=lambda c: click.echo(
            f"node {name} enrolled ({chosen.value}); documents: {', '.join(result.documents)}"
        ),
    )


def _register(store: Store, spec: Any, opts: dict[str, Any]) -> bool:
    """Add the node when it is new (True), else let the enroll correct its AMT address."""
    from mewarden.errors import NodeNotFoundError

    try:
        node = store.node(spec.name)
    except NodeNotFoundError:
        store.add_node(spec)
        return True
    _update_amt_address(store, node, opts)
    return False


def _update_amt_address(store: Store, node: Any, opts: dict[str, Any]) -> None:
    """An enroll of an existing node may correct its AMT address (recorded as an event)."""
    wanted = {
        "amt_host": opts.get("amt_host") or node.amt_host,
        "amt_port": opts.get("amt_port") or node.amt_port,
        "amt_tls": bool(opts.get("amt_tls")) or node.amt_tls,
        "amt_username": opts.get("amt_user") or node.amt_username,
    }
    current = {k: getattr(node, k) for k in wanted}
    if wanted != current:
        store.update_node(node.name, lambda _n: wanted, "node.set-amt")


def _read_reports(opts: dict[str, Any]) -> dict[Any, tuple[str, bytes]]:
    from mewarden.fsutil import read_input_file
    from mewarden.state.models import DocumentKind

    wanted = {
        DocumentKind.FIRMWARE_INSPECT: opts.get("inspect_file"),
        DocumentKind.FIRMWARE_NEUTRALIZE: opts.get("neutralize_report"),
        DocumentKind.HOST_PROBE: opts.get("probe"),
    }
    return {
        kind: (str(path), read_input_file(path, what=f"{kind.value} report"))
        for kind, path in wanted.items()
        if path
    }


@command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--password-file", type=click.Path(dir_okay=False), help="Current AMT password.")
@click.option(
    "--concurrency", type=click.IntRange(1, 1024), default=_DEFAULT_CONCURRENCY, show_default=True
)
@click.option("--sol/--no-sol", default=True)
@click.option("--ider/--no-ider", default=False)
@click.option("--kvm/--no-kvm", default=False)
@org_options
@json_option
def import_nodes(org: OrgAccess, file: Path, as_json: bool, **opts: Any) -> None:
    """Bulk-register nodes from CSV/JSON and enroll those whose policy is use."""
    from mewarden.fsutil import read_input_file
    from mewarden.state.importing import parse_import
    from mewarden.state.models import Policy

    specs = parse_import(read_input_file(file, what="import file"), source=str(file))
    store = org.store()
    key = org.key(store)
    use = [s.name for s in specs if s.policy is Policy.USE]
    password = _amt_password(opts.get("password_file")) if use else None
    store.add_nodes(specs)
    profile = _profile(opts["sol"], opts["ider"], opts["kvm"])
    failures = asyncio.run(
        _enroll_many(store, key, use, password, profile=profile, concurrency=opts["concurrency"])
    )
    result = {"imported": len(specs), "enrolled": len(use) - len(failures), "failed": failures}
    emit(
        result,
        as_json=as_json,
        render=lambda c: click.echo(
            f"{len(specs)} node(s) imported, {result['enrolled']} enrolled, {len(failures)} failed"
            + "".join(f"\n  {n}: {e}" for n, e in failures.items())
        ),
    )
    if failures:
        sys.exit(_exit_code(failures))


def _exit_code(failures: dict[str, str]) -> int:
    """Bulk enrollment with failures exits like an org-state error (10)."""
    from mewarden.errors import StateError

    return StateError.exit_code


async def _enroll_many(
    store: Store,
    key: OrgKey,
    names: list[str],
    password: Secret | None,
    *,
    profile: AmtProfile,
    concurrency: int,
) -> dict[str, str]:
    from mewarden.errors import MewardenError
    from mewarden.state.amt_enroll import enroll_over_amt

    if not names or password is None:
        return {}
    gate = asyncio.Semaphore(concurrency)
    failures: dict[str, str] = {}

    async def one(name: str) -> str:
        async with gate:
            try:
                await enroll_over_amt(store, key, name, password, profile)
            except MewardenError as exc:
                store.record("node.enroll-failed", name, error=type(exc).__name__)
                failures[name] = str(exc)
            return name

    tasks = [asyncio.ensure_future(one(n)) for n in names]
    for future in track(asyncio.as_completed(tasks), total=len(tasks), description="enrolling"):
        await future
    return failures


command.add_command(node_console.console)
command.add_command(node_console.captures)
command.add_command(node_kvm.kvm)


def _register_evidence_commands() -> None:
    from mewarden.cli.node_evidence import attach_command

    command.add_command(attach_command)


_register_evidence_commands()


def _add_reinstall() -> None:
    from mewarden.cli.node_reinstall import reinstall

    command.add_command(reinstall)


_add_reinstall()
