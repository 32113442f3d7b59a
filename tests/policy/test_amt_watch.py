"""When a live host's AMT is read, and what a reading changes (pure, instant)."""

from __future__ import annotations

import pytest

from mewarden.policy.amt_watch import AmtChange, amt_change, amt_check_due, check_offset_s
from mewarden.policy.ladder import Observation

INTERVAL = 300.0
NAMES = [f"node{i:05d}" for i in range(2000)]

UNASKED = Observation(host_alive=True, amt_reachable=None, power_on=True)
LIVE_AMT_UP = Observation(host_alive=True, amt_reachable=True, power_on=True)
LIVE_AMT_DOWN = Observation(host_alive=True, amt_reachable=False, power_on=True)
DEAD_AMT_UP = Observation(host_alive=False, amt_reachable=True, power_on=True)
DEAD_AMT_DOWN = Observation(host_alive=False, amt_reachable=False)


@pytest.mark.parametrize(
    ("was_down", "obs", "change"),
    [
        (False, UNASKED, None),
        (True, UNASKED, None),  # not asked: the outage is not over
        (False, LIVE_AMT_UP, None),
        (True, LIVE_AMT_UP, AmtChange.RESTORED),
        (False, LIVE_AMT_DOWN, AmtChange.DOWN),
        (True, LIVE_AMT_DOWN, None),  # once per outage
        (False, DEAD_AMT_DOWN, None),  # the ladder's amt-unreachable incident, not this
        (True, DEAD_AMT_DOWN, None),
        (False, DEAD_AMT_UP, None),
        (True, DEAD_AMT_UP, AmtChange.RESTORED),
    ],
)
def test_amt_change(was_down: bool, obs: Observation, change: AmtChange | None) -> None:
    assert amt_change(was_down, obs) is change


def test_offset_is_stable_and_inside_the_interval() -> None:
    offsets = [check_offset_s(n, INTERVAL) for n in NAMES]
    assert offsets == [check_offset_s(n, INTERVAL) for n in NAMES]
    assert all(0.0 <= o < INTERVAL for o in offsets)
    assert len(set(offsets)) > len(NAMES) * 0.99


@pytest.mark.parametrize("pass_s", [1.0, 10.0, 37.0])
def test_each_node_is_checked_once_per_interval_spread_over_the_passes(pass_s: float) -> None:
    start = 1_700_000_000.0
    passes = int(3 * INTERVAL / pass_s)
    checks = dict.fromkeys(NAMES, 0)
    per_pass = []
    since = start
    for k in range(1, passes + 1):
        now = start + k * pass_s
        due = [n for n in NAMES if amt_check_due(n, since, now, INTERVAL)]
        per_pass.append(len(due))
        for name in due:
            checks[name] += 1
        since = now
    covered = passes * pass_s / INTERVAL  # 3 intervals, give or take a partial window
    assert all(int(covered) - 1 <= c <= int(covered) + 1 for c in checks.values())
    assert sum(checks.values()) >= len(NAMES) * (covered - 1)
    # a pass checks only its share of the fleet: pass_s / INTERVAL, not everyone at once
    share = len(NAMES) * pass_s / INTERVAL
    assert max(per_pass) <= 2 * share + 10


@pytest.mark.parametrize(
    ("since", "now", "due"),
    [
        (None, 1000.0, False),  # no previous pass: no window, no burst on start-up
        (1000.0, 1000.0, False),
        (1000.0, 900.0, False),  # the clock stepped back
        (1000.0, 1000.0 + INTERVAL, True),  # a whole interval contains every node's slot
    ],
)
def test_window_edges(since: float | None, now: float, due: bool) -> None:
    assert all(amt_check_due(n, since, now, INTERVAL) is due for n in NAMES[:50])


def test_check_falls_exactly_at_the_offset() -> None:
    name = NAMES[7]
    slot = 10 * INTERVAL + check_offset_s(name, INTERVAL)
    assert amt_check_due(name, slot - 0.5, slot, INTERVAL)
    assert not amt_check_due(name, slot, slot + INTERVAL - 0.5, INTERVAL)
    assert amt_check_due(name, slot, slot + INTERVAL, INTERVAL)
