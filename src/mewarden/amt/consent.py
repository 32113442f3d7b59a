"""User consent (``IPS_OptInService``): status, start, send code, cancel (reference §1.9).

In client control mode consent is fixed to ALL and read-only; only admin control mode can
lower it, so mewarden only reads the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.amt.session import Session, get, invoke
from mewarden.errors import BadInputError
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
