"""Power state read and change (reference §1.3).

``ReturnValue 0`` means *accepted*, not done: callers poll :func:`read_power` for the result.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mewarden.amt.session import Session, check_return_value, get
from mewarden.errors import (
    AmtReturnValueError,
    AmtUnsupportedError,
    BadInputError,
    WsmanError,
)
from mewarden.wsman import envelope as env
from mewarden.wsman.envelope import EndpointReference, Request
from mewarden.wsman.parse import Instance
from mewarden.wsman.resources import MANAGED_SYSTEM_SELECTORS, PowerReturnValue, PowerState


class PowerAction(enum.StrEnum):
    """The power actions of the CLI and their CIM PowerState numbers."""

    ON = "on"
    OFF = "off"
    CYCLE = "cycle"
    RESET = "reset"
    SOFT_OFF = "soft-off"
    SOFT_RESET = "soft-reset"

    @property
    def power_state(self) -> PowerState:
        """The CIM PowerState this action requests (2 on, 8 off, 5 cycle, 10, 12, 14)."""
        return _ACTION_STATES[self]


_ACTION_STATES = {
    PowerAction.ON: PowerState.POWER_ON,
    PowerAction.OFF: PowerState.POWER_OFF_HARD,
    PowerAction.CYCLE: PowerState.POWER_CYCLE_OFF_HARD,
    PowerAction.RESET: PowerState.MASTER_BUS_RESET,
    PowerAction.SOFT_OFF: PowerState.POWER_OFF_SOFT_GRACEFUL,
    PowerAction.SOFT_RESET: PowerState.MASTER_BUS_RESET_GRACEFUL,
}
_BUSY = frozenset({PowerReturnValue.BUSY, PowerReturnValue.IN_USE})
_OFF_STATES = frozenset({6, 8, 9, 12, 13})


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerStatus:
    """What ``CIM_AssociatedPowerManagementService`` says about the host's power."""

    state: PowerState | int
    available: tuple[PowerState | int, ...]

    @property
    def is_on(self) -> bool:
        """False for the off states (6, 8, 9, 12, 13); sleep and hibernate count as not off."""
        return int(self.state) not in _OFF_STATES


def _known(value: int) -> PowerState | int:
    try:
        return PowerState(value)
    except ValueError:
        return value


def decode_power_status(instance: Instance) -> PowerStatus:
    """Decode a ``CIM_AssociatedPowerManagementService`` instance."""
    state = instance.integer("PowerState")
    if state is None:
        raise WsmanError("CIM_AssociatedPowerManagementService has no PowerState")
    available = tuple(_known(v) for v in instance.integers("AvailableRequestedPowerStates"))
    return PowerStatus(state=_known(state), available=available)


def build_power_change(state: PowerState, *, message_id: int = 0) -> Request:
    """``CIM_PowerManagementService.RequestPowerStateChange`` on the managed system."""
    target = EndpointReference(class_name="CIM_ComputerSystem", selectors=MANAGED_SYSTEM_SELECTORS)
    return env.invoke(
        "CIM_PowerManagementService",
        "RequestPowerStateChange",
        (("PowerState", int(state)), ("ManagedElement", target)),
        message_id=message_id,
    )


async def read_power(session: Session) -> PowerStatus:
    """One Get of ``CIM_AssociatedPowerManagementService`` (one round trip)."""
    return decode_power_status(await get(session, "CIM_AssociatedPowerManagementService"))


def check_power_change(output: Instance, state: PowerState) -> None:
    """Turn the method's ReturnValue into an error with its name when it is not 0."""
    try:
        check_return_value(output, "RequestPowerStateChange", busy_values=_BUSY)
    except AmtReturnValueError as exc:
        name = _return_name(exc.return_value)
        if exc.return_value == PowerReturnValue.NOT_SUPPORTED:
            raise AmtUnsupportedError(
                f"the device does not support power state {int(state)} ({state.name})"
            ) from None
        raise AmtReturnValueError(
            f"RequestPowerStateChange({int(state)}) failed with ReturnValue "
            f"{exc.return_value} ({name}); resetting or cycling a host that is off answers 2",
            return_value=exc.return_value,
        ) from None


def _return_name(value: int) -> str:
    try:
        return PowerReturnValue(value).name
    except ValueError:
        return "unknown code"


async def change_power(session: Session, action: PowerAction | PowerState) -> PowerState:
    """Request a power change; never retried (a power mutation is not idempotent)."""
    state = action.power_state if isinstance(action, PowerAction) else action
    if not isinstance(state, PowerState):
        raise BadInputError(f"unknown power state {state}")
    reply = await session.send(build_power_change(state, message_id=session.message_id()))
    check_power_change(reply.first, state)
    return state
