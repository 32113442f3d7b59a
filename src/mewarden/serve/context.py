"""What every request handler of ``mewarden serve`` shares: the org state, the vault, settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine

from mewarden.secret import Secret
from mewarden.state.store import Clock, Store, utc_now

CredentialSource = Callable[[str], Secret]
"""Node name -> its AMT admin password, unsealed from the vault (never sent to a browser)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeSettings:
    """Knobs of one ``mewarden serve`` process."""

    tls: bool = False
    """Served over TLS: cookies get ``Secure`` and the ``__Host-`` prefix, and HSTS is sent."""
    session_ttl: timedelta = timedelta(hours=8)
    login_failures_before_lockout: int = 5
    lockout: timedelta = timedelta(minutes=15)
    login_attempts_per_minute: int = 20
    """Per client address, whatever the user name (slows password spraying)."""
    amt_timeout_s: float = 10.0
    amt_concurrency: int = 32
    event_poll_s: float = 0.25


@dataclass(slots=True, kw_only=True)
class ServeContext:
    engine: Engine
    settings: ServeSettings = field(default_factory=ServeSettings)
    credentials: CredentialSource | None = None
    """None when serve runs without the org key: AMT actions then answer a vault error."""
    clock: Clock = utc_now

    def store(self, actor: str = "serve") -> Store:
        return Store(self.engine, actor=actor, clock=self.clock)

    @property
    def session_cookie(self) -> str:
        return "__Host-mewarden" if self.settings.tls else "mewarden_session"
