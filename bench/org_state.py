"""Org-state throughput: SQLite (embedded default) against PostgreSQL 15 (several controllers).

For N nodes: bulk registration, N `use` enrollments through the real workflow against an
in-memory device (so the database is what is measured), `fleet status`, and `rotate-key`.
Prints seconds per step and the PostgreSQL/SQLite ratio. PostgreSQL is a private cluster on
127.0.0.1 (fsync on, as a user would run it); skipped when its binaries are missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mewarden.amt.network import EthernetChange
from mewarden.crypto.vault import OrgKey
from mewarden.secret import Secret
from mewarden.state.db import migrate, open_engine
from mewarden.state.enroll import AmtObservation, AmtProfile, enroll_use
from mewarden.state.fleet import fleet_status
from mewarden.state.models import NodeSpec, Policy
from mewarden.state.store import Store

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NODES = int(os.environ.get("BENCH_NODES", "1000"))


class Device:
    """Answers instantly, so only org state is timed."""

    def __init__(self, index: int) -> None:
        self.index = index

    async def read_identity(self) -> AmtObservation:
        return AmtObservation(
            uuid=None,
            amt_version="16.1.30",
            build_number="2307",
            sku="16392",
            digest_realm=f"Digest:{self.index:032X}",
            realm_valid=True,
            macs=(
                f"02:00:{self.index >> 16 & 0xFF:02x}:00:{self.index >> 8 & 0xFF:02x}:"
                f"{self.index & 0xFF:02x}",
            ),
            consent_required=True,
        )

    async def tls_fingerprint(self) -> str | None:
        return f"{self.index:064x}"

    async def apply_profile(self, profile: AmtProfile) -> None:
        return None

    async def apply_network(self, change: EthernetChange) -> None:
        return None

    async def set_admin_password(self, password: Secret) -> None:
        return None


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def run(url: str) -> dict[str, float]:
    engine = open_engine(url, create_dir=True)
    migrate(engine)
    store = Store(engine, actor="bench")
    key = OrgKey.generate()
    store.initialize(key)
    specs = [
        NodeSpec(
            name=f"n{i:05d}",
            amt_host=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            amt_tls=True,
            policy=Policy.USE,
        )
        for i in range(NODES)
    ]

    async def enroll_all() -> None:
        for i, spec in enumerate(specs):
            await enroll_use(store, key, spec.name, Device(i), AmtProfile())

    result = {
        "register (one transaction)": _timed(lambda: store.add_nodes(specs)),
        "enroll use (per node: ~8 short transactions)": _timed(lambda: asyncio.run(enroll_all())),
        "fleet status": _timed(lambda: fleet_status(store)),
        "rotate-key (one transaction)": _timed(lambda: store.rotate_key(key, OrgKey.generate())),
    }
    engine.dispose()
    return result


def _start_pg(root: Path) -> tuple[str, list[str]]:
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = str(root / "data")
    subprocess.run(
        [*as_user, str(PG_BIN / "initdb"), "-D", data, "-U", "mw", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            str(PG_BIN / "pg_ctl"),
            "-D",
            data,
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {root}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return f"postgresql+psycopg://mw@127.0.0.1:{port}/postgres", as_user


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = {"sqlite": run(f"sqlite:///{Path(tmp) / 'org.db'}")}
    if (PG_BIN / "initdb").is_file():
        root = Path(tempfile.mkdtemp(prefix="mewarden-bench-pg-", dir="/tmp"))
        url, as_user = _start_pg(root)
        try:
            results["postgresql"] = run(url)
        finally:
            subprocess.run(
                [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"],
                check=False,
                capture_output=True,
            )
            shutil.rmtree(root, ignore_errors=True)
    print(f"org state, {NODES} nodes (seconds; ratio = PostgreSQL / SQLite)")
    print(f"{'step':<46} {'sqlite':>8} {'postgresql':>11} {'ratio':>7}")
    for step, seconds in results["sqlite"].items():
        pg = results.get("postgresql", {}).get(step)
        pg_text = f"{pg:11.2f}" if pg is not None else f"{'-':>11}"
        ratio = f"{pg / seconds:7.2f}" if pg is not None and seconds else f"{'-':>7}"
        print(f"{step:<46} {seconds:8.2f} {pg_text} {ratio}")
    per_node = results["sqlite"]["enroll use (per node: ~8 short transactions)"] / NODES
    print(f"sqlite enroll bookkeeping per node: {per_node * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
