"""``mewarden host probe``: compose the readers, the decoders and the decision table.

The report's JSON form is a versioned contract (``docs/host-probe.md``): ``schema_version``,
and at top level ``verdict``, ``boot_guard`` (read by ``firmware neutralize
--boot-guard-status``) and ``amt``, each with its evidence. Nothing here raises for what the host
lacks or refuses: every unreadable thing becomes a line in ``problems`` and, when it matters, a
verdict of ``unknown`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.errors import HostDataError
from mewarden.host import hfsts, sysfs
from mewarden.host.amthi import CodeVersions, LanSettings
from mewarden.host.hfsts import BootGuardRegisters, FirmwareSku, Hfsts1, MeFamily
from mewarden.host.mei import IoctlTransport, ReplayTransport, TransportFactory
from mewarden.host.mkhi import FwVersion, parse_fw_ver
from mewarden.host.msr import MSR_BOOT_GUARD_SACM_INFO, SacmInfo, decode_sacm_info
from mewarden.host.pci import PciFunction, heci_platform, intel_chipset_functions, pick_heci
from mewarden.host.queries import AmtFacts, query_amt, query_fw_version
from mewarden.host.sysfs import HostTree
from mewarden.host.verdict import (
    AmtState,
    BootGuardState,
    Finding,
    MeState,
    amt_from_amthi,
    amt_from_state,
    boot_guard_from_msr,
    boot_guard_from_registers,
    combine_boot_guard,
    me_state_from_hfsts1,
)

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class HeciInfo:
    """The HECI PCI function and what its device ID says."""

    address: str
    vendor: str
    device: str
    platform: str | None
    generation: str | None
    driver_bound: bool
    mei_device: str | None
    dev_state: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterInfo:
    """The HFSTS registers as read, and their decode."""

    source: str  # "fw_status" or "pci-config"
    hfsts: tuple[str, ...]
    family: MeFamily
    hfsts1: Hfsts1
    manufacturing_mode: bool | None
    spi_unprotected: bool | None
    sku: FirmwareSku | int | None
    boot_guard: BootGuardRegisters | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AmtInfo:
    """What AMTHI answered."""

    code_versions: CodeVersions | None
    provisioning_state: int | None
    control_mode: int | None
    uuid: str | None
    lan: LanSettings | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeReport:
    """The probe's result (JSON contract version :data:`SCHEMA_VERSION`)."""

    schema_version: int
    source: str  # "live" or "recorded"
    verdict: MeState
    verdict_evidence: tuple[str, ...]
    boot_guard: BootGuardState
    boot_guard_evidence: tuple[str, ...]
    amt: AmtState
    amt_evidence: tuple[str, ...]
    cpu_vendor: str | None
    heci: HeciInfo | None
    firmware_version: str | None
    fw_ver: tuple[str, ...]
    registers: RegisterInfo | None
    msr_boot_guard_sacm_info: SacmInfo | None
    amt_info: AmtInfo | None
    problems: tuple[str, ...]


def default_transport_factory(tree: HostTree, mei_device: str | None) -> TransportFactory | None:
    """Replay a tree's recorded MEI sessions, or open ``/dev/<mei_device>`` on the live system.

    ``mei_device`` is the ``meiN`` bound to the chosen HECI function: with a second ME function
    (HECI2) or an earlier one hidden, HECI1's node is not necessarily ``mei0``.
    """
    sessions = tree.manifest.mei
    if sessions is not None:
        replay = ReplayTransport(list(sessions))
        return lambda: replay
    node = f"dev/{mei_device}"
    if mei_device is not None and tree.is_live and tree.exists(node):
        return lambda: IoctlTransport(str(tree.root / node))
    return None


def heci_mei_device(tree: HostTree) -> str | None:
    """The ``meiN`` of the HECI function the probe picks (None: none, or driver not bound)."""
    functions, _ = sysfs.list_pci_functions(tree)
    function = pick_heci(functions)
    return None if function is None else sysfs.find_mei_device(tree, function.address)


def probe(tree: HostTree, transports: TransportFactory | None = None) -> ProbeReport:
    """Probe the host (or recorded tree) ``tree``."""
    problems: list[str] = []
    functions, pci_problems = sysfs.list_pci_functions(tree)
    problems.extend(pci_problems)
    cpu_vendor = sysfs.read_cpu_vendor(tree)
    heci_function = pick_heci(functions)
    msr_info, boot_guard_msr = _read_msr(tree, problems)
    if heci_function is None:
        verdict = _no_heci(functions, cpu_vendor, bool(pci_problems) and not functions)
        boot_guard = combine_boot_guard(boot_guard_msr)
        amt = Finding(state=AmtState.UNKNOWN, evidence=("no HECI function to ask",))
        amt_info = None
        if transports is not None:  # a MEI endpoint named explicitly (host probe --mei)
            amt, amt_info = _amt(None, "--mei", transports, problems)
        return _report(
            tree,
            verdict=verdict,
            boot_guard=boot_guard,
            amt=amt,
            cpu_vendor=cpu_vendor,
            msr=msr_info,
            problems=problems,
            amt_info=amt_info,
        )
    return _probe_heci(
        tree,
        heci_function,
        cpu_vendor=cpu_vendor,
        msr_info=msr_info,
        boot_guard_msr=boot_guard_msr,
        problems=problems,
        transports=transports,
    )


def _probe_heci(
    tree: HostTree,
    function: PciFunction,
    *,
    cpu_vendor: str | None,
    msr_info: SacmInfo | None,
    boot_guard_msr: list[Finding[BootGuardState]],
    problems: list[str],
    transports: TransportFactory | None,
) -> ProbeReport:
    mei_device = sysfs.find_mei_device(tree, function.address)
    heci = _heci_info(tree, function, mei_device)
    fw_ver = _read_fw_ver(tree, mei_device, problems)
    factory = transports if transports is not None else default_transport_factory(tree, mei_device)
    if mei_device is not None and factory is not None and not fw_ver:
        fw_ver, problem = query_fw_version(factory)
        if problem:
            problems.append(problem)
    register_problems: list[str] = []
    registers, source = _read_registers(tree, function, mei_device, register_problems)
    problems.extend(register_problems)
    assessment = _assess(registers, source, _family(fw_ver, function), register_problems)
    verdict = assessment.verdict
    boot_guard = combine_boot_guard(
        assessment.boot_guard + _old_platform(function) + boot_guard_msr
    )
    register_info = assessment.registers
    amt_hint = assessment.amt_hint
    if mei_device is None:
        verdict = _with_driver_note(verdict)
    amt, amt_info = _amt(amt_hint, mei_device, factory, problems)
    return _report(
        tree,
        verdict=verdict,
        boot_guard=boot_guard,
        amt=amt,
        cpu_vendor=cpu_vendor,
        msr=msr_info,
        problems=problems,
        heci=heci,
        fw_ver=fw_ver,
        registers=register_info,
        amt_info=amt_info,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Assessment:
    verdict: Finding[MeState]
    registers: RegisterInfo | None
    boot_guard: list[Finding[BootGuardState]]
    amt_hint: Finding[AmtState] | None


def _assess(
    registers: tuple[int, ...] | None, source: str, family: MeFamily, problems: list[str]
) -> _Assessment:
    """Verdict, Boot Guard findings and an AMT hint from the registers (or their absence)."""
    if registers is None:
        reasons = tuple(problems) or ("no HFSTS register readable",)
        return _Assessment(
            verdict=Finding(state=MeState.UNKNOWN, evidence=reasons),
            registers=None,
            boot_guard=[],
            amt_hint=None,
        )
    decoded = hfsts.decode(registers, family)
    verdict = _with_bit4_note(me_state_from_hfsts1(decoded.hfsts1), decoded)
    boot_guard = (
        []
        if decoded.boot_guard is None
        else [boot_guard_from_registers(family, decoded.boot_guard)]
    )
    return _Assessment(
        verdict=verdict,
        registers=_register_info(decoded, source),
        boot_guard=boot_guard,
        amt_hint=amt_from_state(verdict.state, decoded.sku),
    )


def _report(
    tree: HostTree,
    *,
    verdict: Finding[MeState],
    boot_guard: Finding[BootGuardState],
    amt: Finding[AmtState],
    cpu_vendor: str | None,
    msr: SacmInfo | None,
    problems: list[str],
    heci: HeciInfo | None = None,
    fw_ver: tuple[FwVersion, ...] = (),
    registers: RegisterInfo | None = None,
    amt_info: AmtInfo | None = None,
) -> ProbeReport:
    meaningful = [b for b in fw_ver if not b.is_empty]
    return ProbeReport(
        schema_version=SCHEMA_VERSION,
        source="live" if tree.is_live else "recorded",
        verdict=verdict.state,
        verdict_evidence=verdict.evidence,
        boot_guard=boot_guard.state,
        boot_guard_evidence=boot_guard.evidence,
        amt=amt.state,
        amt_evidence=amt.evidence,
        cpu_vendor=cpu_vendor,
        heci=heci,
        firmware_version=str(meaningful[0]) if meaningful else None,
        fw_ver=tuple(f"{b.platform}:{b}" for b in fw_ver),
        registers=registers,
        msr_boot_guard_sacm_info=msr,
        amt_info=amt_info,
        problems=tuple(problems),
    )


def _no_heci(
    functions: tuple[PciFunction, ...], cpu_vendor: str | None, pci_unreadable: bool
) -> Finding[MeState]:
    if pci_unreadable:
        return Finding(state=MeState.UNKNOWN, evidence=("PCI devices could not be listed",))
    chipset = intel_chipset_functions(functions)
    listed = ", ".join(f"{f.address} [8086:{f.device:04x}]" for f in chipset)
    if cpu_vendor is not None and cpu_vendor != "GenuineIntel":
        why = (
            f"no Intel HECI function, and the CPU vendor is {cpu_vendor}: "
            "no Intel ME on this machine (or a virtual machine)"
        )
        return Finding(state=MeState.UNKNOWN, evidence=(why,))
    if not chipset:
        why = "no Intel HECI function and no Intel host/LPC bridge: not an Intel PCH platform"
        return Finding(state=MeState.UNKNOWN, evidence=(why,))
    return Finding(
        state=MeState.HIDDEN,
        evidence=(
            f"Intel chipset present ({listed}) but no HECI function (vendor 8086, class 0780)",
            "ambiguous: the BIOS hides HECI after HAP on many ME 11+ boards, on a BIOS "
            "'ME disable' option, or by design; corroborate with the flash descriptor's HAP "
            "bit (firmware inspect) and a network scan",
        ),
    )


def _with_bit4_note(verdict: Finding[MeState], decoded: hfsts.HfstsDecode) -> Finding[MeState]:
    if decoded.manufacturing_mode:
        note = "HFSTS1 bit 4 set: manufacturing mode (the platform configuration is not locked)"
    elif decoded.spi_unprotected:
        note = "HFSTS1 bit 4 set: SPI/flash descriptor not protected (CSME 16+ meaning)"
    else:
        return verdict
    return Finding(state=verdict.state, evidence=(*verdict.evidence, note))


def _with_driver_note(verdict: Finding[MeState]) -> Finding[MeState]:
    note = (
        "HECI function present but no /sys/class/mei device: mei_me driver not loaded, or it "
        "refused server SPS/IGN firmware"
    )
    return Finding(state=verdict.state, evidence=(*verdict.evidence, note))


def _heci_info(tree: HostTree, function: PciFunction, mei_device: str | None) -> HeciInfo:
    platform = heci_platform(function.device)
    dev_state = None
    if mei_device is not None:
        try:
            dev_state = tree.read_text(f"{sysfs.MEI_CLASS_DIR}/{mei_device}/dev_state").strip()
        except OSError:
            dev_state = None
    return HeciInfo(
        address=function.address,
        vendor=f"{function.vendor:04x}",
        device=f"{function.device:04x}",
        platform=platform.platform if platform else None,
        generation=platform.generation if platform else None,
        driver_bound=mei_device is not None,
        mei_device=mei_device,
        dev_state=dev_state,
    )


def _read_fw_ver(
    tree: HostTree, mei_device: str | None, problems: list[str]
) -> tuple[FwVersion, ...]:
    if mei_device is None:
        return ()
    relative = f"{sysfs.MEI_CLASS_DIR}/{mei_device}/fw_ver"
    try:
        return parse_fw_ver(tree.read_text(relative))
    except FileNotFoundError:
        return ()  # fw_ver exists only from kernel 4.18 and for PCH7+ configurations
    except OSError as exc:
        problems.append(sysfs.describe_os_error(f"/{relative}", exc))
    except HostDataError as exc:
        problems.append(f"/{relative}: {exc}")
    return ()


def _read_registers(
    tree: HostTree, function: PciFunction, mei_device: str | None, problems: list[str]
) -> tuple[tuple[int, ...] | None, str]:
    if mei_device is not None:
        relative = f"{sysfs.MEI_CLASS_DIR}/{mei_device}/fw_status"
        try:
            return hfsts.parse_fw_status(tree.read_text(relative)), "fw_status"
        except OSError as exc:
            problems.append(sysfs.describe_os_error(f"/{relative}", exc))
        except HostDataError as exc:
            problems.append(f"/{relative}: {exc}")
    registers, problem = sysfs.read_config_hfsts(tree, function.address)
    if registers is None:
        problems.append(problem)
        return None, ""
    return registers, "pci-config"


def _family(fw_ver: tuple[FwVersion, ...], function: PciFunction) -> MeFamily:
    for block in fw_ver:
        if not block.is_empty:
            return hfsts.family_for_major(block.major)
    platform = heci_platform(function.device)
    return platform.family if platform else MeFamily.UNKNOWN


def _old_platform(function: PciFunction) -> list[Finding[BootGuardState]]:
    platform = heci_platform(function.device)
    if platform is None or not platform.predates_boot_guard:
        return []
    why = f"{platform.platform} ({platform.generation}) predates Boot Guard (needs ME >= 9.5)"
    return [Finding(state=BootGuardState.NOT_ENFORCED, evidence=(why,))]


def _register_info(decoded: hfsts.HfstsDecode, source: str) -> RegisterInfo:
    return RegisterInfo(
        source=source,
        hfsts=tuple(f"{value:08x}" for value in decoded.registers),
        family=decoded.family,
        hfsts1=decoded.hfsts1,
        manufacturing_mode=decoded.manufacturing_mode,
        spi_unprotected=decoded.spi_unprotected,
        sku=decoded.sku,
        boot_guard=decoded.boot_guard,
    )


def _read_msr(
    tree: HostTree, problems: list[str]
) -> tuple[SacmInfo | None, list[Finding[BootGuardState]]]:
    value, problem = sysfs.read_msr(tree, MSR_BOOT_GUARD_SACM_INFO)
    if value is None:
        problems.append(problem)
        return None, [Finding(state=BootGuardState.UNKNOWN, evidence=(problem,))]
    info = decode_sacm_info(value)
    return info, [boot_guard_from_msr(info)]


def _amt(
    hint: Finding[AmtState] | None,
    mei_device: str | None,
    factory: TransportFactory | None,
    problems: list[str],
) -> tuple[Finding[AmtState], AmtInfo | None]:
    if mei_device is None or factory is None:
        if hint is not None:
            return hint, None
        why = "AMTHI not asked: " + (
            "no MEI device"
            if mei_device is None
            else f"no /dev/{mei_device}, or no MEI exchanges in the recorded tree"
        )
        return Finding(state=AmtState.UNKNOWN, evidence=(why,)), None
    facts = query_amt(factory)
    problems.extend(facts.problems)
    finding = amt_from_amthi(facts.present, facts.provisioning_state, facts.control_mode)
    if finding.state is AmtState.UNKNOWN and hint is not None:
        finding = Finding(state=hint.state, evidence=(*finding.evidence, *hint.evidence))
    return finding, _amt_info(facts)


def _amt_info(facts: AmtFacts) -> AmtInfo | None:
    if not facts.present:
        return None
    return AmtInfo(
        code_versions=facts.code_versions,
        provisioning_state=facts.provisioning_state,
        control_mode=facts.control_mode,
        uuid=facts.uuid,
        lan=facts.lan,
    )
