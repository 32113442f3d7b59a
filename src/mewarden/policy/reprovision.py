"""How a node is re-provisioned when the ladder reaches that rung: PXE (default) or IDER.

PXE needs a boot server on the node's segment; IDER serves an installer image from the
controller itself over AMT's IDE redirection, so a site without a PXE server still
re-provisions. The choice is set per group or per node (the node's own wins, then its group's,
then PXE); the ladder, the guard rails and the PXE budget treat both alike. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from mewarden.errors import BadInputError


class ReprovisionMethod(StrEnum):
    """What the re-provision rung does."""

    PXE = "pxe"
    """One-shot PXE boot and reset: the site's boot server installs the node."""
    IDER = "ider"
    """One-shot IDER CD boot and reset, the controller serving ``image`` over IDE redirection."""


class Scope(StrEnum):
    """Where a re-provision setting is attached."""

    GROUP = "group"
    NODE = "node"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reprovision:
    """A node's re-provision method and, for IDER, the installer image to serve."""

    method: ReprovisionMethod = ReprovisionMethod.PXE
    image: str | None = None
    """Path of the ISO image on the controller's machine (IDER only)."""
    image_sha256: str | None = None
    """The image's SHA-256 when the setting was made (what the audit trail names)."""
    source: str = "default"
    """Where the setting came from: ``node``, ``group`` or ``default``."""

    def __post_init__(self) -> None:
        if self.method is ReprovisionMethod.IDER and not self.image:
            raise BadInputError("re-provisioning by IDER needs an image (--image FILE)")
        if self.method is ReprovisionMethod.PXE and self.image:
            raise BadInputError("re-provisioning by PXE takes no image (the boot server has it)")


PXE_DEFAULT = Reprovision()


def parse_method(text: str) -> ReprovisionMethod:
    """A method name, or a one-line BadInputError naming the valid ones."""
    try:
        return ReprovisionMethod(text.strip().lower())
    except ValueError:
        valid = ", ".join(m.value for m in ReprovisionMethod)
        raise BadInputError(f"unknown re-provision method {text!r} (expected: {valid})") from None


def resolve(
    node: str, group: str | None, settings: Mapping[tuple[Scope, str], Reprovision]
) -> Reprovision:
    """The node's setting, else its group's, else PXE (inheritance as for policies)."""
    for scope, name in ((Scope.NODE, node), (Scope.GROUP, group)):
        found = settings.get((scope, name)) if name else None
        if found is not None:
            return found
    return PXE_DEFAULT
