"""WS-MAN request dispatch for one device: bytes in, ``(HTTP status, bytes)`` out (pure).

Get/Put/Enumerate/Pull/Release and class methods are answered from :mod:`classes`; anything
else is the SOAP fault real AMT sends (400, or 500 for enumeration faults).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from mewarden.emulate.cimbase import check_read_only
from mewarden.emulate.classes import CLASSES, ClassSpec, Context, put_fields, select
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import (
    NS_COMMON,
    NS_ENUMERATION,
    NS_TRANSFER,
    Fault,
    Operation,
    Reply,
    Request,
    action_not_supported,
    add_instance,
    body_values,
    destination_unreachable,
    envelope,
    invalid_enumeration_context,
    invalid_representation,
    parse_request,
    render_fault,
    resource_uri_of,
    serialize,
)


@dataclass(slots=True)
class WsmanSession:
    """Per-device WS-MAN bookkeeping: message numbering and open enumerations."""

    message_number: int = 0x2E0
    next_context: int = 0x0202
    contexts: dict[str, str] = field(default_factory=dict)

    def next_message(self) -> int:
        self.message_number += 1
        return self.message_number


def handle(data: bytes, dev: DeviceState, session: WsmanSession, ctx: Context) -> tuple[int, bytes]:
    """Answer one WS-MAN POST body."""
    relates_to = ""
    try:
        request = parse_request(data)
        relates_to = request.message_id
        dev.advance(ctx.now)
        return 200, _answer(request, dev, session, ctx)
    except Fault as fault:
        return fault.http_status, render_fault(
            fault, relates_to=relates_to, message_number=session.next_message()
        )


def _spec_of(request: Request) -> ClassSpec:
    spec = CLASSES.get(request.class_name)
    if spec is None or resource_uri_of(spec.name) != request.resource_uri:
        raise destination_unreachable()
    return spec


def _answer(request: Request, dev: DeviceState, session: WsmanSession, ctx: Context) -> bytes:
    spec = _spec_of(request)
    op = request.operation
    if op is Operation.GET:
        return _instance_reply(request, spec, dev, session, ctx, action_name="GetResponse")
    if op is Operation.PUT:
        return _put(request, spec, dev, session, ctx)
    if op is Operation.ENUMERATE:
        return _enumerate(request, session)
    if op is Operation.PULL:
        return _pull(request, spec, dev, session, ctx)
    if op is Operation.RELEASE:
        _take_context(request, session)
        return _finish(_reply(request, session, NS_ENUMERATION, "ReleaseResponse"))
    if op is Operation.METHOD:
        return _method(request, spec, dev, session, ctx)
    raise action_not_supported(request.action)


def _reply(
    request: Request, session: WsmanSession, body_ns: str, action_name: str, **extra: str
) -> etree._Element:
    """A response envelope for a transfer/enumeration action; returns its empty Body."""
    base = NS_ENUMERATION if body_ns == NS_ENUMERATION else NS_TRANSFER
    reply = Reply(
        action=f"{base}/{action_name}",
        resource_uri=request.resource_uri,
        body_ns=body_ns,
        extra_ns=extra,
    )
    _root, body = envelope(
        reply, relates_to=request.message_id, message_number=session.next_message()
    )
    return body


def _finish(body: etree._Element) -> bytes:
    return serialize(body.getroottree().getroot())


def _instance_reply(
    request: Request,
    spec: ClassSpec,
    dev: DeviceState,
    session: WsmanSession,
    ctx: Context,
    *,
    action_name: str,
) -> bytes:
    instance = select(spec.instances(dev, ctx), request.selectors)
    body = _reply(request, session, request.resource_uri, action_name, h=NS_COMMON)
    item = spec.item_class or spec.name
    add_instance(body, item, resource_uri_of(item), instance)
    return _finish(body)


def _put(
    request: Request, spec: ClassSpec, dev: DeviceState, session: WsmanSession, ctx: Context
) -> bytes:
    if spec.put is None:
        raise action_not_supported(request.action)
    current = select(spec.instances(dev, ctx), request.selectors)
    fields = put_fields(request.body, spec)
    unknown = sorted(set(fields) - set(current) - spec.writable - spec.tolerated)
    if unknown:
        raise invalid_representation(f"{spec.name} has no property {unknown[0]}")
    assert request.body is not None  # put_fields checked it
    check_read_only(spec, current, request.body)
    spec.put(dev, ctx, fields)
    return _instance_reply(request, spec, dev, session, ctx, action_name="PutResponse")


def _enumerate(request: Request, session: WsmanSession) -> bytes:
    context_id = f"{session.next_context:08X}-0000-0000-0000-000000000000"
    session.next_context += 1
    session.contexts[context_id] = request.resource_uri
    if len(session.contexts) > 64:  # real firmware has a small table; drop the oldest
        session.contexts.pop(next(iter(session.contexts)))
    body = _reply(request, session, NS_ENUMERATION, "EnumerateResponse")
    response = etree.SubElement(body, f"{{{NS_ENUMERATION}}}EnumerateResponse")
    etree.SubElement(response, f"{{{NS_ENUMERATION}}}EnumerationContext").text = context_id
    return _finish(body)


def _take_context(request: Request, session: WsmanSession) -> str:
    values = body_values(request.body) if request.body is not None else {}
    contexts = values.get("EnumerationContext", [])
    context_id = (contexts[0].text or "").strip() if contexts else ""
    owner = session.contexts.pop(context_id, None)
    if owner != request.resource_uri:
        raise invalid_enumeration_context()
    return context_id


def _pull(
    request: Request, spec: ClassSpec, dev: DeviceState, session: WsmanSession, ctx: Context
) -> bytes:
    _take_context(request, session)
    extra = {"h": resource_uri_of(spec.item_class or spec.name), "i": NS_COMMON}
    body = _reply(request, session, NS_ENUMERATION, "PullResponse", **extra)
    response = etree.SubElement(body, f"{{{NS_ENUMERATION}}}PullResponse")
    items = etree.SubElement(response, f"{{{NS_ENUMERATION}}}Items")
    item = spec.item_class or spec.name
    for instance in spec.instances(dev, ctx):
        add_instance(items, item, resource_uri_of(item), instance)
    etree.SubElement(response, f"{{{NS_ENUMERATION}}}EndOfSequence").text = ""
    return _finish(body)


def _method(
    request: Request, spec: ClassSpec, dev: DeviceState, session: WsmanSession, ctx: Context
) -> bytes:
    handler = spec.methods.get(request.method)
    if handler is None:
        raise action_not_supported(request.action)
    body_in = request.body
    if body_in is not None and etree.QName(body_in).localname != f"{request.method}_INPUT":
        raise invalid_representation(f"the body must be {request.method}_INPUT")
    select(spec.instances(dev, ctx), request.selectors)
    output = handler(dev, ctx, body_in)
    reply = Reply(
        action=f"{request.resource_uri}/{request.method}Response",
        resource_uri=request.resource_uri,
        body_ns=request.resource_uri,
    )
    root, body = envelope(
        reply, relates_to=request.message_id, message_number=session.next_message()
    )
    add_instance(body, f"{request.method}_OUTPUT", request.resource_uri, output, ordered=False)
    return serialize(root)
