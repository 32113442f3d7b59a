"""AMT clock read and synchronisation (``AMT_TimeSynchronizationService``), time injected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mewarden.amt.session import Session, invoke
from mewarden.errors import WsmanError


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockSync:
    """The AMT clock before a sync and the times used (unix seconds)."""

    amt_time: int
    host_time_before: int
    host_time_sent: int
    skew_s: int


async def read_amt_time(session: Session) -> int:
    """``GetLowAccuracyTimeSynch`` → Ta0 (AMT's clock, unix seconds)."""
    out = await invoke(
        session, "AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch", idempotent=True
    )
    ta0 = out.integer("Ta0")
    if ta0 is None:
        raise WsmanError("GetLowAccuracyTimeSynch returned no Ta0")
    return ta0


async def sync_time(session: Session, clock: Callable[[], float]) -> ClockSync:
    """Read Ta0 then ``SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2)`` with ``clock`` (unix time)."""
    tm_before = int(clock())
    ta0 = await read_amt_time(session)
    tm = int(clock())
    await invoke(
        session,
        "AMT_TimeSynchronizationService",
        "SetHighAccuracyTimeSynch",
        (("Ta0", ta0), ("Tm1", tm), ("Tm2", tm)),
    )
    return ClockSync(
        amt_time=ta0, host_time_before=tm_before, host_time_sent=tm, skew_s=ta0 - tm_before
    )
