"""Org-state nodes to a netblock inventory (pure, with stand-in node values)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mewarden.errors import BadInputError
from mewarden.netblock.from_state import host_part, inventory_from_state
from mewarden.netblock.inventory import NodePolicy


@dataclass(frozen=True)
class FakeNode:
    name: str
    effective_policy: str
    amt_host: str | None = None
    agent_address: str | None = None
    macs: tuple[str, ...] = ()


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("10.0.0.5:9100", "10.0.0.5"),
        ("[2001:db8::5]:9100", "2001:db8::5"),
        ("2001:db8::5", "2001:db8::5"),
    ],
)
def test_host_part(text: str, host: str) -> None:
    assert host_part(text) == host


def test_addresses_macs_and_policies_carry_over() -> None:
    inventory = inventory_from_state(
        [
            FakeNode("b", "neutralize", "10.0.0.3", "10.0.1.3:9100", ("02-AA-00-00-00-03",)),
            FakeNode("a", "use", "10.0.0.2", "10.0.0.2"),
            FakeNode("c", "ignore"),
        ],
        controllers=["10.0.9.2"],
        mps_ports=[443],
    )
    a, b, c = inventory.nodes
    assert (a.name, a.policy, [str(x) for x in a.addresses]) == (
        "a",
        NodePolicy.USE,
        ["10.0.0.2/32"],
    )
    assert [str(x) for x in b.addresses] == ["10.0.0.3/32", "10.0.1.3/32"]
    assert b.macs == ("02:aa:00:00:00:03",)
    assert c.policy is NodePolicy.IGNORE
    assert c.addresses == ()
    assert inventory.mps_ports == (443,)


def test_state_errors_are_one_line() -> None:
    with pytest.raises(
        BadInputError, match=r"node x: AMT host 'amt\.example' is not an IP address"
    ):
        inventory_from_state([FakeNode("x", "use", "amt.example")])
    with pytest.raises(BadInputError, match="node y \\(policy use\\) has no address"):
        inventory_from_state([FakeNode("y", "use")])
    with pytest.raises(BadInputError, match="--controller"):
        inventory_from_state([], controllers=["ctl.example"])
