"""Render the policy in ``iptables-restore`` / ``ip6tables-restore`` format (pure).

For routers without nftables. iptables has no named sets without ipset, so this form has one rule
per node address; use-node traffic jumps to a small chain that returns for controllers and drops
the rest. The file declares only mewarden's own chains plus one jump from ``FORWARD``: load it
with ``iptables-restore --noflush`` into a filter table that does not have the jump yet, or as
the whole filter table.
"""

from __future__ import annotations

from mewarden.errors import BadInputError
from mewarden.netblock.inventory import IpNetwork, NetblockInventory, NodePolicy
from mewarden.netblock.ports import AMT_TCP_RANGES, AMT_UDP_RANGES, as_ranges, multiport

CHAIN = "MEWARDEN-AMT"
TO_USE = "MEWARDEN-TO-USE"
FROM_USE = "MEWARDEN-FROM-USE"


def render_iptables(inventory: NetblockInventory, *, version: int) -> bytes:
    """The ruleset for IPv4 (``version=4``, iptables) or IPv6 (``version=6``, ip6tables)."""
    if version not in (4, 6):
        raise BadInputError(f"IP version must be 4 or 6, not {version}")
    tool = "iptables" if version == 4 else "ip6tables"
    lines = [
        f"# mewarden netblock ruleset for {tool}-restore (generated; do not edit).",
        "*filter",
        f":{CHAIN} - [0:0]",
        f":{TO_USE} - [0:0]",
        f":{FROM_USE} - [0:0]",
        f"-A FORWARD -j {CHAIN}",
    ]
    for net in inventory.controllers:
        if net.version == version:
            lines.append(f'-A {TO_USE} -s {net} -m comment --comment "controller" -j RETURN')
            lines.append(f'-A {FROM_USE} -d {net} -m comment --comment "controller" -j RETURN')
    lines.append(f'-A {TO_USE} -m comment --comment "use: not a controller" -j DROP')
    lines.append(f'-A {FROM_USE} -m comment --comment "use: not a controller" -j DROP')
    for node in inventory.nodes:
        if node.policy is NodePolicy.IGNORE:
            continue
        target = "DROP" if node.policy is NodePolicy.NEUTRALIZE else None
        for net in node.addresses:
            if net.version == version:
                lines += _node_rules(net, f"{node.policy} {node.name}", target, inventory)
    lines.append("COMMIT")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _node_rules(
    net: IpNetwork, comment: str, target: str | None, inventory: NetblockInventory
) -> list[str]:
    to_node = target or TO_USE
    from_node = target or FROM_USE
    tcp, udp = multiport(AMT_TCP_RANGES), multiport(AMT_UDP_RANGES)
    note = f'-m comment --comment "{comment}"'
    rules = [
        f"-A {CHAIN} -d {net} -p tcp -m multiport --dports {tcp} {note} -j {to_node}",
        f"-A {CHAIN} -d {net} -p udp -m multiport --dports {udp} {note} -j {to_node}",
        f"-A {CHAIN} -s {net} -p tcp -m multiport --sports {tcp} {note} -j {from_node}",
        f"-A {CHAIN} -s {net} -p udp -m multiport --sports {udp} {note} -j {from_node}",
    ]
    if inventory.mps_ports:
        mps = multiport(as_ranges(inventory.mps_ports))
        rules.append(
            f"-A {CHAIN} -s {net} -p tcp -m multiport --dports {mps} {note} -j {from_node}"
        )
    return rules
