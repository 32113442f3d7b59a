"""Every knob of the self-healing controller, with its unit, meaning and default in one place.

Defaults follow the anchors in ``shared/reference/fleet-and-style.md`` §1 (Cluster API
MachineHealthCheck, Metal3, Ironic, MAAS, Kubernetes node lifecycle, Pacemaker). Times are
seconds; the demo and tests scale them down, production keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class HealSettings:
    """Detection thresholds, ladder timings and guard-rail budgets."""

    # detection
    unhealthy_after_s: float = 60.0
    """A condition must hold this long before the node counts as unhealthy (MHC timeout)."""
    startup_grace_s: float = 600.0
    """A newly enrolled node is not judged before this (MHC nodeStartupTimeout)."""
    amt_check_interval_s: float = 300.0
    """A live host's AMT is read once per this, at a stable per-node offset (an AMT outage on
    a live host is noticed within it); a dead host's AMT is read at every probe."""
    heartbeat_stale_s: float = 90.0
    """A node that pushes heartbeats and sent none for this long is probed at the next pass,
    even if ``healthy_poll_s`` would skip it (a heartbeat never causes or prevents an action)."""

    # ladder
    power_off_confirm_s: float = 60.0
    """After a power-off, AMT must report the node off within this, or the cycle failed."""
    boot_time_s: float = 120.0
    """Wait at least this long after power-on before judging the boot (Metal3 minimum 100 s)."""
    cycle_retries: int = 1
    """Power cycles per incident before escalating to a PXE re-provision (Metal3 default 1)."""
    reprovision_timeout_s: float = 1800.0
    """After forcing a PXE boot, the node must re-enroll and be healthy within this."""
    pxe_retries: int = 1
    """PXE re-provisions per incident before quarantine."""
    min_healthy_s: float = 3600.0
    """A relapse within this after recovery continues the same incident (KCP minHealthyPeriod)."""
    amt_unreachable_quarantine_s: float = 600.0
    """AMT silent this long while the host is also dead: quarantine with fault amt-unreachable."""
    max_attempts: int = 10
    """Actions per incident before quarantine (Pacemaker stonith-max-attempts)."""

    # backoff after a failed action
    backoff_base_s: float = 60.0
    backoff_cap_s: float = 8 * 3600.0

    # fleet guard rails
    max_unhealthy_fraction: float = 0.4
    """No new remediation in a group where more than this fraction is unhealthy (MHC)."""
    max_unhealthy_count: int | None = None
    """Optional absolute cap per group, checked together with the fraction."""
    isolation_fraction: float = 0.55
    """If this fraction of probed nodes is unreachable, suspect the controller: stop (k8s)."""
    isolation_min_nodes: int = 3
    max_in_flight: int = 10
    """Remediations in progress fleet-wide; more are rejected, not queued (Ironic, BMO)."""
    actions_per_s: float = 0.5
    actions_burst: int = 5
    pxe_per_s: float = 0.05
    pxe_burst: int = 2

    def __post_init__(self) -> None:
        problems = [name for name in _POSITIVE_FIELDS if getattr(self, name) <= 0]
        if problems:
            raise ConfigError(f"heal settings must be positive: {', '.join(problems)}")
        for name in ("max_unhealthy_fraction", "isolation_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"heal setting {name} must be in (0, 1]")
        if self.cycle_retries < 0 or self.pxe_retries < 0:
            raise ConfigError("heal settings cycle_retries and pxe_retries must be >= 0")


_POSITIVE_FIELDS = (
    "unhealthy_after_s",
    "amt_check_interval_s",
    "heartbeat_stale_s",
    "power_off_confirm_s",
    "boot_time_s",
    "reprovision_timeout_s",
    "min_healthy_s",
    "amt_unreachable_quarantine_s",
    "max_attempts",
    "backoff_base_s",
    "backoff_cap_s",
    "max_in_flight",
    "actions_per_s",
    "actions_burst",
    "pxe_per_s",
    "pxe_burst",
    "isolation_min_nodes",
)
