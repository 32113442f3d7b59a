"""Fleet guard rails: when the ladder proposes a host action, may it be carried out now?

Pure functions over a :class:`FleetView` (what the controller sees this tick) and the rate
budgets (token buckets, persisted by the controller). Order matters and follows the anchors in
``shared/reference/fleet-and-style.md`` §1.6–1.8:

1. **self-isolation**: if most probed nodes look unreachable, the likeliest failure is the
   controller's own network: stop everything (Kubernetes full-disruption mode);
2. **short-circuit**: too many unhealthy nodes in the node's group means a shared cause (a
   switch, a PDU): remediating them one by one would only add load (MachineHealthCheck);
3. **max in flight**: remediations under way are capped; more are rejected, not queued (Ironic);
4. **rate limit**: token buckets on action starts, with a separate, smaller one for PXE
   re-provisions, which load DHCP/TFTP/image servers.

A continuation (power-on after a confirmed power-off) skips rules 2–4: stopping half-way would
leave a node off. Self-isolation still applies: an unreachable controller cannot act anyway.
A continuation *retried* after a failure takes a rate-budget token again (rule 4), so a failing
power-on is never re-sent faster than the fleet's action rate.

The controller keeps the budgets in the org database, shared by every replica and surviving
restarts (:mod:`mewarden.state.heal_store`), and takes the token with :class:`TokenBucket`'s
arithmetic inside the transaction that records the action.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from mewarden.policy.ladder import REPROVISION_ACTIONS, ActionKind
from mewarden.policy.settings import HealSettings


class GuardRule(StrEnum):
    """Which guard rail decided."""

    ALLOWED = "allowed"
    SELF_ISOLATION = "self-isolation"
    SHORT_CIRCUIT = "short-circuit"
    MAX_IN_FLIGHT = "max-in-flight"
    RATE_LIMIT = "rate-limit"
    PXE_RATE_LIMIT = "pxe-rate-limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupHealth:
    """Use-policy nodes of one group and how many of them are unhealthy now."""

    total: int
    unhealthy: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetView:
    """What the controller sees this tick."""

    groups: dict[str, GroupHealth]
    probed: int
    unreachable: int
    """Nodes whose AMT and host agent both failed to answer this controller."""
    in_flight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenBucket:
    """A token bucket with explicit time: ``rate_per_s`` refill up to ``capacity``."""

    rate_per_s: float
    capacity: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, *, rate_per_s: float, capacity: float, now: float) -> TokenBucket:
        return cls(rate_per_s=rate_per_s, capacity=capacity, tokens=capacity, updated_at=now)

    def refilled(self, now: float) -> TokenBucket:
        elapsed = max(0.0, now - self.updated_at)
        tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
        return dataclasses.replace(self, tokens=tokens, updated_at=max(now, self.updated_at))

    def try_take(self, now: float) -> tuple[bool, TokenBucket]:
        current = self.refilled(now)
        if current.tokens < 1.0:
            return False, current
        return True, dataclasses.replace(current, tokens=current.tokens - 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RateBudgets:
    """The two rate budgets: all action starts, and PXE re-provisions."""

    actions: TokenBucket
    pxe: TokenBucket

    @classmethod
    def initial(cls, settings: HealSettings, now: float) -> RateBudgets:
        return cls(
            actions=TokenBucket.full(
                rate_per_s=settings.actions_per_s, capacity=settings.actions_burst, now=now
            ),
            pxe=TokenBucket.full(
                rate_per_s=settings.pxe_per_s, capacity=settings.pxe_burst, now=now
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardVerdict:
    """Allowed or not, by which rule, and why (recorded as an event either way)."""

    allowed: bool
    rule: GuardRule
    reason: str


def is_isolated(view: FleetView, settings: HealSettings) -> bool:
    """True when so many nodes look dead from here that the controller should suspect itself."""
    if view.probed < settings.isolation_min_nodes:
        return False
    return view.unreachable / view.probed >= settings.isolation_fraction


def group_short_circuited(health: GroupHealth, settings: HealSettings) -> bool:
    """True when the group has too many unhealthy nodes for one-by-one remediation."""
    if health.total <= 0:
        return False
    if settings.max_unhealthy_count is not None and health.unhealthy > settings.max_unhealthy_count:
        return True
    return health.unhealthy / health.total > settings.max_unhealthy_fraction


def check_fleet(
    action: ActionKind, *, group: str, continuation: bool, view: FleetView, settings: HealSettings
) -> GuardVerdict | None:
    """Rules 1-3 (everything but the rate budgets): the denial, or None when they allow it."""
    if is_isolated(view, settings):
        share = f"{view.unreachable}/{view.probed}"
        return _deny(GuardRule.SELF_ISOLATION, f"{share} nodes unreachable from here")
    if continuation:
        return None
    health = view.groups.get(group, GroupHealth(total=0, unhealthy=0))
    if group_short_circuited(health, settings):
        share = f"{health.unhealthy}/{health.total}"
        return _deny(GuardRule.SHORT_CIRCUIT, f"group {group}: {share} unhealthy")
    if view.in_flight >= settings.max_in_flight:
        return _deny(GuardRule.MAX_IN_FLIGHT, f"{view.in_flight} remediations in flight")
    return None


def needs_budget(*, continuation: bool, retry: bool) -> bool:
    """Whether the action takes a rate-budget token: all but a first-try continuation."""
    return retry or not continuation


def check_guards(
    action: ActionKind,
    *,
    group: str,
    continuation: bool,
    view: FleetView,
    budgets: RateBudgets,
    settings: HealSettings,
    now: float,
    retry: bool = False,
) -> tuple[GuardVerdict, RateBudgets]:
    """May ``action`` start now? Returns the verdict and the budgets after it.

    ``retry``: a continuation tried again after a failure takes a token like a new action.
    """
    denied = check_fleet(
        action, group=group, continuation=continuation, view=view, settings=settings
    )
    if denied is not None:
        return denied, budgets
    if not needs_budget(continuation=continuation, retry=retry):
        return GuardVerdict(allowed=True, rule=GuardRule.ALLOWED, reason="continuation"), budgets
    return take_budget(action, budgets, now)


def bucket_of(action: ActionKind) -> str:
    """Which rate budget an action spends: ``pxe`` for re-provisions (PXE and IDER alike:
    both reinstall a node), else ``actions``."""
    return "pxe" if action in REPROVISION_ACTIONS else "actions"


def budget_rule(action: ActionKind) -> GuardRule:
    """The rule that holds ``action`` back when its budget is spent."""
    if action in REPROVISION_ACTIONS:
        return GuardRule.PXE_RATE_LIMIT
    return GuardRule.RATE_LIMIT


def take_budget(
    action: ActionKind, budgets: RateBudgets, now: float
) -> tuple[GuardVerdict, RateBudgets]:
    """Rule 4: take one token from the action's bucket."""
    if action in REPROVISION_ACTIONS:
        ok, pxe = budgets.pxe.try_take(now)
        new = dataclasses.replace(budgets, pxe=pxe)
        if not ok:
            return _deny(GuardRule.PXE_RATE_LIMIT, "PXE re-provision budget spent"), new
        return GuardVerdict(allowed=True, rule=GuardRule.ALLOWED, reason="within budget"), new
    ok, actions = budgets.actions.try_take(now)
    new = dataclasses.replace(budgets, actions=actions)
    if not ok:
        return _deny(GuardRule.RATE_LIMIT, "action budget spent"), new
    return GuardVerdict(allowed=True, rule=GuardRule.ALLOWED, reason="within budget"), new


def _deny(rule: GuardRule, reason: str) -> GuardVerdict:
    return GuardVerdict(allowed=False, rule=rule, reason=reason)
