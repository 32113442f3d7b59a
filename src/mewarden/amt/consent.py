"""User consent (``IPS_OptInService``): status, start, send code, cancel (reference §1.9).

In client control mode consent is fixed to ALL and read-only; only admin control mode can
change it (``CanModifyOptInPolicy``), so :func:`set_consent_policy` refuses before writing when
the device says it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.amt.session import Session, get, invoke, put
from mewarden.errors import AmtUnsupportedError, BadInputError
from mewarden.wsman.envelope import Value
from mewarden.wsman.parse import Instance
from mewarden.wsman.resources import OptInRequired, OptInReturnValue, OptInState

_BUSY = frozenset({OptInReturnValue.BLOCKED})
CODE_DIGITS = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentStatus:
    """The consent policy and where the current flow stands."""

    required: OptInRequired | int
    state: OptInState | int
    code_timeout_s: int
    display_timeout_s: int
    can_modify_policy: bool


def _known_required(value: int) -> OptInRequired | int:
    try:
        return OptInRequired(value)
    except ValueError:
        return value


def _known_state(value: int) -> OptInState | int:
    try:
        return OptInState(value)
    except ValueError:
        return value


def decode_consent(instance: Instance) -> ConsentStatus:
    """Decode an ``IPS_OptInService`` instance."""
    return ConsentStatus(
        required=_known_required(instance.integer("OptInRequired", 0) or 0),
        state=_known_state(instance.integer("OptInState", 0) or 0),
        code_timeout_s=instance.integer("OptInCodeTimeout", 0) or 0,
        display_timeout_s=instance.integer("OptInDisplayTimeout", 0) or 0,
        can_modify_policy=bool(instance.boolean("CanModifyOptInPolicy", False)),
    )


async def read_consent(session: Session) -> ConsentStatus:
    """Get ``IPS_OptInService``."""
    return decode_consent(await get(session, "IPS_OptInService"))


def policy_props(current: Instance, required: OptInRequired) -> list[tuple[str, Value]]:
    """The ``IPS_OptInService`` Put body: the current instance with OptInRequired replaced."""
    props: list[tuple[str, Value]] = [
        (name, int(required) if name == "OptInRequired" else current.text(name))
        for name in current.properties
    ]
    if "OptInRequired" not in current.properties:
        props.append(("OptInRequired", int(required)))
    return props


async def set_consent_policy(session: Session, required: OptInRequired) -> ConsentStatus:
    """Make user consent ``required`` (no write when it already is); returns the new status.

    AmtUnsupportedError when the device cannot change it (client control mode: fixed to ALL).
    """
    current = await get(session, "IPS_OptInService")
    status = decode_consent(current)
    if status.required == required:
        return status
    if not status.can_modify_policy:
        raise AmtUnsupportedError(
            f"user consent is fixed to {_name(status.required)} on this device "
            "(client control mode); only admin control mode can change it"
        )
    return decode_consent(await put(session, "IPS_OptInService", policy_props(current, required)))


def _name(required: OptInRequired | int) -> str:
    return required.name if isinstance(required, OptInRequired) else str(required)


async def start_consent(session: Session) -> None:
    """Make the managed screen show a 6-digit code."""
    await invoke(session, "IPS_OptInService", "StartOptIn", busy_values=_BUSY)


def parse_code(code: str) -> int:
    """The code the user read off the managed screen: exactly 6 digits."""
    if len(code) != CODE_DIGITS or not code.isdigit():
        raise BadInputError("the consent code must be the 6 digits shown on the managed screen")
    return int(code)


async def send_code(session: Session, code: str) -> None:
    """Send the code back (``SendOptInCode``)."""
    value = parse_code(code)
    await invoke(
        session, "IPS_OptInService", "SendOptInCode", (("OptInCode", value),), busy_values=_BUSY
    )


async def cancel_consent(session: Session) -> None:
    """Cancel the consent flow (``CancelOptIn``)."""
    await invoke(session, "IPS_OptInService", "CancelOptIn")
