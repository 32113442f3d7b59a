"""Entry point of the ``mewarden`` command.

Sub-commands live in sibling modules named ``cmd_<name>.py``; each defines a click command or
group called ``command``. They are discovered by file name and imported only when invoked, so
``mewarden firmware inspect`` never pays for importing SQLAlchemy or httpx.

Errors: a :class:`~mewarden.errors.MewardenError` becomes one line on stderr and its exit code;
anything else is a bug, reported on one line with exit code 1 (``MEWARDEN_DEBUG=1`` re-raises it
to show the traceback).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import Any

import click

from mewarden import __version__
from mewarden.cli.failure import report_failure

_PREFIX = "cmd_"


def _command_modules() -> dict[str, str]:
    package_dir = os.path.dirname(__file__)
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules([package_dir]):
        if info.name.startswith(_PREFIX):
            found[info.name[len(_PREFIX) :].replace("_", "-")] = info.name
    return found


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_command_modules()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        eager = super().get_command(ctx, cmd_name)
        if eager is not None:
            return eager
        module_name = _command_modules().get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"{__package__}.{module_name}")
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name} defines no click command named 'command'")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mewarden")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Structured log verbosity (logs go to stderr).",
)
@click.option("--log-json", is_flag=True, help="Write logs as JSON lines.")
def cli(log_level: str, log_json: bool) -> None:
    """Carry out an organization's Intel ME policy (use, neutralize, ignore) on a fleet."""
    from mewarden.log import set_log_options

    set_log_options(level=log_level, json_lines=log_json)  # structlog loads when first used


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every error into one line and an exit code."""
    try:
        result: Any = cli.main(args=argv, prog_name="mewarden", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("mewarden: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (Exception, KeyboardInterrupt) as exc:  # every other failure: one line, its code
        sys.exit(report_failure(exc))
    sys.exit(result if isinstance(result, int) else 0)
