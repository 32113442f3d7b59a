"""The heal suite reuses the state suite's throw-away PostgreSQL cluster fixture."""

from __future__ import annotations

from tests.state.conftest import pg_cluster

__all__ = ["pg_cluster"]
