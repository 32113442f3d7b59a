"""Fleet guard rails: self-isolation, short-circuit, max in flight, rate limits."""

from __future__ import annotations

import pytest

from mewarden.errors import ConfigError
from mewarden.policy.guards import (
    FleetView,
    GroupHealth,
    GuardRule,
    RateBudgets,
    TokenBucket,
    check_guards,
    group_short_circuited,
    is_isolated,
)
from mewarden.policy.ladder import ActionKind
from mewarden.policy.settings import HealSettings

S = HealSettings(
    max_unhealthy_fraction=0.3,
    isolation_fraction=0.55,
    isolation_min_nodes=3,
    max_in_flight=2,
    actions_per_s=1.0,
    actions_burst=2,
    pxe_per_s=0.1,
    pxe_burst=1,
)
NOW = 500.0


def view(
    *, unhealthy: int = 1, total: int = 10, unreachable: int = 0, in_flight: int = 0
) -> FleetView:
    return FleetView(
        groups={"rack1": GroupHealth(total=total, unhealthy=unhealthy)},
        probed=total,
        unreachable=unreachable,
        in_flight=in_flight,
    )


def guard(
    action: ActionKind = ActionKind.POWER_OFF,
    *,
    fleet: FleetView | None = None,
    budgets: RateBudgets | None = None,
    continuation: bool = False,
    retry: bool = False,
    now: float = NOW,
) -> tuple[GuardRule, RateBudgets]:
    verdict, after = check_guards(
        action,
        group="rack1",
        continuation=continuation,
        view=fleet or view(),
        budgets=budgets or RateBudgets.initial(S, NOW),
        settings=S,
        now=now,
        retry=retry,
    )
    assert verdict.allowed is (verdict.rule is GuardRule.ALLOWED)
    return verdict.rule, after


def test_allowed_in_a_quiet_fleet() -> None:
    assert guard()[0] is GuardRule.ALLOWED


@pytest.mark.parametrize(("unreachable", "isolated"), [(5, False), (6, True), (10, True)])
def test_self_isolation(unreachable: int, isolated: bool) -> None:
    fleet = view(unreachable=unreachable)
    assert is_isolated(fleet, S) is isolated
    expected = GuardRule.SELF_ISOLATION if isolated else GuardRule.ALLOWED
    assert guard(fleet=fleet)[0] is expected


def test_self_isolation_needs_enough_nodes_to_judge() -> None:
    tiny = FleetView(groups={}, probed=2, unreachable=2, in_flight=0)
    assert not is_isolated(tiny, S)


def test_self_isolation_stops_even_continuations() -> None:
    assert guard(fleet=view(unreachable=9), continuation=True)[0] is GuardRule.SELF_ISOLATION


@pytest.mark.parametrize(("unhealthy", "blocked"), [(3, False), (4, True), (10, True)])
def test_short_circuit_by_fraction(unhealthy: int, blocked: bool) -> None:
    assert group_short_circuited(GroupHealth(total=10, unhealthy=unhealthy), S) is blocked
    expected = GuardRule.SHORT_CIRCUIT if blocked else GuardRule.ALLOWED
    assert guard(fleet=view(unhealthy=unhealthy))[0] is expected


def test_short_circuit_by_count() -> None:
    counted = HealSettings(max_unhealthy_fraction=1.0, max_unhealthy_count=2)
    assert group_short_circuited(GroupHealth(total=100, unhealthy=3), counted)
    assert not group_short_circuited(GroupHealth(total=100, unhealthy=2), counted)


def test_switch_outage_of_forty_percent_takes_no_action() -> None:
    assert guard(fleet=view(unhealthy=4, total=10))[0] is GuardRule.SHORT_CIRCUIT


def test_continuation_passes_short_circuit_and_budgets() -> None:
    empty = RateBudgets(
        actions=TokenBucket(rate_per_s=0.001, capacity=1, tokens=0, updated_at=NOW),
        pxe=TokenBucket(rate_per_s=0.001, capacity=1, tokens=0, updated_at=NOW),
    )
    rule, _ = guard(fleet=view(unhealthy=9, in_flight=99), budgets=empty, continuation=True)
    assert rule is GuardRule.ALLOWED


def test_retried_continuation_takes_a_token_but_skips_the_fleet_rules() -> None:
    empty = RateBudgets(
        actions=TokenBucket(rate_per_s=0.001, capacity=1, tokens=0, updated_at=NOW),
        pxe=TokenBucket(rate_per_s=0.001, capacity=1, tokens=0, updated_at=NOW),
    )
    crowded = view(unhealthy=9, in_flight=99)
    held = guard(ActionKind.POWER_ON, fleet=crowded, budgets=empty, continuation=True, retry=True)
    assert held[0] is GuardRule.RATE_LIMIT
    rule, after = guard(ActionKind.POWER_ON, fleet=crowded, continuation=True, retry=True)
    assert rule is GuardRule.ALLOWED
    assert after.actions.tokens == S.actions_burst - 1


def test_max_in_flight_rejects() -> None:
    assert guard(fleet=view(in_flight=2))[0] is GuardRule.MAX_IN_FLIGHT
    assert guard(fleet=view(in_flight=1))[0] is GuardRule.ALLOWED


def test_action_budget_allows_a_burst_then_refills() -> None:
    budgets = RateBudgets.initial(S, NOW)
    rules = []
    for _ in range(S.actions_burst + 1):
        rule, budgets = guard(budgets=budgets)
        rules.append(rule)
    assert rules == [GuardRule.ALLOWED] * S.actions_burst + [GuardRule.RATE_LIMIT]
    assert guard(budgets=budgets, now=NOW + 1 / S.actions_per_s)[0] is GuardRule.ALLOWED


def test_pxe_has_its_own_smaller_budget() -> None:
    budgets = RateBudgets.initial(S, NOW)
    rule, budgets = guard(ActionKind.PXE_REPROVISION, budgets=budgets)
    assert rule is GuardRule.ALLOWED
    rule, budgets = guard(ActionKind.PXE_REPROVISION, budgets=budgets)
    assert rule is GuardRule.PXE_RATE_LIMIT
    assert guard(ActionKind.POWER_OFF, budgets=budgets)[0] is GuardRule.ALLOWED


def test_bucket_never_exceeds_capacity_and_ignores_clock_going_back() -> None:
    bucket = TokenBucket.full(rate_per_s=10, capacity=3, now=NOW)
    assert bucket.refilled(NOW + 1000).tokens == 3
    ok, taken = bucket.try_take(NOW)
    assert ok
    assert taken.refilled(NOW - 50).tokens == taken.tokens


@pytest.mark.parametrize(
    "bad",
    [
        {"boot_time_s": 0},
        {"max_unhealthy_fraction": 1.5},
        {"cycle_retries": -1},
        {"max_in_flight": 0},
    ],
)
def test_bad_settings_are_config_errors(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        HealSettings(**bad)  # type: ignore[arg-type]
