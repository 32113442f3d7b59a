"""The lean path of ``firmware inspect IMAGE`` and ``firmware neutralize IMAGE -o OUT``.

These two commands run in loops over image collections and in provisioning scripts, where the
whole process is what users time. Importing click alone takes longer than me_cleaner's whole
run, so the console script (:mod:`mewarden.cli.entry`) tries this parser first: it accepts
exactly the options of the click commands (a test compares both), runs the same functions, and
answers ``None`` for anything it does not fully understand (``--help``, a typo, a missing
argument, a summary table of several images), which then goes to click for the usual help and
errors. ``--json-lines`` over a collection stays here: it prints rows as they come.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

FLAG = "flag"
TEXT = "text"
PATH = "path"
POSITIVE_INT = "positive-int"

INSPECT_OPTIONS: dict[str, tuple[str, object]] = {
    "--json": ("as_json", FLAG),
    "--json-lines": ("json_lines", FLAG),
    "--verify-modules": ("verify_modules", FLAG),
    "--jobs": ("jobs", POSITIVE_INT),
    "-j": ("jobs", POSITIVE_INT),
}
"""Option string -> (parameter name, kind); a tuple kind is a choice."""

NEUTRALIZE_OPTIONS: dict[str, tuple[str, object]] = {
    "-o": ("output", PATH),
    "--output": ("output", PATH),
    "--mode": ("mode", ("strip-and-disable", "disable-only", "strip-only")),
    "--relocate": ("relocate", FLAG),
    "--truncate": ("truncate", FLAG),
    "--keep-modules": ("keep_modules", FLAG),
    "--keep-partitions": ("keep_partitions", TEXT),
    "--remove-partitions": ("remove_partitions", TEXT),
    "--restrict-me-access": ("restrict_me_access", FLAG),
    "--extract-descriptor": ("extract_descriptor", PATH),
    "--extract-me": ("extract_me", PATH),
    "--platform": ("platform", TEXT),
    "--boot-guard-status": ("boot_guard_status", PATH),
    "--force": ("force", FLAG),
    "--json": ("as_json", FLAG),
}


class _NotLean(Exception):
    """This command line is for click (help, usage errors, forms this parser does not take)."""


def _value(kind: object, raw: str) -> object:
    if kind == PATH:
        if os.path.isdir(raw):
            raise _NotLean  # click's "is a directory" usage error
        return raw
    if kind == POSITIVE_INT:
        if not raw.isdigit() or int(raw) < 1:
            raise _NotLean
        return int(raw)
    if isinstance(kind, tuple) and raw not in kind:
        raise _NotLean
    return raw


def _split(word: str, spec: dict[str, tuple[str, object]]) -> tuple[str, str | None]:
    """``--opt=value`` / ``-oVALUE`` into the option and its attached value."""
    if word.startswith("--") and "=" in word:
        name, _, attached = word.partition("=")
        return name, attached
    if not word.startswith("--") and len(word) > 2 and word[:2] in spec:
        return word[:2], word[2:]
    return word, None


def parse(
    argv: Sequence[str], spec: dict[str, tuple[str, object]]
) -> tuple[dict[str, Any], list[str]]:
    """Options and positional arguments of ``argv`` (raises _NotLean for anything unusual)."""
    params: dict[str, Any] = {}
    positional: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            positional.extend(words)
            break
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        name, attached = _split(word, spec)
        if name not in spec:
            raise _NotLean
        dest, kind = spec[name]
        if kind == FLAG:
            if attached is not None:
                raise _NotLean
            params[dest] = True
            continue
        raw = attached if attached is not None else next(words, None)
        if raw is None:
            raise _NotLean
        params[dest] = _value(kind, raw)
    return params, positional


def _json_lines(images: list[str], params: dict[str, Any]) -> Callable[[], None]:
    """``--json-lines`` over files and directories: rows as they come, no table or progress."""
    if not images or params.get("as_json"):
        raise _NotLean  # no image, or --json with --json-lines: click's usage errors
    from pathlib import Path

    from mewarden.cli.firmware_collection import run_collection

    paths = [Path(image) for image in images]
    verify, jobs = bool(params.get("verify_modules")), params.get("jobs")
    return lambda: run_collection(
        paths, verify_modules=verify, jobs=jobs, output="json-lines", track=lambda rows, _: rows
    )


def _inspect(argv: Sequence[str]) -> Callable[[], None]:
    params, images = parse(argv, INSPECT_OPTIONS)
    if params.get("json_lines"):
        return _json_lines(images, params)
    if len(images) != 1 or os.path.isdir(images[0]):
        raise _NotLean  # collections: the click command's table, progress and pool
    from mewarden.cli.firmware_report_text import inspect_one

    image, as_json = images[0], bool(params.get("as_json"))
    verify = bool(params.get("verify_modules"))
    return lambda: inspect_one(image, as_json=as_json, verify_modules=verify)


def _neutralize(argv: Sequence[str]) -> Callable[[], None]:
    params, images = parse(argv, NEUTRALIZE_OPTIONS)
    if len(images) != 1 or "output" not in params:
        raise _NotLean
    from mewarden.cli.firmware_neutralize_run import NeutralizeArgs, run_neutralize

    if os.path.isdir(images[0]):
        raise _NotLean
    args = NeutralizeArgs(image=images[0], **params)
    return lambda: run_neutralize(args)


COMMANDS = {"inspect": _inspect, "neutralize": _neutralize}


def run_lean(command: str, argv: Sequence[str]) -> int | None:
    """Run ``firmware COMMAND ARGV`` and return its exit code, or None to let click run it."""
    prepare = COMMANDS.get(command)
    if prepare is None:
        return None
    try:
        work = prepare(argv)
    except _NotLean:
        return None
    try:
        work()
    except (Exception, KeyboardInterrupt) as exc:  # the same one line and code as under click
        from mewarden.cli.failure import report_failure

        return report_failure(exc)
    return 0
