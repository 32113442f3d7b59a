"""Render the policy as an nftables ruleset (pure: inventory in, bytes out).

Design (reference live-me-and-network.md B2): named sets hold the node groups and port lists, so
there is one rule per policy, direction and protocol, never one per node; node names appear as
set element comments. The ``inet`` table filters routed traffic on the forward hook; the
``bridge`` table (with rules only when some node has a MAC) aims the same port rules at MACs on a
transparent bridge, which also catches same-segment traffic and AMT's own IPv6 addresses. MACs
alone never decide: AMT shares the host's MAC, so every bridge rule also matches a port.

Each table starts with ``table ...`` / ``delete table ...`` so that ``nft -f`` replaces the
tables in one atomic transaction, however often it is loaded. The bridge prelude is always
written: without MACs it just removes a bridge table left from an earlier load.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.netblock.inventory import IpNetwork, NetblockInventory, NodePolicy
from mewarden.netblock.ports import AMT_TCP_RANGES, AMT_UDP_RANGES, as_ranges, nft_ports

HEADER = (
    "# mewarden netblock ruleset (generated; edit the org inventory, not this file).\n"
    "# neutralize: AMT ports (TCP 623,664,5900,16992-16995; UDP 623,664) dropped to and from\n"
    "#   the node, and its outbound CIRA (MPS ports) dropped.\n"
    "# use: AMT ports and CIRA allowed only between the node and the controllers.\n"
    "# ignore: nothing.\n"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NftOptions:
    """Table name and, optionally, the bridge port whose ingress frames the bridge table sees.

    Without ``bridge`` the bridge table filters frames on every port of every bridge.
    """

    table: str = "mewarden"
    bridge: str | None = None


def render_nftables(inventory: NetblockInventory, options: NftOptions) -> bytes:
    """The complete ruleset, deterministic for a given inventory and options."""
    parts = [HEADER, _inet_table(inventory, options.table)]
    if _has_macs(inventory):
        parts.append(_bridge_table(inventory, options))
    else:
        # Without MACs there is nothing to aim, but a bridge table loaded earlier (when some
        # node had a MAC) must go in the same transaction, or its drops would outlive the policy.
        parts.append(_remove_table("bridge", options.table))
    return "\n".join(parts).encode("utf-8")


def _has_macs(inventory: NetblockInventory) -> bool:
    return any(n.macs for n in inventory.nodes if n.policy is not NodePolicy.IGNORE)


def _set(name: str, kind: str, elements: list[str], *, interval: bool) -> list[str]:
    lines = [f"\tset {name} {{", f"\t\ttype {kind}"]
    if interval:
        lines.append("\t\tflags interval")
    if elements:
        lines.append("\t\telements = {")
        lines.extend(f"\t\t\t{e}," for e in elements)
        lines.append("\t\t}")
    lines.append("\t}")
    return lines


def _port_sets(inventory: NetblockInventory) -> list[str]:
    lines: list[str] = []
    lines += _set("amt_tcp", "inet_service", [nft_ports(AMT_TCP_RANGES)], interval=True)
    lines += _set("amt_udp", "inet_service", [nft_ports(AMT_UDP_RANGES)], interval=True)
    mps = as_ranges(inventory.mps_ports)
    lines += _set("mps_tcp", "inet_service", [nft_ports(mps)] if mps else [], interval=True)
    return lines


def _address_sets(inventory: NetblockInventory) -> list[str]:
    lines: list[str] = []
    for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        controllers = [
            f'{net} comment "controller"' for net in inventory.controllers if net.version == version
        ]
        lines += _set(f"controllers_v{version}", kind, controllers, interval=True)
    for policy in (NodePolicy.USE, NodePolicy.NEUTRALIZE):
        for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
            elements = [
                _element(net, node.name)
                for node in inventory.with_policy(policy)
                for net in node.addresses
                if net.version == version
            ]
            lines += _set(f"{policy}_v{version}", kind, elements, interval=True)
    return lines


def _element(net: IpNetwork, name: str) -> str:
    return f'{net} comment "node {name}"'


def _chain_head(name: str) -> list[str]:
    return [
        "",
        f"\tchain {name} {{",
        "\t\ttype filter hook forward priority filter; policy accept;",
    ]


def _five_rules(scope: str, what: str, to_node: str, from_node: str) -> list[str]:
    """Drop AMT TCP/UDP to and from the node, and CIRA from it; ``what`` names the rules."""
    return [
        f'{scope}{to_node} tcp dport @amt_tcp counter drop comment "{what}: AMT TCP to node"',
        f'{scope}{to_node} udp dport @amt_udp counter drop comment "{what}: AMT UDP to node"',
        f'{scope}{from_node} tcp sport @amt_tcp counter drop comment "{what}: AMT TCP from node"',
        f'{scope}{from_node} udp sport @amt_udp counter drop comment "{what}: AMT UDP from node"',
        f'{scope}{from_node} tcp dport @mps_tcp counter drop comment "{what}: outbound CIRA"',
    ]


def _policy_rules(ip: str, version: int) -> list[str]:
    """Routed rules for one address family: neutralize drops all, use spares controllers."""
    neu, use, ctl = f"@neutralize_v{version}", f"@use_v{version}", f"@controllers_v{version}"
    return _five_rules(
        "", f"neutralize ipv{version}", f"{ip} daddr {neu}", f"{ip} saddr {neu}"
    ) + _five_rules(
        "",
        f"use ipv{version} non-controller",
        f"{ip} saddr != {ctl} {ip} daddr {use}",
        f"{ip} saddr {use} {ip} daddr != {ctl}",
    )


def _remove_table(family: str, name: str) -> str:
    """Declare then delete: removes the table if present and never fails when it is absent."""
    return f"table {family} {name}\ndelete table {family} {name}\n"


def _table(family: str, name: str, body: list[str]) -> str:
    head = [f"table {family} {name} {{"]
    return _remove_table(family, name) + "\n".join([*head, *body, "}"]) + "\n"


def _inet_table(inventory: NetblockInventory, name: str) -> str:
    body = _port_sets(inventory) + _address_sets(inventory) + _chain_head("forward")
    body += [f"\t\t{r}" for r in _policy_rules("ip", 4) + _policy_rules("ip6", 6)]
    body.append("\t}")
    return _table("inet", name, body)


def _mac_rules(scope: str) -> list[str]:
    """Bridge rules: the same drops, aimed at the nodes' MACs instead of their addresses."""
    rules = _five_rules(
        scope, "neutralize mac", "ether daddr @neutralize_mac", "ether saddr @neutralize_mac"
    )
    for ip, version in (("ip", 4), ("ip6", 6)):
        ctl = f"@controllers_v{version}"
        rules += _five_rules(
            scope,
            f"use mac ipv{version} non-controller",
            f"ether daddr @use_mac {ip} saddr != {ctl}",
            f"ether saddr @use_mac {ip} daddr != {ctl}",
        )
    return rules


def _bridge_table(inventory: NetblockInventory, options: NftOptions) -> str:
    body = _port_sets(inventory)
    for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        controllers = [
            f'{net} comment "controller"' for net in inventory.controllers if net.version == version
        ]
        body += _set(f"controllers_v{version}", kind, controllers, interval=True)
    for policy in (NodePolicy.USE, NodePolicy.NEUTRALIZE):
        macs = [
            f'{m} comment "node {n.name}"' for n in inventory.with_policy(policy) for m in n.macs
        ]
        body += _set(f"{policy}_mac", "ether_addr", sorted(macs), interval=False)
    # ``meta ibrname`` (the bridge's own name) needs nft_meta_bridge, which not every kernel
    # has; the ingress port name works everywhere.
    scope = f'iifname "{options.bridge}" ' if options.bridge else ""
    body += _chain_head("forward")
    body += [f"\t\t{r}" for r in _mac_rules(scope)]
    body.append("\t}")
    return _table("bridge", options.table, body)
