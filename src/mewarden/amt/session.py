"""The seam between operations and transport, plus the calls every operation module shares."""

from __future__ import annotations

from typing import Protocol

from mewarden.errors import AmtBusyError, AmtReturnValueError, WsmanError
from mewarden.wsman import envelope as env
from mewarden.wsman.envelope import Properties, Request, Selectors
from mewarden.wsman.parse import Instance, Response

MAX_PULLS = 64
"""Bound on Pull round trips per enumeration (AMT returns up to 999 items per Pull)."""


class Session(Protocol):
    """One authenticated conversation with one AMT device (see :class:`AmtClient`)."""

    def message_id(self) -> int:
        """The next WS-Addressing MessageID (a counter, as Intel's clients use)."""
        ...

    async def send(self, request: Request) -> Response:
        """Send ``request`` and return the parsed reply (faults raise typed errors)."""
        ...


async def get(session: Session, class_name: str, selectors: Selectors = ()) -> Instance:
    """Get one instance."""
    reply = await session.send(
        env.get(class_name, message_id=session.message_id(), selectors=selectors)
    )
    return reply.first


async def enumerate_all(session: Session, class_name: str) -> tuple[Instance, ...]:
    """Enumerate then Pull until EndOfSequence (bounded by :data:`MAX_PULLS`)."""
    started = await session.send(env.enumerate_(class_name, message_id=session.message_id()))
    context = started.enumeration_context
    items: list[Instance] = []
    for _ in range(MAX_PULLS):
        if not context:
            raise WsmanError(f"enumeration of {class_name} returned no context")
        reply = await session.send(env.pull(class_name, context, message_id=session.message_id()))
        items.extend(reply.items)
        if reply.end_of_sequence:
            return tuple(items)
        context = reply.enumeration_context or context
    raise WsmanError(f"enumeration of {class_name} did not end after {MAX_PULLS} pulls")


async def put(
    session: Session, class_name: str, props: Properties, selectors: Selectors = ()
) -> Instance:
    """Put a whole instance; returns the instance AMT echoes back."""
    request = env.put(class_name, props, message_id=session.message_id(), selectors=selectors)
    return (await session.send(request)).first


async def invoke(
    session: Session,
    class_name: str,
    method: str,
    params: Properties = (),
    *,
    selectors: Selectors = (),
    idempotent: bool = False,
    busy_values: frozenset[int] = frozenset(),
) -> Instance:
    """Invoke a method; a non-zero ReturnValue raises (busy codes as :class:`AmtBusyError`)."""
    request = env.invoke(
        class_name,
        method,
        params,
        message_id=session.message_id(),
        selectors=selectors,
        idempotent=idempotent,
    )
    output = (await session.send(request)).first
    check_return_value(output, f"{class_name}.{method}", busy_values=busy_values)
    return output


def check_return_value(
    output: Instance, what: str, *, busy_values: frozenset[int] = frozenset()
) -> int:
    """Raise when a method output's ReturnValue is non-zero; return it otherwise."""
    value = output.integer("ReturnValue")
    if value is None:
        raise WsmanError(f"{what} returned no ReturnValue")
    if value in busy_values:
        raise AmtBusyError(f"{what} answered busy (ReturnValue {value}); try again later")
    if value != 0:
        raise AmtReturnValueError(f"{what} failed with ReturnValue {value}", return_value=value)
    return value
