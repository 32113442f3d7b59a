"""Shared CLI output: ``--json`` handling, rich tables, and progress for long work.

rich is imported only when something is printed for people (a ``--json`` run never loads it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mewarden.cli.text import write_json

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
        write_json(value)
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


# --- values for people ----------------------------------------------------------------------------
# Text output never shows JSON, Python's None/True or internal bookkeeping: nested values become
# labelled sub-tables, absent values "-", booleans yes/no; ``--json`` keeps everything as it is.

ABSENT = "-"


def cell(value: Any) -> str:
    """A scalar (or a list of scalars) as text: ``-`` when absent, ``yes``/``no`` for booleans."""
    if value is None or value in ("", [], ()):
        return ABSENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def label(key: str) -> str:
    """A JSON key as a column or row label (``lease_epoch`` -> ``lease epoch``)."""
    return key.replace("_", " ")


def _nested(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    )


def renderable(value: Any, hidden: Iterable[str] = ()) -> Any:
    """Text for a scalar; a sub-table for a mapping or a list of mappings (JSON-ready input)."""
    if isinstance(value, dict):
        return fields_table(value, hidden=hidden, nested=True)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return rows_table(value, hidden=hidden, nested=True)
    if _nested(value):
        from rich.console import Group

        return Group(*(renderable(v, hidden) for v in value))
    return cell(value)


def fields_table(
    data: dict[str, Any], *, title: str = "", hidden: Iterable[str] = (), nested: bool = False
) -> Any:
    """A mapping as labelled rows (nested values as sub-tables); ``hidden`` keys left out."""
    from rich import box
    from rich.table import Table

    skip = set(hidden)
    table = Table(title=title or None, show_header=False, box=None if nested else box.SQUARE,
                  padding=(0, 1, 0, 0) if nested else (0, 1))  # fmt: skip
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, item in data.items():
        if key not in skip:
            table.add_row(label(key), renderable(item, hidden))
    return table


def rows_table(
    rows: list[dict[str, Any]], *, title: str = "", hidden: Iterable[str] = (), nested: bool = False
) -> Any:
    """A list of mappings as a table with a column per key (in first-seen order)."""
    from rich import box
    from rich.table import Table

    skip = set(hidden)
    table = Table(title=title or None, box=box.SIMPLE if nested else box.SQUARE)
    columns = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in skip]
    for column in columns:
        table.add_column(label(column))
    for row in rows:
        table.add_row(*(renderable(row.get(c), hidden) for c in columns))
    return table


def render_value(out: Console, value: Any, *, title: str = "", hidden: Iterable[str] = ()) -> None:
    """Print any report value for people: tables for mappings and lists of mappings."""
    from mewarden.jsonutil import to_jsonable

    data = to_jsonable(value)
    if isinstance(data, dict):
        out.print(fields_table(data, title=title, hidden=hidden))
    elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        out.print(rows_table(data, title=title, hidden=hidden))
    elif isinstance(data, list) and not data:
        out.print(f"{title}: none" if title else "none")
    else:
        out.print(renderable(data, hidden))
