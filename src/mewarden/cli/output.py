"""Shared CLI output: ``--json`` handling, rich tables, and progress for long work.

rich is imported only when something is printed for people (a ``--json`` run never loads it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mewarden.jsonutil import dumps

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")


def console() -> Console:
    """A rich console on stdout (plain when stdout is not a terminal)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def emit(value: Any, *, as_json: bool, render: Callable[[Console], None]) -> None:
    """Print ``value`` as JSON, or call ``render`` to print it for people."""
    if as_json:
        click.echo(dumps(value))
    else:
        render(console())


def track(items: Iterable[T], *, total: int, description: str) -> Iterator[T]:
    """Yield ``items`` with a progress bar on stderr (silent when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        disable=not sys.stderr.isatty(),
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
