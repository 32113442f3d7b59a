"""One entry point for every ruleset format (pure)."""

from __future__ import annotations

import enum
from typing import Any

from mewarden.errors import BadInputError
from mewarden.jsonutil import dumps
from mewarden.netblock.inventory import NetblockInventory, NodePolicy
from mewarden.netblock.iptables import render_iptables
from mewarden.netblock.nftables import NftOptions, render_nftables
from mewarden.netblock.ports import AMT_TCP_RANGES, AMT_UDP_RANGES

JSON_SCHEMA_VERSION = 1


class RulesetFormat(enum.StrEnum):
    """Output formats of ``mewarden netblock render``."""

    NFTABLES = "nftables"
    IPTABLES = "iptables"
    IP6TABLES = "ip6tables"
    JSON = "json"

    @classmethod
    def parse(cls, text: str) -> RulesetFormat:
        """The format named ``text``; a one-line error for an unknown one."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(f.value for f in cls)
            raise BadInputError(f"unknown ruleset format {text!r} (known: {known})") from None


def render(
    inventory: NetblockInventory,
    fmt: RulesetFormat,
    *,
    table: str = "mewarden",
    bridge: str | None = None,
) -> bytes:
    """The ruleset for ``inventory`` in ``fmt``: same inventory, same bytes."""
    check_identifier(table, what="table name")
    if bridge is not None:
        check_identifier(bridge, what="bridge interface name")
    if fmt is RulesetFormat.NFTABLES:
        return render_nftables(inventory, NftOptions(table=table, bridge=bridge))
    if fmt is RulesetFormat.IPTABLES:
        return render_iptables(inventory, version=4)
    if fmt is RulesetFormat.IP6TABLES:
        return render_iptables(inventory, version=6)
    return (dumps(plan(inventory)) + "\n").encode("utf-8")


def check_identifier(text: str, *, what: str) -> None:
    """Table and interface names go into rulesets verbatim, so only safe characters pass."""
    if not text or len(text) > 15 or not all(c.isalnum() or c in "_-." for c in text):
        raise BadInputError(f"{what} {text!r} must be 1-15 letters, digits, '_', '-' or '.'")


def plan(inventory: NetblockInventory) -> dict[str, Any]:
    """The policy as data, for tools that program switches or other firewalls."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for policy in (NodePolicy.USE, NodePolicy.NEUTRALIZE):
        groups[policy.value] = [
            {
                "name": n.name,
                "addresses": [str(a) for a in n.addresses],
                "macs": list(n.macs),
            }
            for n in inventory.with_policy(policy)
        ]
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "ports": {
            "amt_tcp": [list(r) for r in AMT_TCP_RANGES],
            "amt_udp": [list(r) for r in AMT_UDP_RANGES],
            "mps_tcp": list(inventory.mps_ports),
        },
        "controllers": [str(c) for c in inventory.controllers],
        "groups": groups,
        "ignored": [n.name for n in inventory.with_policy(NodePolicy.IGNORE)],
    }
