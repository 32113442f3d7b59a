"""AMT reachability of live hosts: when to check it, and what a reading changes (pure).

While the host agent answers, the ladder needs nothing from AMT, so the controller reads AMT
only when the host looks dead. An AMT that died on a live host would then go unnoticed until
the host failed too, and healing it would be impossible. So each live node's AMT is also read
once every ``amt_check_interval_s``, at a stable per-node offset within that interval: a pass
checks only the nodes whose check time fell since the previous pass, which spreads the AMT
traffic evenly over the interval (AMT firmware should be polled gently, reference §1.8).

An AMT-only outage is recorded (``amt-down`` once per outage, ``amt-restored`` when AMT
answers again) and never leads to a host action: the ladder treats ``amt-only-down`` as
healthy, because the host is.
"""

from __future__ import annotations

import math
import zlib
from enum import StrEnum

from mewarden.policy.ladder import Observation


class AmtChange(StrEnum):
    """An AMT-only outage began or ended (event names, prefixed ``heal.``)."""

    DOWN = "amt-down"
    RESTORED = "amt-restored"


def check_offset_s(name: str, interval_s: float) -> float:
    """Where in each interval the node's check falls: stable across passes, restarts and
    replicas (CRC-32 of the name, not ``hash``, which changes per process)."""
    return zlib.crc32(name.encode()) / 2**32 * interval_s


def amt_check_due(name: str, since: float | None, now: float, interval_s: float) -> bool:
    """Whether one of the node's check times ``offset + k * interval_s`` is in (since, now].

    ``since`` is when the previous pass began (None: no previous pass, so no window yet and no
    check; a first pass does not read every AMT at once).
    """
    if since is None or now <= since:
        return False
    offset = check_offset_s(name, interval_s)
    return math.floor((now - offset) / interval_s) > math.floor((since - offset) / interval_s)


def amt_change(was_down: bool, obs: Observation) -> AmtChange | None:
    """What the reading changes about a known AMT-only outage (None: nothing).

    Only a live host with an unanswering AMT starts one (a dead host with a silent AMT is the
    ladder's ``amt-unreachable`` incident); any reading in which AMT answered ends it. A reading
    that did not ask AMT (``amt_reachable`` None) changes nothing.
    """
    if obs.amt_reachable is None:
        return None
    if obs.amt_reachable:
        return AmtChange.RESTORED if was_down else None
    if obs.host_alive and not was_down:
        return AmtChange.DOWN
    return None
