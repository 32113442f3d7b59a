"""Build the recorded host trees under ``tests/data/host/trees`` from sourced register values.

Run once by hand (``.venv/bin/python tests/data/host/build_trees.py``); the output is checked in
and the tests read it. Every register value below is quoted in
``../shared/reference/live-me-and-network.md`` (A2.1, A2.4, A5) with its original source; the
README next to this file lists, per tree, what is sourced and what is a placeholder.

The trees use the kernel's formats (reference A1): ``fw_status`` is one ``%08X`` line per
register, ``fw_ver`` three ``platform:major.minor.hotfix.build`` lines, ``dev_state`` without a
newline, PCI ``vendor``/``device``/``class`` as ``0x`` hex lines, ``config`` as raw bytes (only
64 bytes when recorded without root). Only registers given by a source are written; a tree never
invents the others.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREES = HERE / "trees"
HECI = "0000:00:16.0"
MEI_CLASS = 0x078000


@dataclass(frozen=True, kw_only=True)
class Tree:
    """One recorded machine."""

    name: str
    heci_device: int | None
    fw_status: tuple[int, ...] | None = None  # None: driver not bound (no /sys/class/mei)
    fw_ver: tuple[str, ...] | None = None
    config_hfsts: tuple[int, ...] = ()  # registers at 0x40, 0x48, ... in config space
    config_root: bool = True  # False: only the first 64 bytes, as a non-root read sees them
    extra_pci: tuple[tuple[str, int, int, int], ...] = ()  # (address, vendor, device, class)
    denied: tuple[str, ...] = ()
    as_root: bool = True
    mei: list[dict[str, object]] | None = None
    cpu_vendor: str = "GenuineIntel"
    dev_state: str = "ENABLED"
    extra: dict[str, str] = field(default_factory=dict)


def _mkhi_fw_version_reply(blocks: list[tuple[int, int, int, int, int]]) -> str:
    """MKHI GET_FW_VERSION reply per reference A3: header FF 82 00 00, then blocks
    {u16 minor, u8 major, u8 platform, u16 buildno, u16 hotfix}."""
    body = b"".join(
        struct.pack("<HBBHH", minor, major, platform, build, hotfix)
        for platform, major, minor, hotfix, build in blocks
    )
    return (bytes([0xFF, 0x82, 0x00, 0x00]) + body).hex()


Z790_REGS = (0x90000245, 0x00F10506, 0x00000020, 0x00004400, 0x00000000, 0x40200002)
Z790_FW_VER = ("0:16.1.32.2473", "0:16.1.32.2473", "0:16.1.25.2035")
Z790_MEI: list[dict[str, object]] = [
    {
        "client": "8e6a6715-9abc-4043-88ef-9e39c6f63e0f",
        "connect": {"max_message_length": 512, "protocol_version": 1},
        "exchanges": [
            {
                "request": "ff020000",
                "response": _mkhi_fw_version_reply(
                    [(0, 16, 1, 32, 2473), (0, 16, 1, 32, 2473), (0, 16, 1, 25, 2035)]
                ),
            }
        ],
    },
    # consumer SKU: no AMTHI client, the connect ioctl fails with ENOTTY (reference A1/A3)
    {"client": "12f80028-b4b7-4b2d-aca8-46e0ff65814c", "connect": {"errno": "ENOTTY"}},
]

ALL: tuple[Tree, ...] = (
    Tree(name="me7-normal", heci_device=0x1C3A, fw_status=(0x1E000255,)),
    Tree(name="me7-cleaned-hap", heci_device=0x1C3A, fw_status=(0x00020191,)),
    Tree(name="me8-altmedisable", heci_device=0x1E3A, fw_status=(0x1C020181,)),
    Tree(name="me9-strip-disable", heci_device=0x8C3A, fw_status=(0x1E020191,)),
    Tree(
        name="csme16-z790-running",
        heci_device=0x7A68,
        fw_status=Z790_REGS,
        fw_ver=Z790_FW_VER,
        mei=Z790_MEI,
    ),
    Tree(
        name="csme16-adlp-hap-bootguard",
        heci_device=0x51E0,
        fw_status=(0x80022054, 0x30284106, 0x00000020, 0x00006000, 0x00001F03, 0xC46003CF),
        fw_ver=("0:16.0.0.0", "0:0.0.0.0", "0:0.0.0.0"),
    ),
    Tree(
        name="csme18-lnl-running",
        heci_device=0xA870,
        fw_status=(0xA4000255, 0x80218500, 0x00000030, 0x00000004, 0x02F61F03, 0x00000000),
        fw_ver=("0:20.0.0.1322", "0:0.0.0.0", "0:0.0.0.0"),
    ),
    Tree(name="tgl-running", heci_device=0xA0E0, config_hfsts=(0xA0000245,)),
    Tree(name="heci-soft-disabled", heci_device=0xA0E0, fw_status=(0x00032044,)),
    Tree(
        name="hidden-device",
        heci_device=None,
        extra_pci=(
            ("0000:00:00.0", 0x8086, 0x0000, 0x060000),
            ("0000:00:1f.0", 0x8086, 0x0000, 0x060100),
        ),
    ),
    Tree(name="driver-not-loaded", heci_device=0x7A68, config_hfsts=Z790_REGS),
    Tree(
        name="non-root",
        heci_device=0x7A68,
        config_hfsts=Z790_REGS,
        config_root=False,
        as_root=False,
        denied=("dev/cpu/0/msr",),
    ),
)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("ascii") if isinstance(data, str) else data)


def _pci(root: Path, address: str, vendor: int, device: int, pci_class: int) -> Path:
    base = root / "sys/bus/pci/devices" / address
    _write(base / "vendor", f"0x{vendor:04x}\n")
    _write(base / "device", f"0x{device:04x}\n")
    _write(base / "class", f"0x{pci_class:06x}\n")
    return base


def _config(tree: Tree) -> bytes:
    assert tree.heci_device is not None
    space = bytearray(256)
    struct.pack_into("<HH", space, 0, 0x8086, tree.heci_device)
    space[0x09:0x0C] = MEI_CLASS.to_bytes(3, "little")
    length = 64
    for offset, value in zip((0x40, 0x48, 0x60, 0x64, 0x68, 0x6C), tree.config_hfsts, strict=False):
        struct.pack_into("<I", space, offset, value)
        length = offset + 4
    return bytes(space[: length if tree.config_root else 64])


def build(tree: Tree) -> None:
    """Write ``tree`` under ``TREES``."""
    root = TREES / tree.name
    shutil.rmtree(root, ignore_errors=True)
    _write(root / "proc/cpuinfo", f"vendor_id\t: {tree.cpu_vendor}\n")
    for address, vendor, device, pci_class in tree.extra_pci:
        _pci(root, address, vendor, device, pci_class)
    if tree.heci_device is not None:
        base = _pci(root, HECI, 0x8086, tree.heci_device, MEI_CLASS)
        _write(base / "config", _config(tree))
    if tree.fw_status is not None:
        mei = root / "sys/class/mei/mei0"
        _write(mei / "fw_status", "".join(f"{v:08X}\n" for v in tree.fw_status))
        _write(mei / "dev_state", tree.dev_state)
        if tree.fw_ver is not None:
            _write(mei / "fw_ver", "".join(f"{line}\n" for line in tree.fw_ver))
        (mei / "device").symlink_to(f"../../../bus/pci/devices/{HECI}")
    manifest: dict[str, object] = {
        "format": "mewarden-host-record",
        "version": 1,
        "recorded_as_root": tree.as_root,
        "denied": list(tree.denied),
    }
    if tree.mei is not None:
        manifest["mei"] = tree.mei
    _write(root / "mewarden-record.json", json.dumps(manifest, indent=2) + "\n")


def _amthi_code_versions_reply() -> bytes:
    """The ThinkPad's CODE_VERSIONS reply (AMT 11.8.93.4323), laid out per reference A3:
    header ``01 01 00 00 | 1a 00 80 04 | 01 02 00 00`` (length 513), status 0, 65-byte BIOS
    version, u32 count 10, then 10 x {u16 len, 20-byte description, u16 len, 20-byte version}."""
    entries = [
        ("Flash", "11.8.93"),
        ("Netstack", "11.8.93"),
        ("AMTApps", "11.8.93"),
        ("AMT", "11.8.93"),
        ("Sku", "8"),
        ("VendorID", "8086"),
        ("Build Number", "4323"),
        ("Recovery Version", "11.8.93"),
        ("Recovery Build Num", "4323"),
        ("Legacy Mode", "False"),
    ]
    body = struct.pack("<I", 0) + b"N1EETA2W (1.75 )".ljust(65, b"\0")
    body += struct.pack("<I", len(entries))
    for description, version in entries:
        d, v = description.encode(), version.encode()
        body += struct.pack("<H20sH20s", len(d), d, len(v), v)
    header = bytes.fromhex("010100001a008004") + struct.pack("<I", len(body))
    return header + body


def build_mei_recordings() -> None:
    """``mei/thinkpad-amt11.json``: the fwupd ThinkPad exchanges as the reference decodes them
    (connect reply: max message length 0x1400, protocol 1; provisioning state bytes verbatim)."""
    sessions = [
        {
            "client": "12f80028-b4b7-4b2d-aca8-46e0ff65814c",
            "connect": {"max_message_length": 0x1400, "protocol_version": 1},
            "exchanges": [
                {
                    "request": "010100001a00000400000000",
                    "response": _amthi_code_versions_reply().hex(),
                },
                {
                    "request": "010100001100000400000000",
                    "response": "0101000011008004080000000000000000000000",
                },
            ],
        }
    ]
    _write(HERE / "mei/thinkpad-amt11.json", json.dumps(sessions, indent=2) + "\n")


if __name__ == "__main__":
    for item in ALL:
        build(item)
        print(f"built {TREES / item.name}")
    build_mei_recordings()
