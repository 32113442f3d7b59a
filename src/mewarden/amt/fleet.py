"""Run one operation across many devices with a global concurrency limit.

Each device gets its own :class:`AmtClient` (so its own digest state and its one-in-flight
lock); a semaphore bounds how many devices are being talked to at once. Every device yields a
:class:`DeviceResult`; one device's failure never stops the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mewarden.amt.client import AmtClient, Endpoint
from mewarden.errors import MewardenError

T = TypeVar("T")
DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceResult(Generic[T]):
    """What happened on one device."""

    host: str
    ok: bool
    value: T | None = None
    error: str = ""
    error_kind: str = ""
    exit_code: int = 0
    elapsed_s: float = 0.0
    observed_pin: str | None = field(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSummary:
    """Counts per outcome, for the summary table."""

    total: int
    succeeded: int
    failed: int
    by_error: dict[str, int]


def summarize(results: Sequence[DeviceResult[T]]) -> FleetSummary:
    """Count successes and failures by error kind."""
    by_error: dict[str, int] = {}
    for result in results:
        if not result.ok:
            by_error[result.error_kind] = by_error.get(result.error_kind, 0) + 1
    succeeded = sum(1 for r in results if r.ok)
    return FleetSummary(
        total=len(results),
        succeeded=succeeded,
        failed=len(results) - succeeded,
        by_error=by_error,
    )


def _failure(endpoint: Endpoint, exc: MewardenError, started: float) -> DeviceResult[T]:
    return DeviceResult(
        host=endpoint.label,
        ok=False,
        error=str(exc),
        error_kind=type(exc).__name__,
        exit_code=exc.exit_code,
        elapsed_s=time.perf_counter() - started,
    )


async def _one(
    endpoint: Endpoint,
    operation: Callable[[AmtClient], Awaitable[T]],
    limit: asyncio.Semaphore,
) -> DeviceResult[T]:
    async with limit:
        started = time.perf_counter()
        try:
            client = AmtClient(endpoint)
        except MewardenError as exc:  # a bad pin, for instance
            return _failure(endpoint, exc, started)
        try:
            value = await operation(client)
        except MewardenError as exc:
            return _failure(endpoint, exc, started)
        finally:
            await client.aclose()
        return DeviceResult(
            host=endpoint.label,
            ok=True,
            value=value,
            elapsed_s=time.perf_counter() - started,
            observed_pin=client.observed_pin,
        )


async def run_fleet(
    endpoints: Sequence[Endpoint],
    operation: Callable[[AmtClient], Awaitable[T]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_result: Callable[[DeviceResult[T]], None] | None = None,
) -> list[DeviceResult[T]]:
    """Run ``operation`` on every endpoint, at most ``concurrency`` devices at once.

    Results come back in the order of ``endpoints``; ``on_result`` is called as each finishes
    (progress bars).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    limit = asyncio.Semaphore(concurrency)

    async def tracked(endpoint: Endpoint) -> DeviceResult[T]:
        result = await _one(endpoint, operation, limit)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(tracked(e) for e in endpoints)))
