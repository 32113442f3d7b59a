"""Neutralize an ME firmware image: plan (pure), apply (pure), verify (pure).

``plan_neutralize(image, options)`` decides everything and refuses what is unsafe;
``apply_neutralize(data, plan)`` produces the output bytes; ``verify_neutralized(output, plan)``
re-reads them and raises unless the FPT checksum, the FTPR signature, the strap and every kept
module check out. The code removal reproduces me_cleaner 1.2 byte for byte on ME 6-11 / TXE 1-2
(``../shared/reference/firmware.md`` §1.6-§1.7; golden outputs in
``../shared/firmware-fixtures/expected-neutralize.md``); the strap location comes from the
per-PCH-family table in :mod:`mewarden.firmware.straps`.
"""

from __future__ import annotations

from mewarden.errors import FirmwareFormatError, NeutralizeRefusedError, UnsupportedFirmwareError
from mewarden.firmware import neutralize_gen2 as gen2
from mewarden.firmware.me.fpt import FptEntry
from mewarden.firmware.me.mme import Llut, parse_modules
from mewarden.firmware.neutralize_layout import ImageKind, MeImage, MeLayout
from mewarden.firmware.neutralize_options import (
    Mode,
    NeutralizeOptions,
    check_strip_allowed,
    resolve_mode,
)
from mewarden.firmware.neutralize_plan import KeptRange, NeutralizePlan, PartitionOutcome
from mewarden.firmware.neutralize_verify import (
    Verification,
    verify_neutralized,
)
from mewarden.firmware.relocate import (
    Fill,
    Operation,
    apply_operations,
    minimum_size,
    needed_prefix,
    plan_relocation,
    rewrite_fpt,
)
from mewarden.record import Record

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from mewarden.firmware.straps import StrapLocation

__all__ = [
    "Mode",
    "NeutralizeOptions",
    "NeutralizePlan",
    "Verification",
    "apply_neutralize",
    "extracted_descriptor",
    "extracted_me",
    "plan_neutralize",
    "verify_neutralized",
]

ALWAYS_KEPT = "FTPR"
EFFS = "EFFS"


def _partition_end(image: MeImage, entry: FptEntry) -> int:
    length = entry.length
    last = entry.index == len(image.entries) - 1
    if image.version and image.version[0] == 6 and last and length == 0xFFFFFFFF:
        length = len(image.region) - entry.offset  # ME 6 marks "to the end of the region"
    return entry.offset + length


def _keeps(name: str, options: NeutralizeOptions) -> bool:
    if name == ALWAYS_KEPT or name in options.keep_partitions:
        return True
    return bool(options.remove_partitions) and name not in options.remove_partitions


class _PartitionPlan(Record):
    operations: tuple[Operation, ...]
    outcomes: tuple[PartitionOutcome, ...]
    kept_entries: tuple[FptEntry, ...]
    extra_end: int


def _partition_outcome(
    image: MeImage, entry: FptEntry, options: NeutralizeOptions
) -> PartitionOutcome:
    end = _partition_end(image, entry)
    # FTPR is kept even when it runs past the region end (a cleaned and truncated input):
    # dropping its entry, as me_cleaner's "no data here" rule would, leaves no firmware at all.
    past_end = end > len(image.region) and entry.name != ALWAYS_KEPT
    if entry.nvram:
        reason = "NVRAM partition, no data"
    elif entry.offset == 0 or entry.length == 0 or past_end:
        reason = "no data here"
    else:
        keep = _keeps(entry.name, options)
        return PartitionOutcome(
            name=entry.name,
            start=entry.offset,
            end=end,
            kept=keep,
            reason="kept" if keep else "removed",
        )
    return PartitionOutcome(name=entry.name, start=None, end=None, kept=False, reason=reason)


def _plan_partitions(image: MeImage, options: NeutralizeOptions) -> _PartitionPlan:
    outcomes = [_partition_outcome(image, entry, options) for entry in image.entries]
    operations: list[Operation] = []
    kept: list[FptEntry] = []
    extra_end = 0
    for entry, outcome in zip(image.entries, outcomes, strict=True):
        if outcome.start is None or outcome.end is None:
            continue  # NVRAM or no data: nothing to wipe, and the entry leaves the table
        if outcome.kept:
            kept.append(entry)
            if entry.name != ALWAYS_KEPT:
                extra_end = max(extra_end, outcome.end)
        else:
            operations.append(Fill(start=outcome.start, end=outcome.end))
    return _PartitionPlan(
        operations=tuple(operations),
        outcomes=tuple(outcomes),
        kept_entries=tuple(kept),
        extra_end=extra_end,
    )


def _fpt_rewrite(image: MeImage, kept: tuple[FptEntry, ...], clear_effs: bool) -> list[Operation]:
    assert image.fpt is not None
    header_only = image.layout is MeLayout.FPT_CPD
    return rewrite_fpt(
        image.region, image.fpt, kept, clear_effs=clear_effs, header_only=header_only
    )


def _clears_effs(options: NeutralizeOptions) -> bool:
    if options.remove_partitions:
        return EFFS in options.remove_partitions
    return EFFS not in options.keep_partitions


def _kept(region: bytes, name: str, start: int, end: int) -> KeptRange:
    return KeptRange(name=name, start=start, end=end, content=region[start:end])


def _manifest_range(image: MeImage) -> KeptRange:
    manifest = image.manifest
    assert manifest is not None
    return _kept(image.region, "FTPR manifest", manifest.offset, manifest.offset + manifest.size)


def _kept_ranges(image: MeImage, plan: gen2.ModulePlan) -> list[KeptRange]:
    kept = [_manifest_range(image)]
    for module in plan.modules:
        if module.kept and module.start is not None and module.end is not None:
            kept.append(_kept(image.region, module.name, module.start, module.end))
    for start, end in plan.kept_chunks:
        if end > start:
            kept.append(_kept(image.region, f"Huffman chunk {start:#x}", start, end))
    return kept


class _CodePlan(Record):
    operations: tuple[Operation, ...]
    modules: tuple[gen2.ModuleOutcome, ...]
    end: int | None
    shift: int
    kept: tuple[KeptRange, ...]
    warnings: tuple[str, ...]


def _relocate(image: MeImage, llut: Llut | None) -> tuple[list[Operation], int, list[str]]:
    ftpr = image.ftpr
    assert ftpr is not None
    entry = (image.fpt_offset or 0) + 0x20
    moved = plan_relocation(len(image.region), ftpr.offset, ftpr.length, llut, entry=entry)
    if moved is None:
        return [], 0, ["FTPR is already at the start of the ME region; not relocated"]
    return list(moved.operations), moved.delta, []


def _ftpr_length(image: MeImage) -> int:
    """FTPR's length, cut at the region end (a cleaned and truncated input ends inside it)."""
    ftpr = image.ftpr
    assert ftpr is not None
    return min(ftpr.length, len(image.region) - ftpr.offset)


def _check_kept_in_region(image: MeImage, plan: gen2.ModulePlan) -> None:
    """Refuse an input whose essential modules run past its end: it is truncated, not clean."""
    ends = [plan.end, *(m.end for m in plan.modules if m.kept and m.end is not None)]
    if max(ends) > len(image.region):
        raise FirmwareFormatError(
            f"the ME region is truncated: firmware that must be kept runs to {max(ends):#x}, "
            f"past its end {len(image.region):#x}"
        )


def _plan_gen2_modules(image: MeImage, options: NeutralizeOptions) -> _CodePlan:
    region, ftpr, manifest = image.region, image.ftpr, image.manifest
    assert ftpr is not None
    assert manifest is not None
    try:
        modules = parse_modules(region, manifest, ftpr.offset)
    except FirmwareFormatError as exc:
        return _CodePlan(
            operations=(),
            modules=(),
            end=None,
            shift=0,
            kept=(),
            warnings=(f"FTPR modules were not removed: {exc}",),
        )
    if options.keep_modules:
        plan = gen2.keep_all_modules(ftpr.offset, _ftpr_length(image), modules)
    else:
        plan = gen2.plan_module_removal(region, modules)
    _check_kept_in_region(image, plan)
    operations: list[Operation] = [Fill(start=s, end=e) for s, e in gen2.merged_fills(plan.fills)]
    shift, warnings = 0, list[str]()
    if options.relocate:
        moves, shift, warnings = _relocate(image, gen2.find_llut(region, modules))
        operations += moves
    return _CodePlan(
        operations=tuple(operations),
        modules=plan.modules,
        end=plan.end + shift,
        shift=shift,
        kept=tuple(_kept_ranges(image, plan)),
        warnings=tuple(warnings),
    )


def _plan_gen3_modules(image: MeImage, options: NeutralizeOptions) -> _CodePlan:
    region, ftpr = image.region, image.ftpr
    assert ftpr is not None
    if options.keep_modules:
        plan = gen2.ModulePlan(fills=(), modules=(), end=ftpr.offset + _ftpr_length(image))
    else:
        from mewarden.firmware.neutralize_gen3 import plan_cpd_removal  # ME 11+ images only

        plan = plan_cpd_removal(region, ftpr.offset, ftpr.length)
    _check_kept_in_region(image, plan)
    operations: list[Operation] = [Fill(start=s, end=e) for s, e in gen2.merged_fills(plan.fills)]
    shift, warnings = 0, list[str]()
    if options.relocate:
        moves, shift, warnings = _relocate(image, None)
        operations += moves
    return _CodePlan(
        operations=tuple(operations),
        modules=plan.modules,
        end=plan.end + shift,
        shift=shift,
        kept=tuple(_kept_ranges(image, plan)),
        warnings=tuple(warnings),
    )


def _plan_fpt_code(image: MeImage, options: NeutralizeOptions) -> tuple[_PartitionPlan, _CodePlan]:
    parts = _plan_partitions(image, options)
    rewrite = _fpt_rewrite(image, parts.kept_entries, _clears_effs(options))
    if image.layout is MeLayout.FPT_CPD:
        code = _plan_gen3_modules(image, options)
    else:
        code = _plan_gen2_modules(image, options)
    end = None if code.end is None else max(code.end, parts.extra_end)
    code = _CodePlan(
        operations=(*parts.operations, *rewrite, *code.operations),
        modules=code.modules,
        end=end,
        shift=code.shift,
        kept=code.kept,
        warnings=code.warnings,
    )
    return parts, code


def _is_ignition(image: MeImage) -> bool:
    manifest = image.manifest
    if manifest is None or image.layout is not MeLayout.FPT_MN2:
        return False
    return manifest.version_tuple[0] == 6 and gen2.is_ignition(image.region, manifest)


def _plan_code(image: MeImage, options: NeutralizeOptions) -> tuple[_PartitionPlan, _CodePlan]:
    check_strip_allowed(image, options)
    if _is_ignition(image):
        wipe = _CodePlan(
            operations=(Fill(start=0, end=len(image.region)),),
            modules=(),
            end=None,
            shift=0,
            kept=(),
            warnings=("ME 6 Ignition firmware: the whole region was wiped",),
        )
        return _PartitionPlan(operations=(), outcomes=(), kept_entries=(), extra_end=0), wipe
    if image.manifest is None or image.manifest.signature_valid is not True:
        raise NeutralizeRefusedError(
            "the FTPR manifest signature of the input does not verify: the image is corrupted "
            "or not genuine, so the result could not be checked"
        )
    return _plan_fpt_code(image, options)


def _output_region_size(image: MeImage, options: NeutralizeOptions, minimum: int | None) -> int:
    size = len(image.region)
    if not options.truncate:
        return size
    if minimum is None:
        raise UnsupportedFirmwareError(
            "the end of the kept firmware is unknown, so the ME region cannot be truncated"
        )
    return min(size, minimum)


def _descriptor_changes(
    image: MeImage, options: NeutralizeOptions, size: int
) -> tuple[tuple[tuple[str, int, int], ...], str | None]:
    if not (options.extract_descriptor and options.truncate) or image.descriptor is None:
        return (), None
    bios = image.descriptor.region("bios")
    start, end = image.region_start, image.region_end
    if bios is None or not bios.used or bios.start != end:
        return (), (
            "the BIOS region does not start where the ME region ends, so the extracted "
            "descriptor keeps the old regions; edit them by hand"
        )
    return (("me", start, start + size), ("bios", start + size, bios.end)), None


class _Extras(Record):
    strap: StrapLocation | None
    warnings: tuple[str, ...]


def _strap(image: MeImage, options: NeutralizeOptions, warnings: list[str]) -> StrapLocation:
    from mewarden.firmware.strap_writes import resolve_location  # full images only

    assert image.descriptor is not None
    strap = resolve_location(image.descriptor, options.platform)
    if strap.confidence != "verified":
        warnings.append(
            f"the {strap.name} location PCHSTRP{strap.strap} bit {strap.bit} of "
            f"{strap.family.value} is {strap.confidence} (community sources)"
        )
    return strap


def _extras(image: MeImage, options: NeutralizeOptions, mode: Mode) -> _Extras:
    warnings: list[str] = []
    strap = _strap(image, options, warnings) if mode.disables else None
    if image.kind is ImageKind.ME_REGION and mode.strips:
        warnings.append(
            "a bare ME region carries no Boot Guard evidence: check the machine "
            "('mewarden host probe') before flashing code-stripped firmware"
        )
    hints = image.boot_guard
    if hints is not None and hints.manifests_present:
        if mode.strips:
            why = "--force" if options.force else "--boot-guard-status: not enforced"
            warnings.append(f"Boot Guard manifests present; code removed on the strength of {why}")
        else:
            warnings.append(
                "Boot Guard manifests present: only the strap was set, which does "
                "not disable Boot Guard"
            )
    return _Extras(strap=strap, warnings=tuple(warnings))


def plan_neutralize(image: MeImage, options: NeutralizeOptions) -> NeutralizePlan:
    """Decide every change; raise :class:`NeutralizeRefusedError` where it would be unsafe."""
    mode = resolve_mode(image, options)
    extras = _extras(image, options, mode)
    parts = _PartitionPlan(operations=(), outcomes=(), kept_entries=(), extra_end=0)
    code = _CodePlan(operations=(), modules=(), end=None, shift=0, kept=(), warnings=())
    if mode.strips:
        parts, code = _plan_code(image, options)
    minimum = minimum_size(code.end) if code.end is not None else None
    size = _output_region_size(image, options, minimum) if mode.strips else len(image.region)
    changes, note = _descriptor_changes(image, options, size)
    ignition = mode.strips and _is_ignition(image)
    warnings = (*extras.warnings, *code.warnings, *((note,) if note else ()))
    return NeutralizePlan(
        kind=image.kind,
        layout=image.layout,
        mode=mode,
        region_start=image.region_start,
        region_end=image.region_end,
        operations=code.operations,
        partitions=parts.outcomes,
        modules=code.modules,
        ignition=ignition,
        end_of_data=code.end,
        minimum_size=minimum,
        shift=code.shift,
        output_region_size=size,
        manifest=None if ignition or image.manifest is None else image.manifest.offset + code.shift,
        fpt_offset=image.fpt_offset,
        kept=code.kept,
        strap=extras.strap,
        restrict_me_access=options.restrict_me_access,
        descriptor_changes=changes,
        warnings=warnings,
    )


def apply_neutralize(data: bytes, plan: NeutralizePlan) -> bytes:
    """The neutralized image (a new object; ``data`` is never modified)."""
    region_size = plan.region_end - plan.region_start
    if plan.kind is ImageKind.ME_REGION:
        # Truncated, only a prefix of the region is copied and changed (half of it or less).
        size = plan.output_region_size
        prefix = min(needed_prefix(plan.operations, size), region_size)
        region = bytearray(memoryview(data)[plan.region_start : plan.region_start + prefix])
        apply_operations(region, plan.operations, region_size=region_size)
        return bytes(memoryview(region)[:size])
    region = bytearray(data[plan.region_start : plan.region_end])
    apply_operations(region, plan.operations)
    output = data[: plan.region_start] + bytes(region) + data[plan.region_end :]
    if plan.strap is not None or plan.restrict_me_access:
        output = _descriptor_writes(output, plan)
    return output


def _descriptor_writes(output: bytes, plan: NeutralizePlan) -> bytes:
    """The strap and master-access writes (full images only: a bare region has no descriptor)."""
    from mewarden.firmware.descriptor import parse_descriptor
    from mewarden.firmware.strap_writes import restrict_me_access, set_me_disable

    if plan.strap is not None:
        output = set_me_disable(output, parse_descriptor(output), plan.strap)
    if plan.restrict_me_access:
        output = restrict_me_access(output, parse_descriptor(output))
    return output


def extracted_me(output: bytes, plan: NeutralizePlan) -> bytes:
    """The ME region of ``output`` (truncated when the plan truncates), for ``--extract-me``."""
    start = 0 if plan.kind is ImageKind.ME_REGION else plan.region_start
    return output[start : start + plan.output_region_size]


def extracted_descriptor(output: bytes, plan: NeutralizePlan) -> bytes:
    """The descriptor of ``output``, its ME/BIOS regions shrunk/grown when truncating."""
    from mewarden.firmware.descriptor import parse_descriptor, replace_regions

    descriptor = parse_descriptor(output)
    copy = output[: descriptor.size]
    if not plan.descriptor_changes:
        return copy
    changes = {name: (start, end) for name, start, end in plan.descriptor_changes}
    return replace_regions(copy, parse_descriptor(copy), changes)
