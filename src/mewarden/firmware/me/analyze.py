"""Compose the ME parsers into one report about an ME region (pure).

API: :func:`analyze_me` (the ME region's bytes) -> :class:`MeReport`. Offsets in the report are
relative to the region. Layout detection follows ``../shared/reference/firmware.md`` §6.1:
``$FPT`` at +0/+0x10 => FPT layout (ME 6-11, TXE 1-3, SPS <= 4); a CSE layout table => IFWI
(CSME 12+). FTPR starting with ``$MN2`` => ``$MME`` modules; with ``$CPD`` => CPD modules.
The modules of the other ``$CPD`` code partitions (RBEP, PMCP, NFTP, ...) are reported apart
(``other_modules``); ``verify_modules`` checks the hashes of both (:mod:`.verify`).

State: ``corrupt`` when FTPR, its manifest, a valid signature, a valid FPT checksum or an
essential module (me_cleaner's keep-lists, §1.6/§1.7) is missing, or when partitions run past
the end of the region of an image that still lists more than FTPR (cut off, not cleaned);
``neutralized`` when the
image is otherwise intact but partitions or modules were removed the way a cleaner does (wiped
to 0xFF or dropped from the FPT); ``stock`` otherwise.
"""

from __future__ import annotations

import enum

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.me import cpd, fpt, manifest, mme, sku
from mewarden.firmware.me.keys import MeFamily
from mewarden.record import Record

# The IFWI parser loads only for CSE layout tables, the module-hash checker only with
# --verify-modules: plain inspection of an ME 6-10 region, the common case, needs neither.
TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from mewarden.firmware.me import ifwi

GEN2_ESSENTIAL = ("ROMP", "BUP")
GEN3_ESSENTIAL = ("rbe", "kernel", "syslib", "bup")
CODE_PARTITIONS = ("NFTP", "MDMV", "FTUP", "WCOD", "LOCL", "DLMP", "ISHC")
"""Code partitions a cleaner removes; erased ones mean neutralized, not stock."""
_SAMPLE = 0x1000  # bytes looked at to tell data from a wiped (0xFF) partition


class MeLayout(enum.StrEnum):
    """How the ME region is organised."""

    FPT = "fpt"
    IFWI = "ifwi"


class MeState(enum.StrEnum):
    """What a cleaner has (or has not) done to the firmware."""

    STOCK = "stock"
    NEUTRALIZED = "neutralized"
    CORRUPT = "corrupt"


class PartitionReport(Record):
    """A partition; ``kind`` is ``data``, ``nvram`` (no flash data) or ``empty``."""

    name: str
    offset: int
    length: int
    present: bool
    kind: str
    directory: str


class FptReport(Record):
    """The FPT header and its checksum."""

    offset: int
    header_version: int
    entry_count: int
    checksum_kind: str
    checksum_stored: int
    checksum_valid: bool


class ManifestReport(Record):
    """The FTPR manifest: version, key identity and signature."""

    offset: int
    version: str
    date: str
    svn: int
    key_size: int
    key_md5: str
    key_sha256: str
    key_known: str | None
    production_key: bool | None
    signature_scheme: str
    signature_valid: bool | None
    debug_signed: bool


class ModuleReport(Record):
    """One FTPR module."""

    name: str
    present: bool
    compression: str
    offset: int
    size: int
    hash_valid: bool | None = None
    partition: str = "FTPR"


class MeReport(Record):
    """Everything the ME region says about itself."""

    family: str
    version: str | None
    sku: str | None
    layout: MeLayout
    ifwi_version: str | None
    fpt: FptReport | None
    partitions: tuple[PartitionReport, ...]
    manifest: ManifestReport | None
    modules: tuple[ModuleReport, ...]
    other_modules: tuple[ModuleReport, ...]
    module_format: str | None
    state: MeState
    warnings: tuple[str, ...]


class _Work:
    """What one analysis run accumulates (mutable, so not a record)."""

    __slots__ = ("corrupt", "fpt", "ftpr", "partitions", "region", "verify", "warnings")

    def __init__(self, region: bytes, *, verify: bool) -> None:
        self.region = region
        self.verify = verify
        self.warnings: list[str] = []
        self.partitions: list[PartitionReport] = []
        self.corrupt: list[str] = []
        self.fpt: fpt.Fpt | None = None
        self.ftpr: tuple[int, int] | None = None  # (offset, length)


def _is_present(region: bytes, offset: int, length: int) -> bool:
    stop = min(offset + min(length, _SAMPLE), len(region))
    return stop > offset and region.count(0xFF, offset, stop) != stop - offset


def _check_truncation(work: _Work, table: fpt.Fpt, beyond: list[str]) -> None:
    """Partitions past the region end are a cut-off image, not removed code.

    The exception is a cleaner's truncated output (me_cleaner ``-t``): FTPR is then the only
    data partition left in the FPT, and its entry keeps the old, longer length.
    """
    data = [e.name for e in table.entries if e.has_data and not e.nvram]
    if beyond and data != ["FTPR"]:
        work.corrupt.append(
            f"the ME region is truncated: {', '.join(beyond)} "
            f"{'runs' if len(beyond) == 1 else 'run'} past its end "
            f"({len(work.region):#x}), so those partitions are cut off, not removed"
        )


def _fpt_partitions(work: _Work, table: fpt.Fpt, base: int, directory: str) -> None:
    beyond: list[str] = []
    for entry in table.entries:
        offset = base + entry.offset
        if entry.nvram:
            kind, present = "nvram", False
        elif not entry.has_data:
            kind, present = "empty", False
        else:
            kind, present = "data", _is_present(work.region, offset, entry.length)
            if offset + entry.length > len(work.region):
                beyond.append(entry.name)
                work.warnings.append(
                    f"partition {entry.name} ({offset:#x}+{entry.length:#x}) runs past the "
                    f"end of the ME region ({len(work.region):#x}): truncated"
                )
        work.partitions.append(
            PartitionReport(
                name=entry.name,
                offset=offset if kind != "nvram" else 0,
                length=entry.length,
                present=present,
                kind=kind,
                directory=directory,
            )
        )
        if entry.name == "FTPR" and kind == "data" and work.ftpr is None:
            work.ftpr = (offset, entry.length)
    _check_truncation(work, table, beyond)


def _fpt_report(table: fpt.Fpt) -> FptReport:
    return FptReport(
        offset=table.offset,
        header_version=table.header_version,
        entry_count=table.entry_count,
        checksum_kind=table.checksum_kind.value,
        checksum_stored=table.stored_checksum,
        checksum_valid=table.checksum_valid,
    )


def _read_fpt(work: _Work, offset: int, base: int, directory: str) -> None:
    table = fpt.parse_fpt(work.region, offset)
    work.fpt = table
    if not table.checksum_valid:
        work.corrupt.append(f"$FPT {table.checksum_kind.value} checksum is wrong")
    _fpt_partitions(work, table, base, directory)


def _read_ifwi(work: _Work, layout: ifwi.LayoutTable) -> None:
    from mewarden.firmware.me import ifwi

    for slot in layout.slots:
        if slot.name == "data":
            if work.region[slot.offset : slot.offset + 4] == fpt.FPT_TAG:
                _read_fpt(work, slot.offset, slot.offset, "data")
            continue
        try:
            bpdt = ifwi.parse_bpdt(work.region, slot.offset)
        except FirmwareFormatError as exc:
            work.warnings.append(f"{slot.name}: {exc}")
            continue
        for entry in bpdt.entries:
            if entry.size == 0:
                continue
            present = _is_present(work.region, entry.data_offset, entry.size)
            work.partitions.append(
                PartitionReport(
                    name=entry.name,
                    offset=entry.data_offset,
                    length=entry.size,
                    present=present,
                    kind="data",
                    directory=slot.name,
                )
            )
            if entry.name == "FTPR" and work.ftpr is None:
                work.ftpr = (entry.data_offset, entry.size)


def _manifest_report(parsed: manifest.Manifest) -> ManifestReport:
    key = parsed.key
    return ManifestReport(
        offset=parsed.offset,
        version=parsed.version,
        date=parsed.date,
        svn=parsed.svn,
        key_size=parsed.key_size * 8,
        key_md5=parsed.key_md5,
        key_sha256=parsed.key_sha256,
        key_known=f"{key.family.value} {key.versions}" if key else None,
        production_key=key.production if key else None,
        signature_scheme=parsed.scheme.value,
        signature_valid=parsed.signature_valid,
        debug_signed=parsed.debug_signed,
    )


def _compression_name(module: mme.MmeModule) -> str:
    if isinstance(module.compression, mme.Compression):
        return module.compression.name.lower()
    return f"unknown-{module.compression}"


def _mme_modules(work: _Work, parsed: manifest.Manifest, start: int) -> tuple[ModuleReport, ...]:
    modules = mme.parse_modules(work.region, parsed, start)
    names = {module.name for module in modules}
    for name in GEN2_ESSENTIAL:
        if name in names and not any(m.present for m in modules if m.name == name):
            work.corrupt.append(f"essential module {name} is missing")
    results: list[bool | None] = [None] * len(modules)
    if work.verify:
        from mewarden.firmware.me import verify

        results = verify.resolve([verify.mme_check(work.region, m) for m in modules])
    reports = []
    for module, valid in zip(modules, results, strict=True):
        if valid is False:
            work.corrupt.append(f"module {module.name} does not match its manifest hash")
        reports.append(
            ModuleReport(
                name=module.name,
                present=module.present,
                compression=_compression_name(module),
                offset=module.data_offset,
                size=module.size,
                hash_valid=valid,
            )
        )
    return tuple(reports)


def _cpd_modules(
    work: _Work, directory: cpd.Cpd, parsed: manifest.Manifest | None, partition: str
) -> tuple[ModuleReport, ...]:
    """The modules of one ``$CPD`` partition; hashes checked when ``parsed`` is given."""
    entries = [e for e in directory.entries if not e.name.endswith((".man", ".met", ".key"))]
    results: list[bool | None] = [None] * len(entries)
    if parsed is not None:
        from mewarden.firmware.me import verify

        pending = verify.cpd_checks(work.region, directory, parsed)
        results = verify.resolve([pending.get(e.name) for e in entries])
    for entry, valid in zip(entries, results, strict=True):
        if valid is False:
            work.corrupt.append(f"module {partition}/{entry.name} does not match its metadata hash")
    modules = tuple(
        ModuleReport(
            name=e.name,
            present=e.present,
            compression="huffman" if e.huffman else "none-or-lzma",
            offset=e.data_offset,
            size=e.length,
            hash_valid=valid,
            partition=partition,
        )
        for e, valid in zip(entries, results, strict=True)
    )
    for module in modules:
        if module.name.startswith(GEN3_ESSENTIAL) and not module.present:
            work.corrupt.append(f"essential module {module.name} is missing")
    return modules


def _other_partition(work: _Work, part: PartitionReport) -> tuple[ModuleReport, ...]:
    directory = cpd.parse_cpd(work.region, part.offset, part.length)
    parsed = None
    if work.verify and directory.manifest is not None:
        parsed = manifest.parse_manifest(work.region, directory.manifest.data_offset)
        if parsed.signature_valid is False:
            work.corrupt.append(f"{part.name} manifest signature is not valid")
    return _cpd_modules(work, directory, parsed, part.name)


def _other_modules(work: _Work) -> tuple[ModuleReport, ...]:
    """Modules of the ``$CPD`` code partitions other than FTPR (RBEP, PMCP, NFTP, ...)."""
    found: list[ModuleReport] = []
    for part in work.partitions:
        if (part.offset, part.length) == work.ftpr or part.kind != "data" or not part.present:
            continue
        if work.region[part.offset : part.offset + 4] != cpd.CPD_TAG:
            continue
        try:
            found.extend(_other_partition(work, part))
        except FirmwareFormatError as exc:
            work.warnings.append(f"{part.name}: {exc}")
    return tuple(found)


def _read_ftpr(
    work: _Work,
) -> tuple[manifest.Manifest | None, tuple[ModuleReport, ...], str | None, bool]:
    """The FTPR manifest, its modules, the module format, and whether headers are TXE-sized."""
    if work.ftpr is None:
        work.corrupt.append("no FTPR code partition")
        return None, (), None, False
    start, length = work.ftpr
    if work.region[start : start + 4] == cpd.CPD_TAG:
        directory = cpd.parse_cpd(work.region, start, length)
        entry = directory.manifest
        if entry is None:
            work.corrupt.append("FTPR $CPD has no .man manifest")
            return None, (), "cpd", False
        parsed = manifest.parse_manifest(work.region, entry.data_offset)
        checked = parsed if work.verify else None
        return parsed, _cpd_modules(work, directory, checked, "FTPR"), "cpd", False
    parsed = manifest.parse_manifest(work.region, start)
    modules = _mme_modules(work, parsed, start)
    first = parsed.offset + parsed.header_length + 0xC
    txe = len(modules) > 1 and mme.header_size(work.region, first) == 0x80
    return parsed, modules, "mme", txe


def _family(parsed: manifest.Manifest | None, txe_headers: bool, warnings: list[str]) -> str:
    if parsed is None:
        return MeFamily.UNKNOWN.value
    key = parsed.key
    if key is None:
        warnings.append(f"unknown public key (SHA-256 {parsed.key_sha256[:16]}...)")
    elif not key.production:
        warnings.append(f"pre-production signing key ({key.versions})")
    if key is not None and key.family is not MeFamily.UNKNOWN:
        return key.family.value
    major = parsed.version_tuple[0]
    if txe_headers:
        return MeFamily.TXE.value
    return (MeFamily.CSME if major >= 11 else MeFamily.ME).value


def _state(work: _Work, modules: tuple[ModuleReport, ...], layout: MeLayout) -> MeState:
    """Stock images may hold erased data partitions (logs, MFS copies), so only code counts."""
    if work.corrupt:
        return MeState.CORRUPT
    code = [p for p in work.partitions if p.name in CODE_PARTITIONS and p.kind == "data"]
    data_names = [p.name for p in work.partitions if p.kind == "data"]
    only_ftpr = layout is MeLayout.FPT and data_names == ["FTPR"]
    removed_code = any(not p.present for p in code)
    removed_module = any(not m.present for m in modules if "." not in m.name)
    if only_ftpr or removed_code or removed_module:
        return MeState.NEUTRALIZED
    return MeState.STOCK


def _sku(region: bytes, parsed: manifest.Manifest | None, module_format: str | None,
         family: str) -> str | None:  # fmt: skip
    if parsed is None:
        return None
    if module_format == "cpd":
        return manifest.cse_sku(region, parsed)
    return sku.mme_sku(region, parsed, family)


def _read_layout(work: _Work) -> tuple[MeLayout, ifwi.LayoutTable | None]:
    fpt_offset = fpt.find_fpt(work.region)
    if fpt_offset is not None:
        _read_fpt(work, fpt_offset, 0, "fpt")
        return MeLayout.FPT, None
    from mewarden.firmware.me import ifwi

    layout_table = ifwi.parse_layout_table(work.region)
    if layout_table is None:
        raise FirmwareFormatError("ME region has neither $FPT nor a CSE layout table", offset=0)
    _read_ifwi(work, layout_table)
    return MeLayout.IFWI, layout_table


def analyze_me(region: bytes, *, verify_modules: bool = False) -> MeReport:
    """Analyze an ME region (FPT or IFWI layout); optionally check module hashes."""
    work = _Work(region, verify=verify_modules)
    layout, layout_table = _read_layout(work)
    try:
        parsed, modules, module_format, txe = _read_ftpr(work)
    except FirmwareFormatError as exc:
        work.corrupt.append(f"FTPR: {exc}")
        parsed, modules, module_format, txe = None, (), None, False
    if parsed is not None and parsed.signature_valid is not True:
        work.corrupt.append("FTPR manifest signature is not valid")
    other_modules = _other_modules(work)
    family = _family(parsed, txe, work.warnings)
    state = _state(work, modules, layout)
    return MeReport(
        family=family,
        version=parsed.version if parsed else None,
        sku=_sku(region, parsed, module_format, family),
        layout=layout,
        ifwi_version=layout_table.ifwi_version if layout_table else None,
        fpt=_fpt_report(work.fpt) if work.fpt else None,
        partitions=tuple(work.partitions),
        manifest=_manifest_report(parsed) if parsed else None,
        modules=modules,
        other_modules=other_modules,
        module_format=module_format,
        state=state,
        warnings=tuple(work.warnings + work.corrupt),
    )
