"""Value types more than one package speaks of (no logic, no imports from the house).

The verdicts of a host probe are read by :mod:`mewarden.host` (which decides them) and by
:mod:`mewarden.state` (which checks a recorded probe report at enrollment); they live here so
that org state does not import the host package, which sits above it.
"""

from __future__ import annotations

import enum

__all__ = ["AmtState", "BootGuardState", "MeState"]


class MeState(enum.StrEnum):
    """What the ME is doing now."""

    RUNNING = "running"
    HAP_DISABLED = "hap-disabled"
    SOFT_DISABLED = "soft-disabled"
    OVERRIDE = "override"
    HIDDEN = "hidden"
    UNKNOWN = "unknown"


class BootGuardState(enum.StrEnum):
    """Whether Boot Guard verifies the boot block (read by ``firmware neutralize``)."""

    ENFORCED = "enforced"
    NOT_ENFORCED = "not-enforced"
    UNKNOWN = "unknown"


class AmtState(enum.StrEnum):
    """Whether AMT exists on this node and how it is provisioned."""

    ABSENT = "absent"
    UNPROVISIONED = "unprovisioned"
    CCM = "ccm"
    ACM = "acm"
    UNKNOWN = "unknown"
