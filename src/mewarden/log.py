"""Structured logging set-up (structlog), shared by the CLI and long-running services.

Logs go to stderr so that ``--json`` output on stdout stays machine-readable. Secrets must never
be passed to a logger; values known to be secret are typed :class:`mewarden.secret.Secret`,
whose ``repr`` is redacted.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import TextIO, cast

import structlog


class _CurrentStderr(io.TextIOBase):
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured.

    Cached loggers outlive a swapped stderr (click's test runner, pytest's capture, a daemon
    redirecting its output); writing to the stream they saw first would hit a closed file.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, level: str = "warning", json_lines: bool = False) -> None:
    """Configure structlog once for the process."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.WARNING)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
