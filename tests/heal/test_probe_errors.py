"""How an AMT error during a host action maps to an outcome: a TLS pin mismatch is fatal."""

from __future__ import annotations

import asyncio

import pytest

from mewarden.errors import AmtTimeoutError, MewardenError, TlsPinMismatchError
from mewarden.heal.probe import NodeIo, NodeTarget
from mewarden.policy.ladder import ActionKind, Outcome
from mewarden.secret import Secret


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (TlsPinMismatchError("certificate does not match the pin"), Outcome.TLS_PIN_MISMATCH),
        (AmtTimeoutError("no answer"), Outcome.RETRYABLE_FAILURE),
    ],
)
def test_action_error_outcome(
    monkeypatch: pytest.MonkeyPatch, error: MewardenError, outcome: Outcome
) -> None:
    async def failing(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr("mewarden.amt.power.change_power", failing)
    io = NodeIo(lambda _name: Secret("x"))
    target = NodeTarget(name="n1", group="", amt_host="127.0.0.9", amt_tls=True)

    async def act() -> tuple[Outcome, str]:
        try:
            return await io.act(target, ActionKind.POWER_OFF)
        finally:
            await io.aclose()

    got, detail = asyncio.run(act())
    assert got is outcome
    assert str(error) in detail
