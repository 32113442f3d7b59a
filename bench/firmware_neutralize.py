"""Time and peak memory of ``firmware neutralize`` (read, plan, apply, verify) per image.

No peer tool can run here (me_cleaner is GPL code we do not vendor and is not packaged), so
the ratio column compares against the floor any tool pays: copying the image in memory and
hashing it once (``bytes`` copy + SHA-256). Images are the real fixtures beside the repository
(``$MEWARDEN_FIXTURES`` or ``../shared/firmware-fixtures``); full images are composed from a
real descriptor and ME region as ``expected-neutralize.md`` describes.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from mewarden.firmware.descriptor import parse_descriptor
from mewarden.firmware.neutralize import (
    Mode,
    NeutralizeOptions,
    apply_neutralize,
    plan_neutralize,
    verify_neutralized,
)
from mewarden.firmware.neutralize_layout import read_me_image

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("MEWARDEN_FIXTURES", ROOT.parent / "shared" / "firmware-fixtures"))
REPEAT = 5


def _compose(descriptor: str, me: str | None) -> bytes:
    raw = (FIXTURES / descriptor).read_bytes()
    parsed = parse_descriptor(raw)
    assert parsed.flash_size is not None
    image = bytearray(b"\xff" * parsed.flash_size)
    image[: len(raw)] = raw
    region = parsed.region("me")
    if me is not None and region is not None:
        blob = (FIXTURES / me).read_bytes()
        image[region.start : region.start + len(blob)] = blob
    return bytes(image)


def _cases() -> list[tuple[str, bytes, NeutralizeOptions]]:
    cb = "coreboot-blobs/"
    cases: list[tuple[str, bytes, NeutralizeOptions]] = []
    for name in ("google_link_me", "samsung_lumpy_me", "facebook_fbg1701_me"):
        data = (FIXTURES / f"{cb}{name}.bin").read_bytes()
        cases.append((f"{name} strip", data, NeutralizeOptions()))
        cases.append((f"{name} strip -r -t", data, NeutralizeOptions(relocate=True, truncate=True)))
    link = _compose(f"{cb}google_link_descriptor.bin", f"{cb}google_link_me.bin")
    cases.append(("link 8 MiB strip+disable", link, NeutralizeOptions()))
    cases.append(("link 8 MiB disable-only", link, NeutralizeOptions(mode=Mode.DISABLE_ONLY)))
    darp6 = _compose("system76-darp6/fd.rom", "system76-darp6/me.rom")
    cases.append(("darp6 16 MiB disable-only", darp6, NeutralizeOptions(mode=Mode.DISABLE_ONLY)))
    msi = _compose("dasharo-blobs/msi_ms7d25_descriptor.bin", "dasharo-blobs/msi_ms7d25_me.bin")
    cases.append(("ms7d25 32 MiB disable-only", msi, NeutralizeOptions(mode=Mode.DISABLE_ONLY)))
    return cases


def _neutralize(data: bytes, options: NeutralizeOptions) -> bytes:
    plan = plan_neutralize(read_me_image(data), options)
    output = apply_neutralize(data, plan)
    verify_neutralized(output, plan)
    return output


def _baseline(data: bytes) -> bytes:
    copy = bytearray(data)
    hashlib.sha256(copy).digest()
    return bytes(copy)


def _measure(work: Callable[[], bytes]) -> tuple[float, float]:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times) * 1000, peak / 2**20


def main() -> int:
    if not (FIXTURES / "expected-neutralize.md").is_file():
        print(f"fixtures not found under {FIXTURES}", file=sys.stderr)
        return 1
    header = f"{'image / request':<32} {'size':>9} {'ms':>8} {'copy ms':>8} {'x copy':>7}"
    print(header + f" {'peak MiB':>9} {'x size':>7}")
    for label, data, options in _cases():
        ms, peak = _measure(lambda d=data, o=options: _neutralize(d, o))  # type: ignore[misc]
        base_ms, _ = _measure(lambda d=data: _baseline(d))  # type: ignore[misc]
        size_mib = len(data) / 2**20
        print(
            f"{label:<32} {len(data):>9} {ms:>8.2f} {base_ms:>8.2f} {ms / base_ms:>7.1f}"
            f" {peak:>9.1f} {peak / size_mib:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
