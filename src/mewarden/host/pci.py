"""Intel HECI/MEI PCI functions: which device IDs exist and which ME generation they carry.

Pure. The table is the selection in the reference (``live-me-and-network.md`` A1, from linux
``drivers/misc/mei/hw-me-regs.h`` and ``pci-me.c``). Functions are matched by vendor 0x8086 and
class 0x0780 (communication controller, other), never by a fixed bus/device/function; the table
only adds the platform name and the firmware generation, which picks the HFSTS layout when the
firmware version is not readable.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.host.hfsts import MeFamily

INTEL_VENDOR_ID = 0x8086
MEI_CLASS = 0x0780  # PCI class code (base 0x07, sub-class 0x80), without the prog-if byte
HOST_BRIDGE_CLASS = 0x0600
ISA_BRIDGE_CLASS = 0x0601  # the PCH's LPC/eSPI bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class HeciPlatform:
    """What a HECI device ID says about the platform."""

    platform: str
    generation: str  # firmware generation as the reference names it ("ME 7", "CSME 16")
    family: MeFamily
    hfsts_count: int  # registers the kernel exposes in fw_status for this driver config
    predates_boot_guard: bool  # ME < 9.5: no Boot Guard (intelmetool)


def _entry(
    platform: str, generation: str, family: MeFamily, count: int, *, old: bool = False
) -> HeciPlatform:
    return HeciPlatform(
        platform=platform,
        generation=generation,
        family=family,
        hfsts_count=count,
        predates_boot_guard=old,
    )


_ME = MeFamily.ME
_TXE = MeFamily.TXE
_C11 = MeFamily.CSME11
_C16 = MeFamily.CSME16
_C18 = MeFamily.CSME18

_TABLE: dict[tuple[int, ...], HeciPlatform] = {
    (0x2E04, 0x2E14, 0x2E24, 0x2E34): _entry("Eaglelake GMCH", "ME 5", MeFamily.TXE, 1, old=True),
    (0x3B64, 0x3B65): _entry("Ibex Peak", "ME 6", _ME, 2, old=True),
    (0x1C3A, 0x1D3A): _entry("Cougar Point / Patsburg", "ME 7", _ME, 2, old=True),
    (0x1E3A, 0x1CBA, 0x1DBA): _entry("Panther Point", "ME 8", _ME, 2, old=True),
    (0x8C3A, 0x8CBA, 0x8D3A): _entry("Lynx Point H / Wellsburg", "ME 9", _ME, 6),
    (0x9C3A,): _entry("Lynx Point LP", "ME 9.5", _ME, 6),
    (0x9CBA, 0x9CBB): _entry("Wildcat Point LP", "ME 10", _ME, 6),
    (0x9D3A, 0x9D3B, 0xA13A, 0xA13B, 0x9D3E): _entry("Sunrise Point", "CSME 11", _C11, 6),
    (0xA1BA,): _entry("Lewisburg", "SPS", _C11, 6),
    (0xA2BA, 0xA2BB): _entry("Union Point", "CSME 11", _C11, 6),
    (0x9DE0, 0xA360, 0x9DE4, 0xA364): _entry("Cannon Point", "CSME 12", _C11, 6),
    (0x34E0, 0x38E0): _entry("Ice Lake", "CSME 13", _C11, 6),
    (0x02E0, 0x06E0, 0xA3BA): _entry("Comet Lake", "CSME 14", _C11, 6),
    (0xA0E0, 0x43E0): _entry("Tiger Lake", "CSME 15", _C11, 6),
    (0x4DE0, 0x4B70): _entry("Jasper Lake / Elkhart Lake", "CSME 15", _C11, 6),
    (0x5A9A, 0x1A9A, 0x319A): _entry("Apollo Lake / Broxton / Gemini Lake", "TXE 3/4", _TXE, 6),
    (0x7AE8, 0x7A60, 0x51E0, 0x54E0, 0x7A68): _entry(
        "Alder Lake / Raptor Lake", "CSME 16", _C16, 6
    ),
    (0x7E70, 0x7F68, 0x7770): _entry("Meteor Lake / Arrow Lake", "CSME 18", _C18, 6),
    (0xA870, 0xE370, 0xE470, 0x4D70): _entry("Lunar / Panther / Wildcat Lake", "CSME 18+", _C18, 6),
}

_BY_ID: dict[int, HeciPlatform] = {
    device_id: platform for ids, platform in _TABLE.items() for device_id in ids
}


def heci_platform(device_id: int) -> HeciPlatform | None:
    """The platform a HECI device ID belongs to, or ``None`` when not in the table."""
    return _BY_ID.get(device_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PciFunction:
    """One PCI function as sysfs lists it."""

    address: str  # "0000:00:16.0"
    vendor: int
    device: int
    pci_class: int  # 24-bit class code (base, sub-class, prog-if)

    @property
    def class_code(self) -> int:
        """Base class and sub-class, without the programming interface byte."""
        return self.pci_class >> 8


def is_heci(function: PciFunction) -> bool:
    """True for an Intel MEI/HECI function (vendor 0x8086, class 0x0780)."""
    return function.vendor == INTEL_VENDOR_ID and function.class_code == MEI_CLASS


def intel_chipset_functions(functions: tuple[PciFunction, ...]) -> tuple[PciFunction, ...]:
    """Intel host bridges and LPC/ISA bridges: signs of an Intel chipset."""
    wanted = (HOST_BRIDGE_CLASS, ISA_BRIDGE_CLASS)
    return tuple(f for f in functions if f.vendor == INTEL_VENDOR_ID and f.class_code in wanted)


def pick_heci(functions: tuple[PciFunction, ...]) -> PciFunction | None:
    """The HECI1 function: a known device ID first, then the lowest function number."""
    candidates = [f for f in functions if is_heci(f)]
    if not candidates:
        return None
    candidates.sort(key=lambda f: (heci_platform(f.device) is None, f.address))
    return candidates[0]
