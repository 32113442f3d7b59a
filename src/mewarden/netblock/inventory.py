"""What netblock needs to know about the org: nodes with their policy, addresses and MACs.

:class:`NetblockInventory` is a pure value. It is loaded from a JSON file (``--inventory``)::

    {"nodes": [{"name": "n1", "policy": "use", "addresses": ["10.0.1.2"],
                "macs": ["02:00:00:00:01:02"]}],
     "controllers": ["10.0.0.2"], "mps_ports": [4433]}

Validation happens once, here, so every renderer can trust its input: a use/neutralize node needs
an address, no address may belong to two nodes (or overlap another node's network), MACs must be
well formed, ports in range.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mewarden.errors import BadInputError

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Default port of CIRA (AMT dials out to a Management Presence Server), per the MPS docs.
DEFAULT_MPS_PORTS = (4433,)

_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class NodePolicy(enum.StrEnum):
    """The org's ME policy for a node."""

    USE = "use"
    NEUTRALIZE = "neutralize"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True, kw_only=True)
class NetblockNode:
    """One node: its policy, host/AMT addresses (hosts or networks) and NIC MACs."""

    name: str
    policy: NodePolicy
    addresses: tuple[IpNetwork, ...] = ()
    macs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NetblockInventory:
    """Nodes (sorted by name), the controllers' addresses, and the configured MPS ports."""

    nodes: tuple[NetblockNode, ...]
    controllers: tuple[IpNetwork, ...] = ()
    mps_ports: tuple[int, ...] = DEFAULT_MPS_PORTS

    def with_policy(self, policy: NodePolicy) -> tuple[NetblockNode, ...]:
        """The nodes that have ``policy``, in name order."""
        return tuple(n for n in self.nodes if n.policy is policy)

    def node_for(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> NetblockNode:
        """The node owning ``address``, or an ignore placeholder named after the address."""
        for node in self.nodes:
            if any(address in net for net in node.addresses):
                return node
        return NetblockNode(name=str(address), policy=NodePolicy.IGNORE)


def parse_network(text: object, *, where: str) -> IpNetwork:
    """An address or CIDR network; host bits set in a CIDR are an error."""
    if not isinstance(text, str):
        raise BadInputError(f"{where}: address must be a string, not {type(text).__name__}")
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise BadInputError(f"{where}: {exc}") from None


def normalize_mac(text: object, *, where: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` in lower case (dashes accepted on input)."""
    if not isinstance(text, str) or not _MAC.match(text.strip().lower()):
        raise BadInputError(f"{where}: {text!r} is not a MAC address like 02:00:5e:00:53:01")
    return text.strip().lower().replace("-", ":")


def sorted_networks(nets: Iterable[IpNetwork]) -> tuple[IpNetwork, ...]:
    """IPv4 before IPv6, then by address: the order every renderer uses."""
    return tuple(sorted(set(nets), key=lambda n: (n.version, n.network_address, n.prefixlen)))


def build_inventory(
    nodes: Iterable[NetblockNode],
    controllers: Iterable[IpNetwork] = (),
    mps_ports: Iterable[int] = DEFAULT_MPS_PORTS,
) -> NetblockInventory:
    """Validate and normalise (sort) an inventory; raises :class:`BadInputError`."""
    ordered = tuple(sorted(nodes, key=lambda n: n.name))
    _check_names(ordered)
    for node in ordered:
        if node.policy is not NodePolicy.IGNORE and not node.addresses:
            raise BadInputError(
                f"node {node.name} (policy {node.policy}) has no address: "
                "netblock cannot block or allow what it cannot address"
            )
    _check_overlaps(ordered)
    wanted = sorted_networks(controllers)
    for i, net in enumerate(wanted):
        for other in wanted[i + 1 :]:
            if net.version == other.version and net.overlaps(other):
                raise BadInputError(f"controller addresses {net} and {other} overlap")
    ports = tuple(sorted(set(mps_ports)))
    for port in ports:
        if not 1 <= port <= 65535:
            raise BadInputError(f"MPS port {port} is out of range 1-65535")
    return NetblockInventory(nodes=ordered, controllers=wanted, mps_ports=ports)


def _check_names(nodes: tuple[NetblockNode, ...]) -> None:
    seen: set[str] = set()
    for node in nodes:
        if not _NAME.match(node.name):
            raise BadInputError(
                f"node name {node.name!r} must be 1-63 letters, digits, '.', '_' or '-'"
            )
        if node.name in seen:
            raise BadInputError(f"node {node.name} appears twice in the inventory")
        seen.add(node.name)


def _check_overlaps(nodes: tuple[NetblockNode, ...]) -> None:
    """No address in two nodes: one sort and a sweep, O(n log n) for 10,000s of nodes."""
    owned = sorted(
        ((net, node.name) for node in nodes for net in node.addresses),
        key=lambda item: (item[0].version, item[0].network_address, -item[0].prefixlen),
    )
    widest: tuple[IpNetwork, str] | None = None  # of the current run, the one reaching furthest
    for net, name in owned:
        if widest is not None and widest[0].version == net.version and widest[0].overlaps(net):
            other, owner = widest
            what = "is the same address as" if net == other else "overlaps"
            raise BadInputError(f"address {net} of node {name} {what} {other} of node {owner}")
        if (
            widest is None
            or widest[0].version != net.version
            or int(net.broadcast_address) > int(widest[0].broadcast_address)
        ):
            widest = (net, name)
    _check_macs(nodes)


def _check_macs(nodes: tuple[NetblockNode, ...]) -> None:
    macs: dict[str, str] = {}
    for node in nodes:
        for mac in node.macs:
            if mac in macs and macs[mac] != node.name:
                raise BadInputError(f"MAC {mac} belongs to both {macs[mac]} and {node.name}")
            macs[mac] = node.name


def inventory_from_json(data: bytes, *, source: str = "inventory") -> NetblockInventory:
    """Parse and validate the JSON inventory document."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("nodes"), list):
        raise BadInputError(f"{source} must be a JSON object with a 'nodes' list")
    nodes = [_node_from_json(item, f"{source}: nodes[{i}]") for i, item in enumerate(doc["nodes"])]
    controllers = [
        parse_network(c, where=f"{source}: controllers[{i}]")
        for i, c in enumerate(_list(doc, "controllers", source))
    ]
    ports = _list(doc, "mps_ports", source, default=list(DEFAULT_MPS_PORTS))
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in ports):
        raise BadInputError(f"{source}: mps_ports must be a list of integers")
    return build_inventory(nodes, controllers, ports)


def _list(
    doc: Mapping[str, Any], key: str, source: str, default: list[Any] | None = None
) -> list[Any]:
    value = doc.get(key, [] if default is None else default)
    if not isinstance(value, list):
        raise BadInputError(f"{source}: {key} must be a list")
    return value


def _node_from_json(item: object, where: str) -> NetblockNode:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise BadInputError(f"{where} must be an object with a string 'name'")
    name = item["name"]
    try:
        policy = NodePolicy(item.get("policy", "ignore"))
    except ValueError:
        raise BadInputError(
            f"node {name}: policy {item.get('policy')!r} is not one of use, neutralize, ignore"
        ) from None
    addresses = [parse_network(a, where=f"node {name}") for a in _list(item, "addresses", where)]
    if len(set(addresses)) != len(addresses):
        raise BadInputError(f"node {name} lists the same address twice")
    macs = tuple(
        sorted({normalize_mac(m, where=f"node {name}") for m in _list(item, "macs", where)})
    )
    return NetblockNode(name=name, policy=policy, addresses=sorted_networks(addresses), macs=macs)
