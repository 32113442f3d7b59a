"""Plain text for people and JSON for programs, without click or rich.

The firmware commands print through this module so that they can run on the lean path
(:mod:`mewarden.cli.firmware_lean`), where importing click or rich would cost more than the
whole command; the click commands call the same functions, so both paths print the same bytes.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, indent: str = "  "
) -> list[str]:
    """Rows as aligned columns under their headers (the last column is not padded)."""
    body = [list(row) for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False)]
        return (indent + "  ".join([*padded, cells[-1]])).rstrip()

    return [line(headers), *(line(r) for r in body)]


def write_lines(lines: Iterable[str]) -> None:
    """Print ``lines`` on stdout."""
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def write_json(value: Any) -> None:
    """Print ``value`` as the JSON document of :func:`mewarden.jsonutil.dumps`."""
    from mewarden.jsonutil import dumps

    sys.stdout.write(dumps(value) + "\n")


def yes_no(value: bool | None) -> str:
    """yes / no / unknown."""
    return {True: "yes", False: "no", None: "unknown"}[value]
