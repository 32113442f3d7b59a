"""MKHI messages (ME kernel host interface) and the firmware version formats.

Pure. Framing per the reference (``live-me-and-network.md`` A3, linux ``mkhi.h``): a 4-byte
header {u8 group, u8 command (bit 7 set in replies), u8 reserved, u8 result}. GET_FW_VERSION is
group 0xFF command 0x02; its reply carries up to three blocks {u16 minor, u8 major, u8 platform,
u16 buildno, u16 hotfix}, which the kernel prints in sysfs ``fw_ver`` as
``platform:major.minor.hotfix.buildno``, one line per block.
"""

from __future__ import annotations

import enum
import re
import struct
import uuid
from dataclasses import dataclass

from mewarden.errors import HostDataError

#: The MKHI client the kernel itself uses (fixed) and the dynamic one.
MKHI_FIXED_UUID = uuid.UUID("55213584-9a29-4916-badf-0fb7ed682aeb")
MKHI_UUID = uuid.UUID("8e6a6715-9abc-4043-88ef-9e39c6f63e0f")

_HEADER = struct.Struct("<BBBB")
_BLOCK = struct.Struct("<HBBHH")
_RESPONSE_FLAG = 0x80
_FW_VER_LINE = re.compile(r"(\d+):(\d+)\.(\d+)\.(\d+)\.(\d+)")


class MkhiGroup(enum.IntEnum):
    """MKHI group IDs (intelmetool ``me.h``; coreboot ``cse.h``)."""

    CBM = 0x00
    PM = 0x01
    PWD = 0x02
    FWCAPS = 0x03
    APP = 0x04
    HMRFPO = 0x05
    MDES = 0x08
    BUP_COMMON = 0xF0
    GEN = 0xFF


class MkhiGenCommand(enum.IntEnum):
    """Commands of the GEN group."""

    GET_FW_VERSION = 0x02


@dataclass(frozen=True, slots=True, kw_only=True)
class FwVersion:
    """One firmware version block: ``platform:major.minor.hotfix.build``."""

    platform: int
    major: int
    minor: int
    hotfix: int
    build: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.hotfix}.{self.build}"

    @property
    def is_empty(self) -> bool:
        """The kernel prints unused blocks as ``0:0.0.0.0``."""
        return (self.major, self.minor, self.hotfix, self.build) == (0, 0, 0, 0)


def build_get_fw_version() -> bytes:
    """The GET_FW_VERSION request: bytes ``FF 02 00 00``."""
    return _HEADER.pack(MkhiGroup.GEN, MkhiGenCommand.GET_FW_VERSION, 0, 0)


def parse_get_fw_version(reply: bytes) -> tuple[FwVersion, ...]:
    """Parse a GET_FW_VERSION reply (4-byte header, then 1 to 3 eight-byte blocks)."""
    if len(reply) < _HEADER.size + _BLOCK.size:
        raise HostDataError(f"MKHI GET_FW_VERSION reply too short ({len(reply)} bytes)")
    group, command, _reserved, result = _HEADER.unpack_from(reply)
    expected = MkhiGenCommand.GET_FW_VERSION | _RESPONSE_FLAG
    if group != MkhiGroup.GEN or command != expected:
        raise HostDataError(
            f"MKHI reply is group {group:#04x} command {command:#04x}, not GET_FW_VERSION"
        )
    if result != 0:
        raise HostDataError(f"MKHI GET_FW_VERSION failed with result {result:#04x}")
    body = reply[_HEADER.size :]
    count = min(len(body) // _BLOCK.size, 3)
    blocks: list[FwVersion] = []
    for index in range(count):
        minor, major, platform, build, hotfix = _BLOCK.unpack_from(body, index * _BLOCK.size)
        blocks.append(
            FwVersion(platform=platform, major=major, minor=minor, hotfix=hotfix, build=build)
        )
    return tuple(blocks)


def parse_fw_ver(text: str) -> tuple[FwVersion, ...]:
    """Parse sysfs ``fw_ver``: lines ``platform:major.minor.hotfix.buildno``."""
    blocks: list[FwVersion] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FW_VER_LINE.fullmatch(line.strip())
        if match is None:
            shown = line[:32].encode("unicode_escape").decode("ascii")
            raise HostDataError(f"fw_ver line {number} is malformed: {shown!r}")
        platform, major, minor, hotfix, build = (int(g) for g in match.groups())
        blocks.append(
            FwVersion(platform=platform, major=major, minor=minor, hotfix=hotfix, build=build)
        )
    if not blocks:
        raise HostDataError("fw_ver is empty")
    return tuple(blocks)


def format_fw_ver(blocks: tuple[FwVersion, ...]) -> str:
    """The kernel's ``fw_ver`` text (always three lines, unused blocks ``0:0.0.0.0``)."""
    padded = list(blocks[:3])
    while len(padded) < 3:
        padded.append(FwVersion(platform=0, major=0, minor=0, hotfix=0, build=0))
    return "".join(f"{b.platform}:{b.major}.{b.minor}.{b.hotfix}.{b.build}\n" for b in padded)
