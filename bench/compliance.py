"""Compliance from evidence over a fleet: recording evidence, ``fleet status``, ``fleet report``.

N neutralize nodes (``BENCH_NODES``, default 10,000) on SQLite, each with the four pieces of
evidence (neutralize report, host probe, network scan, netblock state). Times: recording a scan's
documents in one transaction (``record_evidence``, what ``scan --record`` and ``netblock apply``
use) against one ``attach_document`` per node (the peer: one commit each, measured on the first
1,000 and scaled); ``fleet status`` (the verdicts) and its drift events; the audit report and its
HTML. Prints seconds and the ratio against the per-document peer.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mewarden.cli.fleet_report_html import render_html
from mewarden.crypto.vault import OrgKey
from mewarden.state.audit_report import audit_report
from mewarden.state.db import migrate, open_engine
from mewarden.state.evidence import EvidenceRecord, load_rules, record_evidence, record_transitions
from mewarden.state.fleet import fleet_status
from mewarden.state.models import DocumentKind, NodeSpec, Policy
from mewarden.state.status import NodeStatus
from mewarden.state.store import Store

NODES = int(os.environ.get("BENCH_NODES", "10000"))
PEER_SAMPLE = min(NODES, 1000)


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def _bodies(index: int) -> dict[DocumentKind, str]:
    now = "2026-12-01T12:00:00+00:00"
    report = {
        "kind": "host-neutralize",
        "outcome": "written",
        "observed_at": "2026-11-01T00:00:00+00:00",
        "verification": {"strap_set": True, "chip_readback": True},
    }
    return {
        DocumentKind.FIRMWARE_NEUTRALIZE: json.dumps(report),
        DocumentKind.HOST_PROBE: json.dumps({"schema_version": 1, "verdict": "hap-disabled"}),
        DocumentKind.NETWORK_SCAN: json.dumps(
            {
                "observed_at": now,
                "open_amt_ports": [16992] if index % 100 == 0 else [],
                "rmcp": False,
            }
        ),
        DocumentKind.NETBLOCK_STATE: json.dumps(
            {"observed_at": now, "covered": True, "diff_empty": True}
        ),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'org.db'}", create_dir=True)
        migrate(engine)
        store = Store(engine, actor="bench")
        store.initialize(OrgKey.generate())
        names = [f"node{i:05d}" for i in range(NODES)]
        store.add_nodes([NodeSpec(name=n, policy=Policy.NEUTRALIZE) for n in names])
        bodies = [_bodies(i) for i in range(NODES)]
        first = DocumentKind.FIRMWARE_NEUTRALIZE
        peer = _timed(
            lambda: [
                store.attach_document(n, first, "bench", b[first])
                for n, b in zip(names[:PEER_SAMPLE], bodies, strict=False)
            ]
        ) * (NODES / PEER_SAMPLE)
        rows: list[tuple[str, float, str]] = [
            ("attach one document per node (peer, scaled)", peer, "1.00")
        ]
        for kind in (DocumentKind.FIRMWARE_NEUTRALIZE, DocumentKind.HOST_PROBE,
                     DocumentKind.NETWORK_SCAN, DocumentKind.NETBLOCK_STATE):  # fmt: skip
            records = [EvidenceRecord(node=n, kind=kind, source="bench", body=b[kind])
                       for n, b in zip(names, bodies, strict=True)]  # fmt: skip
            seconds = _timed(functools.partial(record_evidence, store, records))
            rows.append(
                (
                    f"record_evidence {kind.value} (one transaction)",
                    seconds,
                    f"{seconds / peer:.2f}",
                )
            )
        statuses: list[NodeStatus] = []
        seconds = _timed(lambda: statuses.extend(fleet_status(store)))
        rows.append(("fleet status (verdicts)", seconds, "-"))
        rows.append(
            ("drift events (first run)", _timed(lambda: record_transitions(store, statuses)), "-")
        )
        report = audit_report(store, rules=load_rules(store), now=store.clock())
        rows.append(
            (
                "fleet report (data)",
                _timed(lambda: audit_report(store, rules=load_rules(store), now=store.clock())),
                "-",
            )
        )
        rows.append(("fleet report (HTML)", _timed(lambda: render_html(report)), "-"))
        engine.dispose()
    print(f"compliance over {NODES} neutralize nodes, 4 evidence documents each (SQLite)")
    print(f"{'step':52} {'seconds':>9} {'vs peer':>8}")
    for name, seconds, ratio in rows:
        print(f"{name:52} {seconds:9.2f} {ratio:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
