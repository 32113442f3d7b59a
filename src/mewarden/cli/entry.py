"""The ``mewarden`` console script.

``firmware inspect`` and ``firmware neutralize`` are tried on the lean path first (no click,
rich or logging: :mod:`mewarden.cli.firmware_lean`); every other command line, and any
firmware command line the lean parser does not fully take, goes to the click CLI.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run one command line and exit with its code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) >= 2 and args[0] == "firmware":
        from mewarden.cli.firmware_lean import run_lean

        code = run_lean(args[1], args[2:])
        if code is not None:
            sys.exit(code)
    from mewarden.cli.main import main as click_main

    click_main(args)
