"""Inventory validation: bad input gets one clear error, good input is normalised."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mewarden.errors import BadInputError
from mewarden.netblock.inventory import (
    NetblockNode,
    NodePolicy,
    build_inventory,
    inventory_from_json,
)


def _doc(nodes: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps({"nodes": nodes, **extra}).encode()


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([{"name": "a", "policy": "use"}], "node a (policy use) has no address"),
        (
            [{"name": "a", "policy": "neutralize", "addresses": []}],
            "node a (policy neutralize) has no address",
        ),
        (
            [
                {"name": "a", "policy": "use", "addresses": ["10.0.0.1"]},
                {"name": "b", "policy": "ignore", "addresses": ["10.0.0.1"]},
            ],
            "address 10.0.0.1/32 of node b is the same address as 10.0.0.1/32 of node a",
        ),
        (
            [
                {"name": "a", "policy": "use", "addresses": ["10.0.0.0/24"]},
                {"name": "b", "policy": "neutralize", "addresses": ["10.0.0.7"]},
            ],
            "address 10.0.0.7/32 of node b overlaps 10.0.0.0/24 of node a",
        ),
        (
            [{"name": "a", "policy": "use", "addresses": ["10.0.0.1", "10.0.0.1"]}],
            "lists the same address twice",
        ),
        ([{"name": "a", "policy": "use", "addresses": ["10.0.0.300"]}], "node a:"),
        ([{"name": "a", "policy": "use", "addresses": ["10.0.0.1/24"]}], "has host bits set"),
        (
            [{"name": "a", "policy": "block", "addresses": ["10.0.0.1"]}],
            "policy 'block' is not one of",
        ),
        (
            [{"name": "a", "policy": "use", "addresses": ["10.0.0.1"], "macs": ["zz"]}],
            "is not a MAC",
        ),
        ([{"name": "bad name", "addresses": []}], "node name 'bad name'"),
        (
            [{"name": "a", "addresses": ["10.0.0.1"]}, {"name": "a", "addresses": ["10.0.0.2"]}],
            "node a appears twice",
        ),
        (
            [
                {"name": "a", "addresses": ["10.0.0.1"], "macs": ["02:00:00:00:00:01"]},
                {"name": "b", "addresses": ["10.0.0.2"], "macs": ["02-00-00-00-00-01"]},
            ],
            "MAC 02:00:00:00:00:01 belongs to both a and b",
        ),
    ],
)
def test_bad_inventories_are_rejected_with_one_line(
    nodes: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(BadInputError) as caught:
        inventory_from_json(_doc(nodes))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object with a 'nodes' list"),
        (_doc([], mps_ports=["4433"]), "mps_ports must be a list of integers"),
        (_doc([], mps_ports=[70000]), "MPS port 70000 is out of range"),
        (_doc([], controllers=["nope"]), "controllers[0]"),
        (_doc([], controllers=["10.0.0.0/24", "10.0.0.2"]), "controller addresses 10.0.0.0/24 and"),
    ],
)
def test_malformed_documents(data: bytes, message: str) -> None:
    with pytest.raises(BadInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        inventory_from_json(data)


def test_ignore_nodes_may_lack_addresses_and_policy_defaults_to_ignore() -> None:
    inventory = inventory_from_json(_doc([{"name": "x"}]))
    assert inventory.nodes[0].policy is NodePolicy.IGNORE
    assert inventory.nodes[0].addresses == ()


def test_normalisation_sorts_and_lowercases() -> None:
    inventory = inventory_from_json(
        _doc(
            [
                {
                    "name": "z",
                    "policy": "use",
                    "addresses": ["2001:db8::1", "10.0.0.9", "10.0.0.2"],
                    "macs": ["02-AA-00-00-00-01"],
                },
                {"name": "b", "policy": "neutralize", "addresses": ["10.1.0.0/16"]},
            ],
            controllers=["10.9.0.2", "10.9.0.1"],
            mps_ports=[8443, 4433, 8443],
        )
    )
    assert [n.name for n in inventory.nodes] == ["b", "z"]
    assert [str(a) for a in inventory.nodes[1].addresses] == [
        "10.0.0.2/32",
        "10.0.0.9/32",
        "2001:db8::1/128",
    ]
    assert inventory.nodes[1].macs == ("02:aa:00:00:00:01",)
    assert [str(c) for c in inventory.controllers] == ["10.9.0.1/32", "10.9.0.2/32"]
    assert inventory.mps_ports == (4433, 8443)
    assert inventory.node_for(ipaddress.ip_address("10.1.2.3")).name == "b"
    assert inventory.node_for(ipaddress.ip_address("192.0.2.1")).policy is NodePolicy.IGNORE


@given(
    st.lists(
        st.tuples(st.integers(0, 255), st.integers(22, 32)),
        min_size=0,
        max_size=8,
    )
)
def test_overlap_check_agrees_with_brute_force(specs: list[tuple[int, int]]) -> None:
    nets = [
        ipaddress.ip_network(f"10.0.{third}.0/{prefix}", strict=False) for third, prefix in specs
    ]
    nodes = [
        NetblockNode(name=f"n{i}", policy=NodePolicy.IGNORE, addresses=(net,))
        for i, net in enumerate(nets)
    ]
    clash = any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    if clash:
        with pytest.raises(BadInputError, match=r"overlaps|is the same address as"):
            build_inventory(nodes)
    else:
        assert len(build_inventory(nodes).nodes) == len(nodes)
