"""Run every benchmark script in bench/ and print their tables, one after the other.

Each ``bench/<name>.py`` is a standalone script that prints a table (with ratios against
peers where a peer exists). This runner only sequences them, so that ``make bench`` gives the
whole picture in one run; a failing script is reported and the others still run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in {"run_all.py", "__init__.py"})
    failed: list[str] = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], check=False)
        print(f"({script.name}: {time.perf_counter() - started:.1f} s)", flush=True)
        if proc.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
