"""Images per second and peak memory: ``mewarden firmware inspect`` vs ``uefi-firmware``.

Both parse the same real ME regions from ``../shared/firmware-fixtures`` (the ones
uefi-firmware understands: ME 7/8 and TXE 2; it cannot read the CSME 12+ IFWI layout, which is
timed for mewarden alone). The default inspection parses the FPT, the FTPR manifest and checks
the RSA signature; uefi-firmware's ``AutoParser(...).parse()`` walks partitions and modules
without any signature check. Target from issue 2: mewarden >= 5x faster per image.
The "read + SHA-256 file" row (read the file from disk, hash all of it) is the baseline the
issue sets for ``--verify-modules``: it must take at most 2x that time (ratio >= 0.5x).
``--verify-modules`` decodes the LZMA modules of each image afresh (nothing is cached between
images or iterations), on a thread pool of up to min(CPUs, 4) threads.

Memory is the tracemalloc peak of one parse, excluding the input bytes.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from mewarden.firmware.inspect import inspect_image  # noqa: E402

FIXTURES = Path(os.environ.get("MEWARDEN_FIXTURES", REPO.parent / "shared" / "firmware-fixtures"))
BOTH = [
    "coreboot-blobs/google_link_me.bin",
    "coreboot-blobs/samsung_lumpy_me.bin",
    "coreboot-blobs/intel_emeraldlake2_me.bin",
    "coreboot-blobs/facebook_fbg1701_me.bin",
]
MEWARDEN_ONLY = ["system76-darp6/me.rom", "dasharo-blobs/msi_ms7d25_me.bin"]


def _rate(parse: Callable[[bytes], object], images: list[bytes], budget: float = 1.5) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget:
        for image in images:
            parse(image)
        done += len(images)
    return done / (time.perf_counter() - started)


def _peak(parse: Callable[[bytes], object], images: list[bytes]) -> int:
    worst = 0
    for image in images:
        tracemalloc.start()
        parse(image)
        worst = max(worst, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return worst


def _uefi_firmware(data: bytes) -> object:
    import uefi_firmware

    return uefi_firmware.AutoParser(data).parse()


def _read_and_hash(paths: list[Path]) -> Callable[[bytes], object]:
    """Baseline for --verify-modules: read one file from disk and SHA-256 all of it."""
    queue = list(paths)

    def run(_data: bytes) -> object:
        path = queue.pop(0)
        queue.append(path)
        return hashlib.sha256(path.read_bytes()).digest()

    return run


def _inspect_verify(data: bytes) -> object:
    return inspect_image(data, verify_modules=True)


def main() -> int:
    missing = [p for p in BOTH + MEWARDEN_ONLY if not (FIXTURES / p).is_file()]
    if missing:
        print(f"fixtures missing under {FIXTURES}: {', '.join(missing)}")
        return 1
    both = [(FIXTURES / p).read_bytes() for p in BOTH]
    csme = [(FIXTURES / p).read_bytes() for p in MEWARDEN_ONLY]
    rows: list[tuple[str, str, float, int]] = []
    rows.append(("ME 7/8 + TXE 2", "mewarden inspect", _rate(inspect_image, both),
                 _peak(inspect_image, both)))  # fmt: skip
    rows.append(("ME 7/8 + TXE 2", "uefi-firmware parse", _rate(_uefi_firmware, both),
                 _peak(_uefi_firmware, both)))  # fmt: skip
    rows.append(("CSME 14 + 16.1", "mewarden inspect", _rate(inspect_image, csme),
                 _peak(inspect_image, csme)))  # fmt: skip
    rows.append(("CSME 14 + 16.1", "mewarden --verify", _rate(_inspect_verify, csme),
                 _peak(_inspect_verify, csme)))  # fmt: skip
    hasher = _read_and_hash([FIXTURES / p for p in BOTH])
    rows.append(("ME 7/8 + TXE 2", "mewarden --verify", _rate(_inspect_verify, both),
                 _peak(_inspect_verify, both)))  # fmt: skip
    rows.append(("ME 7/8 + TXE 2", "read + SHA-256 file", _rate(hasher, both),
                 _peak(hasher, both)))  # fmt: skip
    peer, baseline = rows[1][2], rows[5][2]
    header = f"{'images':<16} {'tool':<22} {'images/s':>10} {'peak MiB':>9} {'vs uefi-fw':>10}"
    print(header + f" {'vs read+sha':>11}")
    for group, tool, rate, peak in rows:
        ratio = f"{rate / peer:.1f}x" if group == rows[1][0] else "-"
        vs_hash = f"{rate / baseline:.2f}x" if group == rows[1][0] else "-"
        print(
            f"{group:<16} {tool:<22} {rate:>10.1f} {peak / 2**20:>9.2f} {ratio:>10} {vs_hash:>11}"
        )
    print("targets (issue 2): inspect >= 5x uefi-firmware; --verify >= 0.5x read+SHA-256")
    return 0


if __name__ == "__main__":
    sys.exit(main())
