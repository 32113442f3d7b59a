"""The heal suite reuses the state suite's throw-away PostgreSQL cluster fixture."""

from __future__ import annotations

from tests.state.conftest import db_url, pg_cluster

__all__ = ["db_url", "pg_cluster"]
