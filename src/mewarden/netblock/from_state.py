"""Build a :class:`NetblockInventory` from org state's node listing (pure).

Org state (``mewarden.state``) stores per node its effective policy, its AMT host, its host
agent address and its MACs; the controllers' addresses and the MPS ports are org settings
(``mewarden.state.netblock_settings``) merged with the run's flags by the caller. Every
address netblock renders must be an IP literal: a host name cannot go into a firewall rule, so
a node whose AMT host or agent is a name is a one-line error naming the node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol

from mewarden.errors import BadInputError
from mewarden.netblock.inventory import (
    DEFAULT_MPS_PORTS,
    IpNetwork,
    NetblockInventory,
    NetblockNode,
    NodePolicy,
    build_inventory,
    normalize_mac,
    parse_network,
)


class StateNode(Protocol):
    """The fields of ``mewarden.state.models.Node`` that netblock reads."""

    @property
    def name(self) -> str: ...
    @property
    def effective_policy(self) -> str: ...
    @property
    def amt_host(self) -> str | None: ...
    @property
    def agent_address(self) -> str | None: ...
    @property
    def macs(self) -> tuple[str, ...]: ...


def host_part(text: str) -> str:
    """``10.0.0.5`` from ``10.0.0.5``, ``10.0.0.5:9100``, ``[2001:db8::5]:9100``."""
    text = text.strip()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def _address(node: StateNode, field: str, value: str) -> IpNetwork:
    host = host_part(value)
    try:
        return ipaddress.ip_network(ipaddress.ip_address(host))
    except ValueError:
        raise BadInputError(
            f"node {node.name}: {field} {value!r} is not an IP address; firewall rules "
            "need addresses, so record the node's IP in org state"
        ) from None


def node_from_state(node: StateNode) -> NetblockNode:
    """One org-state node as netblock sees it (AMT host and agent address, deduplicated)."""
    addresses = {
        _address(node, field, value)
        for field, value in (("AMT host", node.amt_host), ("agent address", node.agent_address))
        if value
    }
    return NetblockNode(
        name=node.name,
        policy=NodePolicy(str(node.effective_policy)),
        addresses=tuple(sorted(addresses, key=lambda n: (n.version, n.network_address))),
        macs=tuple(sorted({normalize_mac(m, where=f"node {node.name}") for m in node.macs})),
    )


def inventory_from_state(
    nodes: Iterable[StateNode],
    controllers: Iterable[str] = (),
    mps_ports: Iterable[int] = DEFAULT_MPS_PORTS,
) -> NetblockInventory:
    """Validate and build the inventory (same checks as the JSON loader)."""
    return build_inventory(
        [node_from_state(n) for n in nodes],
        [parse_network(c, where="--controller") for c in controllers],
        mps_ports,
    )
