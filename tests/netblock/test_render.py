"""Golden rulesets for the mixed fleet, and the properties every rendering must have.

The golden files are justified by behaviour, not by having been printed: ``test_e2e`` loads
exactly these bytes (nftables via ``netblock apply``, iptables via ``iptables-restore``) into a
router namespace and checks real traffic; ``test_validate`` has nft and iptables-restore accept
them and reads the loaded sets back from the kernel.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest

from mewarden.errors import BadInputError
from mewarden.netblock.inventory import (
    NetblockInventory,
    NetblockNode,
    NodePolicy,
    build_inventory,
    inventory_from_json,
)
from mewarden.netblock.render import RulesetFormat, render

HERE = Path(__file__).resolve().parent
FLEET = HERE / "data" / "fleet.json"
GOLDEN = {
    RulesetFormat.NFTABLES: HERE / "golden" / "fleet.nft",
    RulesetFormat.IPTABLES: HERE / "golden" / "fleet.iptables",
    RulesetFormat.IP6TABLES: HERE / "golden" / "fleet.ip6tables",
    RulesetFormat.JSON: HERE / "golden" / "fleet.json",
}


def fleet() -> NetblockInventory:
    return inventory_from_json(FLEET.read_bytes())


@pytest.mark.parametrize("fmt", list(RulesetFormat))
def test_rendering_matches_golden(fmt: RulesetFormat) -> None:
    rendered = render(fleet(), fmt)
    if os.environ.get("MEWARDEN_UPDATE_GOLDEN"):
        GOLDEN[fmt].write_bytes(rendered)
    assert rendered == GOLDEN[fmt].read_bytes()


@pytest.mark.parametrize("fmt", list(RulesetFormat))
def test_node_order_does_not_change_the_bytes(fmt: RulesetFormat) -> None:
    inventory = fleet()
    shuffled = list(inventory.nodes)
    random.Random(7).shuffle(shuffled)
    again = build_inventory(shuffled, reversed(inventory.controllers), inventory.mps_ports)
    assert render(again, fmt) == render(inventory, fmt)


def test_nftables_uses_one_rule_per_policy_not_per_node() -> None:
    inventory = fleet()
    extra = [
        NetblockNode(
            name=f"extra-{i}", policy=policy, addresses=(ipaddress.ip_network(f"10.92.{i}.2"),)
        )
        for i, policy in enumerate([NodePolicy.USE, NodePolicy.NEUTRALIZE] * 5)
    ]
    bigger = build_inventory([*inventory.nodes, *extra], inventory.controllers)

    def rules(inv: NetblockInventory) -> list[str]:
        text = render(inv, RulesetFormat.NFTABLES).decode()
        return [line for line in text.splitlines() if " drop comment " in line]

    assert rules(bigger) == rules(inventory)
    assert not any("10.9" in line for line in rules(bigger))  # addresses live in sets


def test_every_use_and_neutralize_address_is_named_in_the_nft_sets() -> None:
    text = render(fleet(), RulesetFormat.NFTABLES).decode()
    doc = json.loads(FLEET.read_text())
    for node in doc["nodes"]:
        for address in node.get("addresses", []):
            present = f'comment "node {node["name"]}"' in text and address.split("/")[0] in text
            assert present is (node["policy"] != "ignore"), (node["name"], address)
    assert "10.91.3.2" not in text  # the ignore node is left alone


def test_without_macs_the_bridge_table_is_only_removed_and_bridge_port_scoping() -> None:
    inventory = fleet()
    no_macs = build_inventory([replace(n, macs=()) for n in inventory.nodes], inventory.controllers)
    text = render(no_macs, RulesetFormat.NFTABLES).decode()
    # the prelude stays so a bridge table loaded while nodes had MACs goes away atomically
    assert text.endswith("table bridge mewarden\ndelete table bridge mewarden\n")
    assert "table bridge mewarden {" not in text
    scoped = render(inventory, RulesetFormat.NFTABLES, bridge="eth1").decode()
    bridge_rules = [
        line for line in scoped.split("table bridge mewarden {")[1].splitlines() if "drop" in line
    ]
    assert bridge_rules
    assert all(line.strip().startswith('iifname "eth1" ') for line in bridge_rules)


@pytest.mark.parametrize("bad", ["", "a b", 'x"y', "x" * 16, "t;flush"])
def test_unsafe_table_or_bridge_names_are_refused(bad: str) -> None:
    with pytest.raises(BadInputError, match="must be 1-15"):
        render(fleet(), RulesetFormat.NFTABLES, table=bad)
    with pytest.raises(BadInputError, match="must be 1-15"):
        render(fleet(), RulesetFormat.NFTABLES, bridge=bad)


def test_unknown_format() -> None:
    with pytest.raises(BadInputError, match=r"unknown ruleset format 'pf' \(known: nftables"):
        RulesetFormat.parse("pf")


def test_json_plan_lists_groups_from_the_inventory() -> None:
    plan = json.loads(render(fleet(), RulesetFormat.JSON))
    doc = json.loads(FLEET.read_text())
    for policy in ("use", "neutralize"):
        assert {g["name"] for g in plan["groups"][policy]} == {
            n["name"] for n in doc["nodes"] if n["policy"] == policy
        }
    assert sorted(plan["ignored"]) == sorted(
        n["name"] for n in doc["nodes"] if n["policy"] == "ignore"
    )
    assert plan["ports"]["mps_tcp"] == sorted(doc["mps_ports"])
