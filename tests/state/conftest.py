"""Fixtures for the state suite: every store test runs on SQLite and on a private PostgreSQL.

The PostgreSQL cluster is started once per session in a temporary directory on 127.0.0.1. initdb
refuses to run as root, so under root (CI) the cluster runs as the ``postgres`` system user via
``runuser``. Without the server binaries the PostgreSQL half skips (fails in CI).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mewarden.crypto.vault import OrgKey
from mewarden.state.db import migrate, open_engine
from mewarden.state.store import Store
from tests.support import missing

PG_BIN = Path(os.environ.get("MEWARDEN_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PgCluster:
    """A throw-away PostgreSQL cluster; :meth:`new_database` gives each test its own DB."""

    def __init__(self, root: Path, port: int, as_user: list[str]) -> None:
        self.root = root
        self.port = port
        self.as_user = as_user

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*self.as_user, str(PG_BIN / tool), *args], capture_output=True, check=True, timeout=120
        )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://mw@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def dump(self, url: str) -> bytes:
        database = url.rsplit("/", 1)[1]
        args = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "mw", "-d", database]
        return self.run("pg_dump", *args).stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_cluster() -> PgCluster:
    root = Path(tempfile.mkdtemp(prefix="mewarden-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = PgCluster(root, _free_port(), as_user)
    data = str(root / "data")
    cluster.run("initdb", "-D", data, "-U", "mw", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-h 127.0.0.1 -p {cluster.port} -k {root} -c fsync=off -c max_connections=60"
    cluster.run("pg_ctl", "-D", data, "-o", options, "-l", str(root / "log"), "-w", "start")
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster | None]:
    if not (PG_BIN / "initdb").is_file():
        yield None
        return
    cluster = _start_cluster()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.run("pg_ctl", "-D", str(cluster.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_cluster: PgCluster | None) -> str:
    """A fresh, empty database URL on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'org.db'}"
    if pg_cluster is None:
        missing(f"PostgreSQL server binaries not found in {PG_BIN} (package postgresql)")
    assert pg_cluster is not None
    return pg_cluster.new_database()


@pytest.fixture
def org_key() -> OrgKey:
    return OrgKey.generate()


@pytest.fixture
def store(db_url: str, org_key: OrgKey) -> Iterator[Store]:
    """A migrated, initialized store bound to ``org_key``."""
    engine = open_engine(db_url, create_dir=True)
    migrate(engine)
    result = Store(engine, actor="test")
    result.initialize(org_key)
    yield result
    engine.dispose()
