"""Provisioning state and deactivation (``AMT_SetupAndConfigurationService``), reference §1.11."""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.amt.session import Session, check_return_value, get
from mewarden.errors import AmtReturnValueError
from mewarden.wsman import envelope as env
from mewarden.wsman.parse import Instance
from mewarden.wsman.resources import ProvisioningMode, ProvisioningState, PtStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisioningStatus:
    """Control mode and provisioning state."""

    mode: ProvisioningMode | int
    state: ProvisioningState | int


def decode_provisioning(instance: Instance) -> ProvisioningStatus:
    """Decode an ``AMT_SetupAndConfigurationService`` instance."""
    mode = instance.integer("ProvisioningMode", 0) or 0
    state = instance.integer("ProvisioningState", 0) or 0
    try:
        known_mode: ProvisioningMode | int = ProvisioningMode(mode)
    except ValueError:
        known_mode = mode
    try:
        known_state: ProvisioningState | int = ProvisioningState(state)
    except ValueError:
        known_state = state
    return ProvisioningStatus(mode=known_mode, state=known_state)


async def read_provisioning(session: Session) -> ProvisioningStatus:
    """Get ``AMT_SetupAndConfigurationService``."""
    return decode_provisioning(await get(session, "AMT_SetupAndConfigurationService"))


async def unprovision(session: Session) -> None:
    """``Unprovision(ProvisioningMode=1)``: full deactivation; AMT drops its settings."""
    request = env.invoke(
        "AMT_SetupAndConfigurationService",
        "Unprovision",
        (("ProvisioningMode", int(ProvisioningMode.ADMIN_CONTROL)),),
        message_id=session.message_id(),
    )
    output = (await session.send(request)).first
    try:
        check_return_value(output, "Unprovision")
    except AmtReturnValueError as exc:
        try:
            name = PtStatus(exc.return_value).name
        except ValueError:
            name = "unknown code"
        raise AmtReturnValueError(
            f"Unprovision failed with ReturnValue {exc.return_value} ({name})",
            return_value=exc.return_value,
        ) from None
