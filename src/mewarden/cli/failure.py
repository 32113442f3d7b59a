"""How any command ends on an error: one line on stderr and the error's exit code.

Shared by the click entry (:mod:`mewarden.cli.main`) and the lean firmware path
(:mod:`mewarden.cli.firmware_lean`), which must fail exactly alike and cannot import click.
"""

from __future__ import annotations

import os
import sys

from mewarden.errors import MewardenError

INTERRUPTED = 130


def database_error_of(exc: BaseException) -> MewardenError | None:
    """A driver error that escaped the store, as a one-line org-state error (never the SQL)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")  # not imported unless a command used the DB
    if sa_exc is None or not isinstance(exc, sa_exc.DBAPIError):
        return None
    from mewarden.state.store_base import database_error

    return database_error(exc)


def report_failure(exc: BaseException) -> int:
    """Print ``exc`` for a person and return the exit code (re-raise bugs under MEWARDEN_DEBUG)."""
    if isinstance(exc, KeyboardInterrupt):
        print("mewarden: interrupted", file=sys.stderr)
        return INTERRUPTED
    known = exc if isinstance(exc, MewardenError) else database_error_of(exc)
    if known is not None:
        print(f"mewarden: error: {known}", file=sys.stderr)
        return known.exit_code
    if os.environ.get("MEWARDEN_DEBUG"):
        raise exc
    print(
        f"mewarden: internal error: {type(exc).__name__}: {exc} "
        "(a bug; set MEWARDEN_DEBUG=1 for a traceback)",
        file=sys.stderr,
    )
    return 1
