"""Before a redirection session: is the session type enabled, is the host on, and the user
consent flow where the device requires it (reference amt.md §1.9), over WS-MAN.

In client control mode consent is fixed to ALL: every SOL, IDE-R and KVM session needs the
6-digit code the managed screen shows. :func:`ensure_consent` starts the flow (or joins one
already showing a code), asks the caller for the code and sends it; a wrong code is an
authentication error, an expired flow a timeout, each with what to do next.
"""

from __future__ import annotations

from collections.abc import Callable

from mewarden.amt import power
from mewarden.amt.consent import parse_code, read_consent, send_code, start_consent
from mewarden.amt.redirection import read_redirection
from mewarden.amt.session import Session
from mewarden.errors import (
    AmtAuthError,
    AmtBusyError,
    AmtReturnValueError,
    AmtTimeoutError,
    AmtUnreachableError,
    AmtUnsupportedError,
)
from mewarden.redirect.wire import SessionType
from mewarden.wsman.resources import OptInRequired, OptInReturnValue, OptInState

AskCode = Callable[[], str]
"""Returns the 6 digits the user read off the managed screen."""

_GRANTED = frozenset({OptInState.RECEIVED, OptInState.IN_SESSION})
_SHOWING = frozenset({OptInState.REQUESTED, OptInState.DISPLAYED})
_FEATURE = {SessionType.SOL: "sol", SessionType.IDER: "ider", SessionType.KVM: "kvm"}


def consent_required(required: OptInRequired | int, session: SessionType) -> bool:
    """Whether a session of this type needs consent under the policy (unknown: be safe)."""
    if required == OptInRequired.NONE:
        return False
    if required == OptInRequired.KVM:
        return session is SessionType.KVM
    return True


async def ensure_consent(client: Session, session: SessionType, ask_code: AskCode) -> bool:
    """Run the consent flow when the device requires it; True when a code was exchanged."""
    status = await read_consent(client)
    if not consent_required(status.required, session) or status.state in _GRANTED:
        return False
    if status.state not in _SHOWING:
        await start_consent(client)
    code = ask_code().strip()
    parse_code(code)
    try:
        await send_code(client, code)
    except AmtBusyError:
        raise AmtAuthError(
            "the device did not accept the consent code: check the 6 digits on the managed "
            "screen and try again"
        ) from None
    except AmtReturnValueError as exc:
        if exc.return_value != OptInReturnValue.INVALID_STATE:
            raise
        raise AmtTimeoutError(
            "the consent code expired or the flow was cancelled before it was sent "
            f"(codes last {status.code_timeout_s or 'a limited number of'} s); run the command "
            "again for a new code"
        ) from None
    return True


def enable_command(host: str, session: SessionType, *, tls: bool = False) -> str:
    """The command that enables the session type on ``host``."""
    flag = " --tls" if tls else ""
    return f"mewarden amt --host {host}{flag} redirection enable --{_FEATURE[session]}"


async def check_ready(
    client: Session, session: SessionType, *, host: str, enable_hint: str, allow_off: bool
) -> bool:
    """Refuse early, with the enabling command, when the session type is disabled; refuse a
    powered-off host unless ``allow_off``. Returns whether the host is powered."""
    status = await read_redirection(client)
    enabled = {SessionType.SOL: status.sol, SessionType.IDER: status.ider}.get(session, status.kvm)
    if not enabled or not status.listener:
        what = "the redirection listener is off" if enabled else f"{session.name} is disabled"
        raise AmtUnsupportedError(f"{host}: {what}; enable it with: {enable_hint}")
    powered = (await power.read_power(client)).is_on
    if not powered and not allow_off:
        raise AmtUnreachableError(
            f"the host behind {host} is powered off, so its console is empty; power it on "
            f"with 'mewarden amt --host {host} power on' "
            "(or pass --allow-off to watch it boot)"
        )
    return powered
