"""Evidence documents from the network (pure): what a scan saw and what the ruleset covers.

``scan --record`` turns the reports of one scan into one ``network-scan`` document per node
(every address of the node, the AMT ports that answered, RMCP); ``netblock apply``/``diff`` from
org state give each neutralize node a ``netblock-state`` document: whether the rendered ruleset
covers it (its addresses are in the neutralize sets) and whether the live tables equal the
rendered ones (``netblock diff`` empty). The documents' JSON bodies carry ``observed_at``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mewarden.netblock.inventory import NetblockInventory, NodePolicy
from mewarden.netblock.scan import TargetReport


def scan_documents(
    reports: Iterable[TargetReport], nodes: set[str], *, now: datetime, vantage: str
) -> dict[str, dict[str, Any]]:
    """One document body per node in ``nodes`` that the scan reached."""
    found: dict[str, dict[str, Any]] = {}
    for report in reports:
        if report.node not in nodes:
            continue
        doc = found.setdefault(
            report.node,
            {
                "observed_at": now.isoformat(),
                "vantage": vantage,
                "addresses": [],
                "open_amt_ports": [],
                "rmcp": False,
                "cve_2017_5689": [],
                "findings": [],
            },
        )
        doc["addresses"].append(report.address)
        doc["open_amt_ports"] = sorted({*doc["open_amt_ports"], *report.open_amt_ports})
        doc["rmcp"] = doc["rmcp"] or report.rmcp
        doc["cve_2017_5689"].append(report.cve_2017_5689.value)
        doc["findings"].extend(report.findings)
    return found


def netblock_documents(
    inventory: NetblockInventory,
    ruleset: str,
    *,
    now: datetime,
    event: str,
    table: str,
    diff_empty: bool,
) -> dict[str, dict[str, Any]]:
    """One document body per neutralize node of ``inventory``."""
    digest = hashlib.sha256(ruleset.encode("utf-8")).hexdigest()
    found = {}
    for node in inventory.with_policy(NodePolicy.NEUTRALIZE):
        addresses = [str(net) for net in node.addresses]
        covered = bool(addresses or node.macs) and all(a in ruleset for a in addresses)
        found[node.name] = {
            "observed_at": now.isoformat(),
            "event": event,
            "table": table,
            "covered": covered,
            "diff_empty": diff_empty,
            "addresses": addresses,
            "macs": list(node.macs),
            "ruleset_sha256": digest,
        }
    return found
