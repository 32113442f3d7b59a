"""Alembic migrations for org state, run programmatically (see :mod:`mewarden.state.db`)."""
