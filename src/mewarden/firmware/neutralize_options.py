"""The neutralize request: modes, options, and which combinations are refused (pure).

Option semantics follow me_cleaner 1.2 (``../shared/reference/firmware.md`` §1.2) under clear
names; what is refused as unsafe (CSME 12+ code removal, Boot Guard images without evidence) is
in :func:`check_strip_allowed`.
"""

from __future__ import annotations

import enum

from mewarden.errors import BadInputError, NeutralizeRefusedError, UnsupportedFirmwareError
from mewarden.firmware.neutralize_layout import ImageKind, MeImage, MeLayout
from mewarden.record import Record


class Mode(enum.StrEnum):
    """What neutralize does: remove code, set the ME-disable strap, or both."""

    STRIP_AND_DISABLE = "strip-and-disable"
    DISABLE_ONLY = "disable-only"
    STRIP_ONLY = "strip-only"

    @property
    def strips(self) -> bool:
        """True when code is removed."""
        return self is not Mode.DISABLE_ONLY

    @property
    def disables(self) -> bool:
        """True when the ME-disable strap is set."""
        return self is not Mode.STRIP_ONLY


class NeutralizeOptions(Record):
    """The user's request (me_cleaner's options under clear names)."""

    mode: Mode | None = None
    relocate: bool = False
    truncate: bool = False
    keep_modules: bool = False
    keep_partitions: tuple[str, ...] = ()
    remove_partitions: tuple[str, ...] = ()
    restrict_me_access: bool = False
    extract_descriptor: bool = False
    extract_me: bool = False
    platform: str | None = None
    boot_guard_not_enforced: bool = False
    force: bool = False


def resolve_mode(image: MeImage, options: NeutralizeOptions) -> Mode:
    """The mode to run (default by image kind); BadInputError for contradictory options."""
    full = image.kind is ImageKind.FULL_IMAGE
    mode = options.mode or (Mode.STRIP_AND_DISABLE if full else Mode.STRIP_ONLY)
    if not full and mode.disables:
        raise BadInputError(
            f"--mode {mode} needs a full image: a bare ME region has no descriptor straps"
        )
    if not full and (options.restrict_me_access or options.extract_descriptor):
        raise BadInputError("--restrict-me-access and --extract-descriptor need a full image")
    if not mode.strips and (options.relocate or options.truncate or options.keep_modules):
        raise BadInputError(
            "--relocate, --truncate and --keep-modules remove code: not with --mode disable-only"
        )
    if not mode.strips and (options.keep_partitions or options.remove_partitions):
        raise BadInputError("--keep-partitions/--remove-partitions need code removal")
    if options.keep_partitions and options.remove_partitions:
        raise BadInputError("give --keep-partitions or --remove-partitions, not both")
    if options.relocate and (options.keep_partitions or options.remove_partitions):
        raise BadInputError("--relocate cannot be combined with --keep/--remove-partitions")
    if full and options.truncate and not options.extract_me:
        raise BadInputError(
            "--truncate on a full image needs --extract-me FILE (the image itself keeps its layout)"
        )
    return mode


def check_strip_allowed(image: MeImage, options: NeutralizeOptions) -> None:
    """Refuse code removal where it is unsafe: CSME 12+, or Boot Guard without evidence."""
    if image.layout is MeLayout.IFWI:
        where = (
            "use --mode disable-only"
            if image.kind is ImageKind.FULL_IMAGE
            else "run --mode disable-only on the full image (a bare region has no straps)"
        )
        raise NeutralizeRefusedError(
            "this is CSME 12+ firmware (IFWI layout): removing its code corrupts it, so only the "
            f"strap can be set; {where}"
        )
    if image.layout is MeLayout.ABSENT:
        raise UnsupportedFirmwareError(
            "the descriptor names no ME region, or it is erased: there is no code to remove"
        )
    major = image.version[0] if image.version else 0
    if image.layout is MeLayout.FPT_CPD and major >= 12:
        raise NeutralizeRefusedError(
            f"ME {major} firmware: code removal is only known to be safe up to ME 11; use "
            "--mode disable-only"
        )
    hints = image.boot_guard
    evidence = options.boot_guard_not_enforced or options.force
    if hints is not None and hints.manifests_present and not evidence:
        raise NeutralizeRefusedError(
            "the image carries Boot Guard manifests: removing ME code bricks machines "
            "that enforce Boot Guard; use --mode disable-only, or pass "
            "--boot-guard-status FILE showing not-enforced (or --force)"
        )
