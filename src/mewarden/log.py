"""Structured logging set-up (structlog), shared by the CLI and long-running services.

Logs go to stderr so that ``--json`` output on stdout stays machine-readable. Secrets must never
be passed to a logger; values known to be secret are typed :class:`mewarden.secret.Secret`,
whose ``repr`` is redacted.

Set-up is lazy: the CLI only *records* ``--log-level``/``--log-json`` (:func:`set_log_options`);
structlog (and the asyncio and logging stacks it pulls in, ~60 ms) is imported and configured by
the first :func:`get_logger`, so commands that never log (``firmware inspect``) never load it.
Code that logs takes its loggers from :func:`get_logger`, never from ``structlog`` directly.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    import structlog


@dataclass(slots=True)
class _Options:
    level: str = "warning"
    json_lines: bool = False
    configured: bool = False


_OPTIONS = _Options()


class _CurrentStderr(io.TextIOBase):
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured.

    Cached loggers outlive a swapped stderr (click's test runner, pytest's capture, a daemon
    redirecting its output); writing to the stream they saw first would hit a closed file.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def set_log_options(*, level: str = "warning", json_lines: bool = False) -> None:
    """Remember the log options; structlog is configured with them when first needed."""
    _OPTIONS.level, _OPTIONS.json_lines = level, json_lines
    if _OPTIONS.configured:  # a logger exists already: apply the new options now
        configure_logging(level=level, json_lines=json_lines)


def get_logger(name: str, **initial: Any) -> Any:
    """A structlog logger (lazy proxy), configuring structlog with the recorded options first."""
    import structlog

    if not _OPTIONS.configured:
        configure_logging(level=_OPTIONS.level, json_lines=_OPTIONS.json_lines)
    return structlog.get_logger(name, **initial)


def configure_logging(*, level: str = "warning", json_lines: bool = False) -> None:
    """Configure structlog for the process (imports it)."""
    import logging

    import structlog

    _OPTIONS.level, _OPTIONS.json_lines, _OPTIONS.configured = level, json_lines, True
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
