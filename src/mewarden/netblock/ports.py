"""The ports AMT uses (reference live-me-and-network.md B1; Intel/CERT INTEL-SA-00075 list).

16992/16993 WS-MAN and WebUI (HTTP/TLS), 16994/16995 redirection (SOL, IDE-R, KVM), 5900 plain
VNC KVM when enabled, 623/664 ASF RMCP and secure RMCP / DMTF DASH (UDP and TCP). Outbound CIRA
goes to the MPS, 4433 by default (configurable per org).
"""

from __future__ import annotations

#: Inbound TCP ports, as (first, last) ranges in ascending order.
AMT_TCP_RANGES: tuple[tuple[int, int], ...] = ((623, 623), (664, 664), (5900, 5900), (16992, 16995))
#: Inbound UDP ports (RMCP, secure RMCP).
AMT_UDP_RANGES: tuple[tuple[int, int], ...] = ((623, 623), (664, 664))
#: TCP ports the scanner probes for an open AMT service.
SCAN_TCP_PORTS: tuple[int, ...] = (16992, 16993, 16994, 16995, 5900)
#: Port of the host agent (not AMT): netblock must never block it.
HOST_AGENT_PORT = 9100
RMCP_PORT = 623


def nft_ports(ranges: tuple[tuple[int, int], ...]) -> str:
    """``623, 664, 16992-16995`` for an nft set."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def multiport(ranges: tuple[tuple[int, int], ...]) -> str:
    """``623,664,16992:16995`` for iptables ``-m multiport``."""
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def as_ranges(ports: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Single ports as degenerate ranges (the MPS ports)."""
    return tuple((p, p) for p in ports)
