"""Test org for ``mewarden serve``: SQLite state with users of each role, tokens, nodes, and the
app behind Starlette's TestClient (or a real uvicorn server on this helper's loopback range)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mewarden.emulate.fleet import EmulatedFleet
from mewarden.secret import Secret
from mewarden.serve.app import create_app
from mewarden.serve.context import ServeContext, ServeSettings
from mewarden.serve.identity import hash_password, mint_token
from mewarden.state import users
from mewarden.state.db import migrate, open_engine
from mewarden.state.models import NodeSpec, Policy
from mewarden.state.store import Store
from tests.amt.emulated import FAST, PASSWORD, ThreadedEmulator

PASSWORDS = {"ada": "ada-admin-pass-1", "otto": "otto-operator-1", "vera": "vera-viewer-pass"}
ROLES = {"ada": "admin", "otto": "operator", "vera": "viewer"}


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Org:
    store: Store
    clock: FakeClock
    tokens: dict[str, str] = field(default_factory=dict)

    def context(self, *, tls: bool = False, vault: bool = True) -> ServeContext:
        settings = ServeSettings(tls=tls, event_poll_s=0.05, amt_timeout_s=3.0)
        creds = (lambda _name: Secret(PASSWORD)) if vault else None
        return ServeContext(
            engine=self.store.engine, settings=settings, credentials=creds, clock=self.clock
        )

    def app(self, **kwargs: bool) -> FastAPI:
        return create_app(self.context(**kwargs))

    def client(self, **kwargs: bool) -> TestClient:
        base = "https://127.18.0.1" if kwargs.get("tls") else "http://127.18.0.1"
        return TestClient(self.app(**kwargs), base_url=base, raise_server_exceptions=False)

    def token(self, role: str, *, expires: timedelta | None = None) -> tuple[str, str]:
        new = mint_token()
        expires_at = self.clock() + expires if expires else None
        users.add_token(
            self.store,
            new.token_id,
            new.secret_sha256,
            role=role,
            description="t",
            expires_at=expires_at,
        )
        return new.token_id, new.text


def make_org(tmp: Path, *, nodes: int = 3) -> Org:
    clock = FakeClock()
    engine = open_engine(f"sqlite:///{tmp / 'org.db'}", create_dir=True)
    migrate(engine)
    store = Store(engine, actor="test", clock=clock)
    for name, role in ROLES.items():
        users.add_user(store, name, role, hash_password(PASSWORDS[name]))
    store.add_group("rack1", Policy.USE)
    for i in range(nodes):
        store.add_node(NodeSpec(name=f"n{i}", group="rack1", amt_host=f"127.18.9.{i + 1}"))
    org = Org(store=store, clock=clock)
    for role in ("viewer", "operator", "admin"):
        org.tokens[role] = org.token(role)[1]
    return org


def login(client: TestClient, name: str) -> str:
    """Log ``name`` in through the JSON login; returns the session's CSRF token."""
    answer = client.post("/api/v1/login", json={"user": name, "password": PASSWORDS[name]})
    assert answer.status_code == 200, answer.text
    csrf: str = answer.json()["csrf"]
    return csrf


class Emulator(ThreadedEmulator):
    """The threaded emulator on a block of this suite's loopback range (127.18.x.1)."""

    async def _serve(self, nodes: int, tls: bool, timing: object) -> None:
        self._stop = asyncio.Event()
        for _ in range(20):
            base = f"127.18.{random.randrange(10, 250)}.1"
            try:
                fleet_cm = EmulatedFleet.start(
                    nodes=nodes, base_ip=base, tls=tls, password=PASSWORD, timing=FAST
                )
                async with fleet_cm as fleet:
                    self._fleet = fleet
                    self._ready.set()
                    await self._stop.wait()
                return
            except OSError:
                continue
        raise RuntimeError("no free 127.18.x.1 block")


def _fixed(values: dict[str, object], _node: object) -> dict[str, object]:
    return values


def attach_emulator(org: Org, emulator: ThreadedEmulator) -> list[str]:
    """Point nodes n0.. at the emulated devices; returns their names."""
    names = []
    for i, dev in enumerate(emulator.fleet.devices):
        name = f"n{i}"
        address: dict[str, object] = {"amt_host": dev.address, "amt_port": dev.http_port}
        org.store.update_node(name, functools.partial(_fixed, address), "node.test-address")
        names.append(name)
    return names


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(app: FastAPI, host: str = "127.18.0.1") -> Iterator[str]:
    """The app under a real uvicorn server in a thread; yields its base URL."""
    port = free_port(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
