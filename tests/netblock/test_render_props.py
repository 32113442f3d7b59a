"""Properties of rendering over generated inventories (hypothesis)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from mewarden.netblock.inventory import NetblockInventory, NetblockNode, NodePolicy, build_inventory
from mewarden.netblock.render import RulesetFormat, render


@st.composite
def inventories(draw: st.DrawFn) -> NetblockInventory:
    count = draw(st.integers(0, 12))
    hosts = draw(st.lists(st.integers(1, 250), min_size=count, max_size=count, unique=True))
    policies = draw(st.lists(st.sampled_from(list(NodePolicy)), min_size=count, max_size=count))
    nodes = [
        NetblockNode(
            name=f"node-{h}",
            policy=p,
            addresses=(ipaddress.ip_network(f"10.7.{h}.2"), ipaddress.ip_network(f"fd00:7:{h}::2")),
            macs=(f"02:07:00:00:00:{h:02x}",),
        )
        for h, p in zip(hosts, policies, strict=True)
    ]
    order = draw(st.permutations(nodes))
    return build_inventory(
        order, [ipaddress.ip_network("10.7.0.2")], draw(st.sets(st.integers(1, 65535), max_size=3))
    )


@given(inventories())
def test_every_blocked_address_is_in_each_form_and_ignored_ones_are_not(
    inventory: NetblockInventory,
) -> None:
    nft = render(inventory, RulesetFormat.NFTABLES).decode()
    ipt = render(inventory, RulesetFormat.IPTABLES).decode()
    ip6t = render(inventory, RulesetFormat.IP6TABLES).decode()
    for node in inventory.nodes:
        v4, v6 = (str(a) for a in node.addresses)
        blocked = node.policy is not NodePolicy.IGNORE
        assert (f'{v4} comment "node {node.name}"' in nft) is blocked
        assert (f'{v6} comment "node {node.name}"' in nft) is blocked
        assert (f"-d {v4} " in ipt) is blocked
        assert (f"-d {v6} " in ip6t) is blocked
        assert (node.macs[0] in nft) is blocked


@given(inventories())
def test_rendering_is_a_function_of_the_inventory(inventory: NetblockInventory) -> None:
    rebuilt = build_inventory(reversed(inventory.nodes), inventory.controllers, inventory.mps_ports)
    for fmt in RulesetFormat:
        assert render(rebuilt, fmt) == render(inventory, fmt)
