"""The decision table: from observed registers to a verdict, with the evidence for it.

Pure. Rules (reference ``live-me-and-network.md`` A2.1 runtime signatures and A2.4):

* COM=4 (override jumper) or COM=5 (HMRFPO) -> ``override``;
* COM=3 (Soft Temporary Disable), normally with CWS=4 and error 2 -> ``soft-disabled``;
* COM=2 with init-complete 0 and CWS != 5 -> ``hap-disabled`` (HAP / AltMeDisable: CWS=1/COS=6 on
  ME 7-9, CWS=4/error 2 on CSME 16); COM=2 with CWS=5 is a debug-fused ME that runs;
* CWS=5 and COM=0 -> ``running``; anything else -> ``unknown`` with the decoded fields.

Boot Guard: HFSTS6 (CSME 11-17: bit 28 disable, 0 force ACM, 9 verified boot) or HFSTS5
(CSME 18+: bit 1 valid, 0 ACM active, 8 ACM done) and MSR 0x13A (bit 32 capability, 6 verified
boot). Any source that says enforced wins, because ``firmware neutralize`` must not brick a
machine on a guess.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

from mewarden.host.hfsts import (
    BootGuardRegisters,
    ErrorCode,
    FirmwareSku,
    Hfsts1,
    MeFamily,
    OperationMode,
    WorkingState,
)
from mewarden.host.msr import SacmInfo
from mewarden.values import AmtState, BootGuardState, MeState

__all__ = [
    "AmtState",
    "BootGuardState",
    "Finding",
    "MeState",
    "amt_from_amthi",
    "amt_from_state",
    "boot_guard_from_msr",
    "boot_guard_from_registers",
    "combine_boot_guard",
    "describe_hfsts1",
    "me_state_from_hfsts1",
]

_S = TypeVar("_S")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding(Generic[_S]):
    """A conclusion and the evidence (one line each) that led to it."""

    state: _S
    evidence: tuple[str, ...]


def _name(value: object) -> str:
    return value.name if isinstance(value, enum.Enum) else str(value)


def describe_hfsts1(h1: Hfsts1) -> str:
    """One line with the fields the decision table uses."""
    return (
        f"HFSTS1={h1.raw:#010x}: working state {_name(h1.working_state)} "
        f"(CWS={int(h1.working_state)}), operation mode {_name(h1.operation_mode)} "
        f"(COM={int(h1.operation_mode)}), error {_name(h1.error_code)}, "
        f"init complete {int(h1.init_complete)}, operation state {_name(h1.operation_state)}"
    )


def me_state_from_hfsts1(h1: Hfsts1) -> Finding[MeState]:
    """Apply the decision table to HFSTS1."""
    line = describe_hfsts1(h1)
    com, cws = int(h1.operation_mode), int(h1.working_state)
    if h1.raw == 0xFFFFFFFF:
        return Finding(state=MeState.UNKNOWN, evidence=(f"{line}; all ones: device not answering",))
    if com == OperationMode.SECURITY_OVERRIDE_JUMPER:
        why = "COM=4: the descriptor security override strap is asserted (flash unlocked)"
        return Finding(state=MeState.OVERRIDE, evidence=(line, why))
    if com == OperationMode.SECURITY_OVERRIDE_MEI:
        why = "COM=5: security override via MEI (HMRFPO): ME region host-writable"
        return Finding(state=MeState.OVERRIDE, evidence=(line, why))
    if com == OperationMode.SOFT_TEMPORARY_DISABLE:
        why = "COM=3 (Soft Temporary Disable): ME disabled by a HECI command, re-enable by BIOS"
        if cws != WorkingState.DISABLED or h1.error_code != ErrorCode.DISABLED:
            why += "; unusual: the usual signature also has CWS=4 and error 2"
        return Finding(state=MeState.SOFT_DISABLED, evidence=(line, why))
    if com == OperationMode.DEBUG and not h1.init_complete and cws != WorkingState.NORMAL:
        why = (
            "COM=2 ('Alt Disable Mode') with init-complete 0 and CWS!=5: "
            "HAP / AltMeDisable in effect, the ME halted after bring-up"
        )
        return Finding(state=MeState.HAP_DISABLED, evidence=(line, why))
    if cws == WorkingState.NORMAL and com == OperationMode.NORMAL:
        why = "CWS=5 and COM=0: ME running normally"
        if h1.error_code != ErrorCode.NO_ERROR:
            why += f" but reporting error {_name(h1.error_code)}"
        return Finding(state=MeState.RUNNING, evidence=(line, why))
    if cws == WorkingState.NORMAL and com in (OperationMode.DEBUG, OperationMode.ENHANCED_DEBUG):
        why = "CWS=5 with a debug operation mode: a debug-fused ME that runs"
        return Finding(state=MeState.RUNNING, evidence=(line, why))
    if com == OperationMode.SPS:
        why = "COM=0xF: server SPS firmware"
        state = MeState.RUNNING if cws == WorkingState.NORMAL else MeState.UNKNOWN
        return Finding(state=state, evidence=(line, why))
    why = "this combination is not in the decision table"
    if cws == WorkingState.DISABLED:
        why = "CWS=4 (Disabled) without a disable mode: disabled for an unknown reason"
    return Finding(state=MeState.UNKNOWN, evidence=(line, why))


def boot_guard_from_registers(
    family: MeFamily, registers: BootGuardRegisters | None
) -> Finding[BootGuardState]:
    """Boot Guard as HFSTS6 (CSME 11-17) or HFSTS5 (CSME 18+) reports it."""
    if registers is None:
        return Finding(
            state=BootGuardState.UNKNOWN,
            evidence=(f"no Boot Guard register for family {family.value} in what was read",),
        )
    raw = f"{registers.register.upper()}={registers.raw:#010x}"
    if registers.register == "hfsts5":
        if registers.valid and registers.acm_active:
            why = f"{raw}: Boot Guard valid and its ACM active"
            return Finding(state=BootGuardState.ENFORCED, evidence=(why,))
        if not registers.valid:
            why = f"{raw}: Boot Guard status not valid (bit 1 clear): not enabled"
            return Finding(state=BootGuardState.NOT_ENFORCED, evidence=(why,))
        why = f"{raw}: Boot Guard valid but ACM not active"
        return Finding(state=BootGuardState.UNKNOWN, evidence=(why,))
    if registers.disabled:
        return Finding(
            state=BootGuardState.NOT_ENFORCED, evidence=(f"{raw}: Boot Guard disable bit 28 set",)
        )
    if registers.verified_boot or registers.force_acm:
        why = (
            f"{raw}: verified boot {int(bool(registers.verified_boot))}, force ACM "
            f"{int(bool(registers.force_acm))}, error enforcement policy "
            f"{registers.enforcement_policy}, FPF SOC lock {int(bool(registers.fpf_soc_lock))}"
        )
        return Finding(state=BootGuardState.ENFORCED, evidence=(why,))
    why = f"{raw}: neither verified boot (bit 9) nor force ACM (bit 0) is set"
    return Finding(state=BootGuardState.NOT_ENFORCED, evidence=(why,))


def boot_guard_from_msr(info: SacmInfo) -> Finding[BootGuardState]:
    """Boot Guard as MSR 0x13A reports it."""
    raw = f"MSR 0x13A={info.raw:#018x}"
    if not info.boot_guard_capable:
        why = f"{raw}: CPU not Boot Guard capable (bit 32 clear)"
        return Finding(state=BootGuardState.NOT_ENFORCED, evidence=(why,))
    if info.verified_boot:
        why = f"{raw}: verified boot (bit 6) set"
        return Finding(state=BootGuardState.ENFORCED, evidence=(why,))
    why = f"{raw}: Boot Guard capable, verified boot (bit 6) clear"
    return Finding(state=BootGuardState.NOT_ENFORCED, evidence=(why,))


def combine_boot_guard(findings: list[Finding[BootGuardState]]) -> Finding[BootGuardState]:
    """Enforced if any source says so; not-enforced if some source says so; else unknown."""
    evidence = tuple(line for f in findings for line in f.evidence)
    states = {f.state for f in findings}
    for state in (BootGuardState.ENFORCED, BootGuardState.NOT_ENFORCED):
        if state in states:
            return Finding(state=state, evidence=evidence)
    return Finding(state=BootGuardState.UNKNOWN, evidence=evidence)


def amt_from_state(me_state: MeState, sku: FirmwareSku | int | None) -> Finding[AmtState] | None:
    """What the ME's own state says about AMT without asking AMTHI (or ``None``)."""
    if me_state in (MeState.HAP_DISABLED, MeState.SOFT_DISABLED):
        why = f"ME is {me_state.value}: AMT cannot run"
        return Finding(state=AmtState.ABSENT, evidence=(why,))
    if sku in (FirmwareSku.CONSUMER, FirmwareSku.LITE):
        why = f"HFSTS3 firmware SKU {_name(sku).lower()}: no AMT in this firmware"
        return Finding(state=AmtState.ABSENT, evidence=(why,))
    return None


def amt_from_amthi(
    present: bool | None, provisioning_state: int | None, control_mode: int | None
) -> Finding[AmtState]:
    """The AMT state from AMTHI answers (mei-amt-check's logic, plus the control mode)."""
    if present is False:
        return Finding(state=AmtState.ABSENT, evidence=("AMTHI: no AMT host interface",))
    if present is None:
        return Finding(state=AmtState.UNKNOWN, evidence=("AMTHI could not be asked",))
    if provisioning_state == 0:
        return Finding(
            state=AmtState.UNPROVISIONED, evidence=("AMTHI: provisioning state 0 (pre)",)
        )
    if provisioning_state == 2 and control_mode in (1, 2):
        state = AmtState.CCM if control_mode == 1 else AmtState.ACM
        why = f"AMTHI: provisioning state 2 (post), control mode {control_mode}"
        return Finding(state=state, evidence=(why,))
    why = f"AMTHI: provisioning state {provisioning_state}, control mode {control_mode}"
    return Finding(state=AmtState.UNKNOWN, evidence=(why,))
