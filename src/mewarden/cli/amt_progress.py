"""The ``--fleet`` progress bar: one step per finished device, as it finishes.

``mewarden.cli.output.track`` wraps an iterator, so a step is counted only when the *next* item
is asked for; driven from a completion callback that shows one device fewer than have finished.
This counts in the callback itself. It shows on a terminal (rich's rule, so ``TTY_COMPATIBLE=1``
or ``FORCE_COLOR`` turn it on elsewhere) and is transient: the summary table replaces it.
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class FleetProgress:
    """``with FleetProgress(total=n, description=...) as p: ... p.advance(result)``."""

    def __init__(self, *, total: int, description: str, console: Console | None = None) -> None:
        shown_on = console or Console(file=sys.stderr)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=shown_on,
            disable=not shown_on.is_terminal,
            transient=True,
        )
        self._task: TaskID = self._progress.add_task(description, total=total)

    @property
    def enabled(self) -> bool:
        """Whether the bar is drawn (a terminal, or forced through rich's environment)."""
        return not self._progress.disable

    @property
    def completed(self) -> int:
        """Devices counted so far."""
        return int(self._progress.tasks[0].completed)

    def advance(self, _result: object = None) -> None:
        """Count one finished device (a ``run_fleet`` ``on_result`` callback)."""
        self._progress.advance(self._task)

    def __enter__(self) -> FleetProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()
