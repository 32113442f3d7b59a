"""``firmware inspect`` over several images or directories: JSON lines or a summary table.

Each file becomes one row: the single-image JSON document with its ``path`` added, or
``{"path", "error"}`` when the file cannot be read or is not a firmware image (the run goes on).
Rows come out in input order (directories walked recursively, sorted). No click here: the
console script runs ``--json-lines`` on its lean path (:mod:`mewarden.cli.firmware_lean`).
The files are inspected on a pool of one thread per core: reading, RSA (OpenSSL), hashing and
LZMA (``--verify-modules``) run outside the interpreter lock. ``bench/cli.py`` measures serial,
threads and a fork-started process pool on the same collection.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mewarden.errors import BadInputError, MewardenError

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any

    from rich.console import Console

    Row = dict[str, Any]

POOL_MIN_FILES_PER_WORKER = 4
"""Below this many files per worker the pool (and importing it) costs more than it saves."""


def expand(paths: Sequence[Path]) -> list[Path]:
    """Files named directly, then every regular file under each directory (sorted, recursive)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            files.append(path)  # missing or unreadable: becomes an error row
    return files


def inspect_file(path: Path, verify_modules: bool) -> Row:
    """One row: the report of ``path`` as JSON-ready data, or the one-line error."""
    from mewarden.firmware.inspect import inspect_image
    from mewarden.fsutil import read_input_file
    from mewarden.jsonutil import to_jsonable

    try:
        report = inspect_image(read_input_file(path, what="image"), verify_modules=verify_modules)
    except MewardenError as exc:
        return {"path": str(path), "error": str(exc)}
    row: Row = {"path": str(path)}
    row.update(to_jsonable(report))
    return row


def _inspect_task(task: tuple[Path, bool]) -> Row:
    return inspect_file(*task)


def workers_for(count: int, jobs: int | None) -> int:
    """How many worker threads to start for ``count`` files (1: work in this thread)."""
    cores = jobs if jobs is not None else (os.cpu_count() or 1)
    return max(1, min(cores, count // POOL_MIN_FILES_PER_WORKER))


def inspect_files(
    files: Sequence[Path], *, verify_modules: bool, jobs: int | None
) -> Iterator[Row]:
    """Rows in input order, computed on up to ``jobs`` threads (default: one per core)."""
    workers = workers_for(len(files), jobs)
    tasks = [(path, verify_modules) for path in files]
    if workers < 2:
        yield from map(_inspect_task, tasks)
        return
    from concurrent.futures import ThreadPoolExecutor

    import mewarden.firmware.inspect  # noqa: F401  (imported once, before the threads race to)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_inspect_task, tasks)


def _yes(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, "-") if isinstance(value, bool) else "-"


def _strap(row: Row) -> str:
    strap = (row.get("descriptor") or {}).get("me_disable") or {}
    name, state = strap.get("name"), strap.get("set")
    if not name or name == "unknown" or state is None:
        return "-"
    return f"{name} {'set' if state else 'clear'}"


def _boot_guard(row: Row) -> str:
    bg = row.get("boot_guard")
    if not bg:
        return "-"
    if not bg.get("fit_found"):
        return "no FIT"
    found = [n for n, k in (("KM", "key_manifest"), ("BPM", "boot_policy_manifest")) if bg.get(k)]
    return ", ".join(found) or "FIT, no manifests"


def _notes(row: Row) -> str:
    if "error" in row:
        return str(row["error"])
    count = len(row.get("warnings", ())) + len((row.get("me") or {}).get("warnings", ()))
    return f"{count} warning{'s' if count != 1 else ''} (see --json)" if count else ""


def summary_cells(row: Row, shown_path: str | None = None) -> tuple[str, ...]:
    """The summary table's cells for one row (``-`` where the image does not say)."""
    path = shown_path or row["path"]
    if "error" in row:
        return (path, "-", "-", "error", "-", "-", "-", _notes(row))
    me = row.get("me") or {}
    manifest = me.get("manifest") or {}
    return (
        path,
        me.get("family") or row.get("kind", "-"),
        me.get("version") or "-",
        me.get("state") or "-",
        _strap(row),
        _boot_guard(row),
        _yes(manifest.get("signature_valid")) if manifest else "-",
        _notes(row),
    )


SUMMARY_COLUMNS = ("file", "family", "version", "state", "HAP/AltMeDisable", "Boot Guard",
                   "signature", "notes")  # fmt: skip


def _shown(path: str, roots: Sequence[Path]) -> str:
    """``path`` relative to the directory it was found under (the table has little room)."""
    for root in roots:
        if root.is_dir():
            try:
                return str(Path(path).relative_to(root))
            except ValueError:
                continue
    return path


def render_summary(console: Console, rows: Iterable[Row], roots: Sequence[Path] = ()) -> None:
    """The summary table, one line per file (details and warnings are in ``--json``)."""
    from rich.table import Table

    table = Table(*SUMMARY_COLUMNS, title=None)
    table.columns[0].overflow = "fold"
    table.columns[-1].max_width = 40
    for row in rows:
        cells = summary_cells(row, _shown(row["path"], roots))
        table.add_row(*cells, style="red" if "error" in row else None)
    console.print(table)


def run_collection(
    paths: Sequence[Path],
    *,
    verify_modules: bool,
    jobs: int | None,
    output: str,
    track: Callable[[Iterable[Row], int], Iterable[Row]],
) -> None:
    """Inspect every file under ``paths``; print rows as ``output`` says; exit 2 on any error."""
    from mewarden.jsonutil import dumps

    files = expand(paths)
    if not files:
        raise BadInputError("no files to inspect under " + ", ".join(str(p) for p in paths))
    rows = inspect_files(files, verify_modules=verify_modules, jobs=jobs)
    failed = 0
    if output == "json-lines":
        for row in rows:
            failed += "error" in row
            sys.stdout.write(dumps(row, indent=None) + "\n")
    else:
        collected = list(track(rows, len(files)))
        failed = sum("error" in row for row in collected)
        if output == "json":
            sys.stdout.write(dumps(collected) + "\n")
        else:
            from mewarden.cli.output import console

            render_summary(console(), collected, paths)
    if failed:
        sys.stdout.flush()
        print(f"mewarden: {failed} of {len(files)} files could not be inspected", file=sys.stderr)
        raise SystemExit(BadInputError.exit_code)
