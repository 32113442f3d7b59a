"""The probe's questions to the firmware over MEI: MKHI version and the AMT host interface.

Sans-IO in the sense that matters: every exchange goes through an injected
:class:`~mewarden.host.mei.MeiTransport`, so the same code runs on ``/dev/mei0`` and on a
recording. Following mei-amt-check's logic (reference A3): a refused AMTHI connect (ENOTTY) means
no AMT; an empty CODE_VERSIONS reply means AMT is not present; otherwise ask provisioning state,
control mode, UUID and LAN settings, each failure kept as a problem rather than an abort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mewarden.errors import HostDataError, MeiError
from mewarden.host import amthi, mkhi
from mewarden.host.amthi import (
    AmthiCommand,
    CodeVersions,
    ControlMode,
    LanSettings,
    ProvisioningState,
)
from mewarden.host.mei import MeiTransport, TransportFactory
from mewarden.host.mkhi import FwVersion

_T = TypeVar("_T")
_STATE = AmthiCommand.GET_PROVISIONING_STATE
_MODE = AmthiCommand.GET_CONTROL_MODE
_UUID = AmthiCommand.GET_UUID
_LAN = AmthiCommand.GET_LAN_INTERFACE_SETTINGS


@dataclass(frozen=True, slots=True, kw_only=True)
class AmtFacts:
    """What AMTHI said. ``present`` is None when the question could not be asked."""

    present: bool | None
    code_versions: CodeVersions | None = None
    provisioning_state: ProvisioningState | int | None = None
    control_mode: ControlMode | int | None = None
    uuid: str | None = None
    lan: LanSettings | None = None
    problems: tuple[str, ...] = ()


def query_fw_version(factory: TransportFactory) -> tuple[tuple[FwVersion, ...], str]:
    """MKHI GET_FW_VERSION; ``((), problem)`` on failure."""
    transport = factory()
    try:
        transport.connect(mkhi.MKHI_UUID)
        reply = transport.exchange(mkhi.build_get_fw_version())
        return mkhi.parse_get_fw_version(reply), ""
    except (MeiError, HostDataError) as exc:
        return (), f"MKHI GET_FW_VERSION: {exc}"
    finally:
        transport.close()


def query_amt(factory: TransportFactory) -> AmtFacts:
    """Ask the AMT host interface whether AMT exists and how it is provisioned."""
    transport = factory()
    problems: list[str] = []
    try:
        try:
            transport.connect(amthi.AMTHI_UUID)
        except MeiError as exc:
            if exc.errno_name == "ENOTTY":
                return AmtFacts(present=False, problems=(f"AMTHI connect: {exc}",))
            return AmtFacts(present=None, problems=(f"AMTHI connect: {exc}",))
        try:
            reply = transport.exchange(amthi.build_request(AmthiCommand.GET_CODE_VERSIONS))
        except MeiError as exc:
            return AmtFacts(present=None, problems=(f"AMTHI GET_CODE_VERSIONS: {exc}",))
        if not reply:
            return AmtFacts(present=False, problems=("AMTHI GET_CODE_VERSIONS: empty reply",))
        try:
            versions = amthi.parse_code_versions(reply)
        except HostDataError as exc:
            return AmtFacts(present=None, problems=(f"AMTHI GET_CODE_VERSIONS: {exc}",))
        return AmtFacts(
            present=True,
            code_versions=versions,
            provisioning_state=_ask(transport, _STATE, amthi.parse_provisioning_state, problems),
            control_mode=_ask(transport, _MODE, amthi.parse_control_mode, problems),
            uuid=_ask(transport, _UUID, lambda r: str(amthi.parse_uuid(r)), problems),
            lan=_ask(transport, _LAN, amthi.parse_lan_settings, problems),
            problems=tuple(problems),
        )
    finally:
        transport.close()


def _ask(
    transport: MeiTransport,
    command: AmthiCommand,
    parse: Callable[[bytes], _T],
    problems: list[str],
) -> _T | None:
    """One request and its parsed reply, or ``None`` and a problem."""
    request = (
        amthi.build_lan_settings_request(0)
        if command is AmthiCommand.GET_LAN_INTERFACE_SETTINGS
        else amthi.build_request(command)
    )
    try:
        return parse(transport.exchange(request))
    except (MeiError, HostDataError) as exc:
        problems.append(f"AMTHI {command.name}: {exc}")
        return None
