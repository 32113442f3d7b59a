"""``mewarden host deactivate``: client control mode back to pre-provisioning, locally.

In client control mode the host may unprovision AMT without a password, with the AMTHI
``UNPROVISION`` request (0x04000010) as rpc-go does (reference ``amt.md`` §1.11). In admin
control mode it may not: that takes the admin password over WS-MAN, from the controller
(``mewarden amt --host ADDRESS deactivate --yes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.errors import AmthiStatusError, AmtReturnValueError, RefusedError
from mewarden.host import amthi, amthi_info
from mewarden.host.amthi import AmthiCommand, ControlMode, status_name
from mewarden.host.mei import MeiTransport
from mewarden.host.mei_link import open_transport

REMOTE_COMMAND = "mewarden amt --host ADDRESS deactivate --yes"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeactivationReport:
    before: ControlMode | int
    after: ControlMode | int
    outcome: str  # "deactivated"


def _mode(transport: MeiTransport) -> ControlMode | int:
    reply = transport.exchange(amthi.build_request(AmthiCommand.GET_CONTROL_MODE))
    return amthi.parse_control_mode(reply)


def deactivate(path: str) -> DeactivationReport:
    """Unprovision a client-control-mode AMT over AMTHI (refuses any other mode)."""
    transport = open_transport(path, amthi.AMTHI_UUID)
    try:
        before = _mode(transport)
        if before == ControlMode.NONE:
            raise RefusedError("AMT is not activated (pre-provisioning): nothing to deactivate")
        if before != ControlMode.CCM:
            raise RefusedError(
                "AMT is in admin control mode: it cannot be deactivated locally without the "
                f"admin password; deactivate it from the controller with '{REMOTE_COMMAND}'"
            )
        reply = transport.exchange(amthi.build_request(AmthiCommand.UNPROVISION))
        try:
            amthi_info.parse_status_only(AmthiCommand.UNPROVISION, reply)
        except AmthiStatusError as exc:
            raise AmtReturnValueError(
                f"firmware refused UNPROVISION with status {exc.status:#x} "
                f"({status_name(exc.status)})",
                return_value=exc.status,
            ) from None
        after = _mode(transport)
    finally:
        transport.close()
    return DeactivationReport(before=before, after=after, outcome="deactivated")
