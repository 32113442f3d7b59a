"""The state of one emulated AMT device and the host behind it (pure: time is passed in).

Nothing here sleeps or reads a clock. Every mutating call takes ``now`` (seconds on the fleet's
monotonic clock); delayed effects (a boot finishing, a graceful shutdown) are kept as scheduled
events and applied by :meth:`DeviceState.advance` the next time anyone looks at the device. That
makes a 10,000-device fleet cost nothing while idle, and lets tests drive time by hand.

Behaviour follows the reference facts (``../shared/reference/amt.md`` §1.3, §1.4, §6):
``ReturnValue 0`` means *accepted*, not done; reset or cycle of a machine that is off returns 2;
recent firmware refuses sleep and hibernate (3, 4, 7); boot overrides are one-shot (consumed by
the next boot); a PXE boot ends with the host re-enrolled. A broken OS (``break_os``) survives
power cycles: every boot from disk ends in a kernel panic until a network (PXE) or IDER boot
re-installs it.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from mewarden.emulate.hostconsole import HostConsole
from mewarden.emulate.hostsetup_state import HostSetupState
from mewarden.emulate.settings import KvmSettings, NetworkSettings
from mewarden.emulate.values import (
    GRACEFUL_REQUESTS,
    KVM_DISABLED,
    KVM_ENABLED,
    OFF_REQUESTS,
    OPT_IN_ALL,
    OPT_IN_NONE,
    REFUSED_POWER_STATES,
    RESET_REQUESTS,
    BootSettings,
    BootSource,
    ControlMode,
    DeviceEvent,
    Identity,
    IderBootResult,
    OptInReturn,
    OptInState,
    PowerReturn,
    PowerState,
    Timing,
)


@dataclass(slots=True)
class _Scheduled:
    at: float
    kind: str


@dataclass(slots=True, kw_only=True)
class DeviceState:
    """Mutable state of one device + host. Every method takes ``now``; none reads a clock."""

    identity: Identity
    timing: Timing
    control_mode: ControlMode = ControlMode.CLIENT
    powered: bool = True
    host_up: bool = True
    host_hung: bool = False
    boot_target: BootSource = BootSource.DEFAULT
    boot_count: int = 0
    reenroll_count: int = 0
    ignore_power: bool = False
    os_broken: bool = False
    """The installed OS is broken: a boot from disk never comes up; only a re-install (a PXE
    boot, or an IDER boot of a bootable image) heals it."""
    ider_boot: IderBootResult | None = None
    """What the emulated BIOS found on the IDER CD at the last IDER boot (None: none yet)."""
    ider_cd: bool = True
    """The IDER boot device of the current boot (IDERBootDevice 1: CD, 0: floppy)."""
    ider_sectors: int = 0
    """Sectors the host read from the IDER drive (BIOS and installer), all sessions."""
    ider_attached: bool = False
    """An IDER session has the devices connected: a pending IDER boot waits for it."""
    admin_ha1: str | None = None  # set by Setup/AdminSetup; None: the fleet password
    redirection_state: int = 32771
    listener_enabled: bool = True
    kvm_enabled: bool = True
    opt_in_state: OptInState = OptInState.NOT_STARTED
    opt_in_code: str | None = None
    opt_in_policy: int | None = None
    """An admin-control-mode Put of OptInRequired (None: the mode's default)."""
    boot: BootSettings = field(default_factory=BootSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    kvm: KvmSettings = field(default_factory=KvmSettings)
    clock_offset_s: int = 0  # AMT clock minus wall clock, set by SetHighAccuracyTimeSynch
    host_setup: HostSetupState = field(default_factory=HostSetupState)
    events: list[DeviceEvent] = field(default_factory=list)
    console: HostConsole = field(default_factory=HostConsole)
    """The host's text console: SOL streams it, the KVM framebuffer draws it."""
    redirection_auth: tuple[int, ...] = (1, 4)
    """Redirection auth types offered (1 plain for Debian's amtterm 1.4, 3/4 digest)."""
    _console_step: str = "login"
    _console_user: str = ""
    _console_typed: str = ""
    _console_after_cr: bool = False
    _schedule: list[_Scheduled] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def create(
        cls, identity: Identity, timing: Timing, *, mode: ControlMode, now: float
    ) -> DeviceState:
        state = cls(identity=identity, timing=timing, control_mode=mode)
        state._rng = random.Random(identity.uuid)  # noqa: S311 - consent codes of a simulator
        state._print_boot(BootSource.DEFAULT)
        state._print_login()
        state.events.append(DeviceEvent(at=now, kind="emulator-start"))
        return state

    # --- time -------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Apply every scheduled effect due at or before ``now``."""
        while self._schedule and self._schedule[0].at <= now:
            item = self._schedule.pop(0)
            self._apply(item, now)

    def _apply(self, item: _Scheduled, now: float) -> None:
        if item.kind == "host-up":
            self._host_booted(item.at)
        elif item.kind == "power-off":
            self._power_off(item.at)
        elif item.kind == "power-on":
            self._power_on(item.at)
        elif item.kind == "ider-timeout" and self.ider_boot_pending and not self.ider_attached:
            self._ider_failed(item.at, "no IDER session answered: no bootable device")

    def _schedule_at(self, at: float, kind: str) -> None:
        self._schedule.append(_Scheduled(at, kind))
        self._schedule.sort(key=lambda s: s.at)

    @property
    def power_state(self) -> PowerState:
        """What ``CIM_AssociatedPowerManagementService.PowerState`` reports."""
        return PowerState.POWER_ON if self.powered else PowerState.POWER_OFF_HARD

    @property
    def host_answers(self) -> bool:
        """True while the host OS runs and is not hung (the agent on 9100 answers)."""
        return self.powered and self.host_up and not self.host_hung

    # --- power ------------------------------------------------------------------------------

    def request_power(self, requested: int, now: float) -> PowerReturn:
        """``RequestPowerStateChange``: accept (0) and schedule, or refuse with a ReturnValue."""
        self.advance(now)
        try:
            state = PowerState(requested)
        except ValueError:
            return PowerReturn.INVALID_PARAMETER
        if state in REFUSED_POWER_STATES:
            return PowerReturn.NOT_SUPPORTED
        self.events.append(DeviceEvent(at=now, kind="power-request", detail=str(int(state))))
        if self.ignore_power:
            return PowerReturn.COMPLETED
        if state is PowerState.DIAGNOSTIC_INTERRUPT_NMI:
            return PowerReturn.COMPLETED if self.powered else PowerReturn.UNKNOWN
        if state in RESET_REQUESTS and not self.powered:
            return PowerReturn.UNKNOWN
        delay = self.timing.shutdown_time_s if state in GRACEFUL_REQUESTS and self.host_up else 0.0
        if state is PowerState.POWER_ON:
            if not self.powered:
                self._schedule = []
                self._power_on(now)
        elif state in OFF_REQUESTS:
            if self.powered:
                self._schedule = []
                self._schedule_at(now + delay, "power-off")
        else:
            self._schedule = []
            self._schedule_at(now + delay, "power-off")
            self._schedule_at(now + delay, "power-on")
        self.advance(now)
        return PowerReturn.COMPLETED

    def _power_off(self, at: float) -> None:
        if not self.powered:
            return
        self.powered = False
        self.host_up = False
        self.host_hung = False
        self.events.append(DeviceEvent(at=at, kind="power-off"))
        self.console.append("[ power off ]")

    def _power_on(self, at: float) -> None:
        self.powered = True
        self.host_up = False
        self.host_hung = False
        self.boot_target = self._consume_boot_override()
        self.boot_count += 1
        self.events.append(
            DeviceEvent(at=at, kind="boot-start", detail=self.boot_target.name.lower())
        )
        self._print_boot(self.boot_target)
        if self.boot_target is BootSource.IDER:
            # the BIOS reads the IDER CD first (the redirection shell reports what it found
            # through ider_booted); without a session it gives up after a boot's time
            self.ider_boot = None
            self._schedule_at(at + self.timing.boot_time_s, "ider-timeout")
        elif self.boot_target is not BootSource.BIOS:
            self._schedule_at(at + self.timing.boot_time_s, "host-up")

    def _host_booted(self, at: float) -> None:
        if not self.powered:
            return
        self.host_up = True
        if self.boot_target in (BootSource.PXE, BootSource.IDER):
            self._reinstalled(at, "pxe" if self.boot_target is BootSource.PXE else "ider")
            return
        if self.os_broken:
            self.host_hung = True
            self.events.append(DeviceEvent(at=at, kind="host-hung", detail="broken-os"))
            self.console.append("Kernel panic - not syncing: VFS: Unable to mount root fs")
            return
        self.events.append(DeviceEvent(at=at, kind="boot-complete"))
        self._print_login()

    def _reinstalled(self, at: float, source: str) -> None:
        """A network or IDER boot ran the installer: a fresh OS, and the preboot re-enrolled."""
        self.os_broken = False
        self.events.append(DeviceEvent(at=at, kind="boot-complete"))
        self.reenroll_count += 1
        self.events.append(DeviceEvent(at=at, kind="re-enrolled", detail=source))
        self.console.append(f"{source.upper()}: installer finished; node re-enrolled.")
        self._print_login()

    def _ider_failed(self, at: float, error: str) -> None:
        """The BIOS found nothing bootable on the IDER CD: it stops, as a real one does."""
        if self.ider_boot is None:
            self.ider_boot = IderBootResult(bootable=False, error=error)
        self.host_up = False
        self.events.append(DeviceEvent(at=at, kind="boot-failed", detail=error))
        self.console.append(f"IDER: {error}")
        self.console.append("No bootable device -- insert boot disk and press any key")

    @property
    def ider_boot_pending(self) -> bool:
        """The BIOS is waiting to read the IDER CD (an IDER boot began, nothing read yet)."""
        return (
            self.powered
            and not self.host_up
            and self.boot_target is BootSource.IDER
            and self.ider_boot is None
        )

    def ider_booted(self, result: IderBootResult, now: float) -> None:
        """The emulated BIOS finished reading the IDER CD: run the installer, or stop."""
        self.advance(now)
        if not self.ider_boot_pending:
            return
        self.ider_boot = result
        self._schedule = [s for s in self._schedule if s.kind != "ider-timeout"]
        if not result.bootable:
            self._ider_failed(now, result.error)
            return
        self.console.append(f"IDER CD: volume {result.volume_id!r}, El Torito boot image")
        self.console.append(f"boot image sha256 {result.boot_image_sha256}")
        self.console.append("Booting the installer...")
        self._schedule_at(now + self.timing.boot_time_s, "host-up")

    def ider_detached(self, now: float) -> None:
        """The IDER session ended: a BIOS still waiting for the drive gives up."""
        self.advance(now)
        self.ider_attached = False
        if self.ider_boot_pending:
            self._ider_failed(now, "the IDER session ended before the boot: no bootable device")

    def break_os(self, now: float) -> None:
        """The installed OS breaks: the host crashes now and every boot from disk fails."""
        self.advance(now)
        self.os_broken = True
        if self.powered and self.host_up:
            self.host_hung = True
            self.events.append(DeviceEvent(at=now, kind="host-hung", detail="broken-os"))

    def _consume_boot_override(self) -> BootSource:
        """One-shot semantics: the override applies to this boot only, then clears."""
        boot = self.boot
        target = BootSource.DEFAULT
        if boot.bios_setup:
            target = BootSource.BIOS
        elif boot.use_ider:
            target = BootSource.IDER
            self.ider_cd = boot.ider_boot_device == 1
        elif boot.source is not None and boot.role_applied:
            target = boot.source
        self.boot = BootSettings(enforce_secure_boot=boot.enforce_secure_boot)
        return target

    def _print_boot(self, target: BootSource) -> None:
        self.console.append("Intel(R) Boot Agent - emulated BIOS")
        if target is BootSource.PXE:
            self.console.append("PXE boot: DHCP... TFTP... loading installer")
        elif target is BootSource.BIOS:
            self.console.append("Entering BIOS setup")
        elif target is BootSource.IDER:
            self.console.append("IDER: booting from the redirected CD-ROM...")
        else:
            self.console.append("Booting from hard disk...")
            self.console.append("Linux version 6.1.0 (emulated)")

    def _print_login(self) -> None:
        self._console_step = "login"
        self._console_typed = ""
        self.console.append(f"Debian GNU/Linux 12 {self.identity.hostname} ttyS0")
        self.console.append(f"{self.identity.hostname} login: ")

    # --- host -------------------------------------------------------------------------------

    def hang_host(self, hung: bool, now: float) -> None:
        self.advance(now)
        self.host_hung = hung
        if hung:
            self.events.append(DeviceEvent(at=now, kind="host-hung"))

    # --- boot override ----------------------------------------------------------------------

    def change_boot_order(self, source: BootSource | None) -> int:
        """``CIM_BootConfigSetting.ChangeBootOrder``: ``None`` clears the order."""
        self.boot.source = source
        self.boot.role_applied = False if source is None else self.boot.role_applied
        return 0

    def set_boot_config_role(self, role: int) -> int:
        """``CIM_BootService.SetBootConfigRole``: role 1 makes the setting next-single-use."""
        if role not in (0, 1):
            return 5
        self.boot.role_applied = role == 1
        return 0

    def update_boot_settings(self, changes: dict[str, bool | int]) -> None:
        """Apply a validated Put of ``AMT_BootSettingData`` (names already mapped)."""
        current = self.boot
        values = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
        values.update(changes)
        self.boot = BootSettings(**values)

    # --- user consent -----------------------------------------------------------------------

    @property
    def opt_in_required(self) -> int:
        if self.control_mode is ControlMode.CLIENT:
            return OPT_IN_ALL  # fixed in client control mode
        return OPT_IN_NONE if self.opt_in_policy is None else self.opt_in_policy

    def start_opt_in(self, now: float) -> OptInReturn:
        if self.opt_in_state in (OptInState.DISPLAYED, OptInState.RECEIVED):
            return OptInReturn.INVALID_STATE
        self.opt_in_code = f"{self._rng.randrange(1_000_000):06d}"
        self.opt_in_state = OptInState.DISPLAYED
        self.events.append(DeviceEvent(at=now, kind="opt-in-displayed"))
        return OptInReturn.SUCCESS

    def send_opt_in_code(self, code: str, now: float) -> OptInReturn:
        if self.opt_in_state is not OptInState.DISPLAYED:
            return OptInReturn.INVALID_STATE
        if code.strip().lstrip("0") != (self.opt_in_code or "").lstrip("0"):
            self.events.append(DeviceEvent(at=now, kind="opt-in-wrong-code"))
            return OptInReturn.BLOCKED
        self.opt_in_state = OptInState.RECEIVED
        self.events.append(DeviceEvent(at=now, kind="opt-in-received"))
        return OptInReturn.SUCCESS

    def cancel_opt_in(self, now: float) -> OptInReturn:
        self.opt_in_state = OptInState.NOT_STARTED
        self.opt_in_code = None
        self.events.append(DeviceEvent(at=now, kind="opt-in-cancelled"))
        return OptInReturn.SUCCESS

    def consent_satisfied(self) -> bool:
        if self.opt_in_required == OPT_IN_NONE:
            return True
        return self.opt_in_state in (OptInState.RECEIVED, OptInState.IN_SESSION)

    # --- activation -------------------------------------------------------------------------

    def setup(self, *, encryption_type: int, password_ha1: str, admin: bool, now: float) -> int:
        """``IPS_HostBasedSetupService.Setup``/``AdminSetup``: activate with a new admin HA1.

        ReturnValue 0 success, 2 invalid state (already activated), 3 invalid parameter.
        """
        if self.control_mode is not ControlMode.PRE_PROVISIONING:
            return 2
        ha1 = password_ha1.strip().lower()
        if encryption_type != 2 or len(ha1) != 32 or any(c not in "0123456789abcdef" for c in ha1):
            return 3
        self.admin_ha1 = ha1
        self.control_mode = ControlMode.ADMIN if admin else ControlMode.CLIENT
        self.events.append(DeviceEvent(at=now, kind="activated", detail=self.control_mode.name))
        return 0

    def unprovision(self, now: float) -> int:
        """``AMT_SetupAndConfigurationService.Unprovision``: back to pre-provisioning."""
        if self.control_mode is ControlMode.PRE_PROVISIONING:
            return 16  # PT_STATUS_NOT_PERMITTED
        self.control_mode = ControlMode.PRE_PROVISIONING
        self.admin_ha1 = None
        self.events.append(DeviceEvent(at=now, kind="unprovisioned"))
        return 0

    # --- redirection ------------------------------------------------------------------------

    def request_redirection_state(self, requested: int, now: float) -> int:
        """``AMT_RedirectionService`` state: 32768 + 1 (IDER) + 2 (SOL) (§1.9); else 5."""
        if requested not in (32768, 32769, 32770, 32771):
            return 5
        before = self.redirection_state - 32768
        after = requested - 32768
        for bit, feature in ((1, "ider"), (2, "sol")):
            if before & bit != after & bit:
                change = "enabled" if after & bit else "disabled"
                self.events.append(DeviceEvent(at=now, kind=f"{feature}-{change}"))
        self.redirection_state = requested
        return 0

    def request_kvm_state(self, requested: int, now: float) -> int:
        """``CIM_KVMRedirectionSAP.RequestStateChange``: 2 enables, 3 disables (§1.9); else 5."""
        if requested not in (KVM_ENABLED, KVM_DISABLED):
            return 5
        enabled = requested == KVM_ENABLED
        if enabled != self.kvm_enabled:
            self.kvm_enabled = enabled
            kind = "kvm-enabled" if enabled else "kvm-disabled"
            self.events.append(DeviceEvent(at=now, kind=kind))
        return 0

    @property
    def sol_enabled(self) -> bool:
        return self.listener_enabled and self.redirection_state in (32770, 32771)

    def console_input(self, text: str) -> None:
        """Keys typed on the console (SOL or KVM): echoed as a terminal does (not a password);
        Enter answers with the login dialogue, then a small shell (``echo``, ``exit``)."""
        if not self.host_answers:
            return
        for char in text:
            after_cr, self._console_after_cr = self._console_after_cr, char == "\r"
            if char == "\n" and after_cr:
                continue  # CR LF is one Enter
            if char in "\r\n":
                line, self._console_typed = self._console_typed, ""
                self._console_enter(line)
            elif char in ("\b", "\x7f"):
                if self._console_typed:
                    self._console_typed = self._console_typed[:-1]
                    if self._console_step != "password":
                        self.console.write("\b \b")
            elif char >= " ":
                self._console_typed += char
                if self._console_step != "password":
                    self.console.write(char)

    def _console_enter(self, line: str) -> None:
        host = self.identity.hostname
        step = self._console_step
        if step == "login":
            if line.strip():
                self._console_user = line.strip()
                self._console_step = "password"
                self.console.append("Password: ")
            else:
                self.console.append(f"{host} login: ")
        elif step == "password":
            self._console_step = "shell"
            self.console.append(f"Linux {host} 6.1.0 (emulated)")
            self.console.append(self._shell_prompt())
        else:
            self._shell_command(line.strip())

    def _shell_prompt(self) -> str:
        return f"{self._console_user}@{self.identity.hostname}:~$ "

    def _shell_command(self, command: str) -> None:
        if command in ("exit", "logout"):
            self._console_step = "login"
            self.console.append(f"{self.identity.hostname} login: ")
            return
        if command == "echo" or command.startswith("echo "):
            self.console.append(command[5:])
        elif command:
            self.console.append(f"-bash: {command.split(maxsplit=1)[0]}: command not found")
        self.console.append(self._shell_prompt())
