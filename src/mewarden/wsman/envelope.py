"""Sans-IO WS-MAN request builder (Get, Put, Create, Delete, Enumerate, Pull, methods).

The layout follows Intel's own builder (reference §1.2 and the request corpus): SOAP 1.2
envelope with ``a:`` = WS-Addressing 2004/08 and ``w:`` = wsman.xsd, header order Action, To,
ResourceURI, MessageID, ReplyTo, OperationTimeout, then an optional SelectorSet. An absent EPR
parameter is *omitted*, never sent empty (an empty ``<Source/>`` is a schema fault on AMT 16).

Strings are built directly (not through a DOM) because this is on the hot path of fleet sweeps;
every text value and attribute goes through :func:`xml.sax.saxutils.escape`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from mewarden.wsman.resources import (
    NS_ADDRESSING,
    NS_ENUMERATION,
    NS_SOAP,
    NS_WSMAN,
    NS_XSD,
    NS_XSI,
    OPERATION_TIMEOUT,
    PULL_MAX_CHARACTERS,
    PULL_MAX_ELEMENTS,
    WSMAN_PATH,
    Action,
    resource_uri,
)

Selectors = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointReference:
    """A WS-Addressing EPR to a class instance, used as a method or Create parameter."""

    class_name: str
    selectors: Selectors = ()
    address: str = NS_ADDRESSING
    """Intel's builder puts the addressing namespace here for method EPRs and ``/wsman`` for
    Create; AMT accepts both, we follow the corpus."""


Scalar = str | int | bool | EndpointReference
Value = Scalar | Sequence[Scalar]
Properties = Sequence[tuple[str, Value]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One WS-MAN request: the XML bytes and what it is (for logs and retry decisions)."""

    action: str
    class_name: str
    body: bytes
    idempotent: bool = field(default=False)
    """True for reads (Get, Enumerate, Pull, read-only methods): safe to resend."""


_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<Envelope xmlns:xsi="{NS_XSI}" xmlns:xsd="{NS_XSD}" xmlns:a="{NS_ADDRESSING}" '
    f'xmlns:w="{NS_WSMAN}" xmlns="{NS_SOAP}">'
)
_REPLY_TO = (
    "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    "</a:Address></a:ReplyTo>"
)


def _selector_set(selectors: Selectors, *, declare: bool) -> str:
    if not selectors:
        return ""
    tag = "Selector" if declare else "w:Selector"
    items = "".join(
        f"<{tag} Name={quoteattr(name)}>{escape(value)}</{tag}>" for name, value in selectors
    )
    if declare:
        return f'<SelectorSet xmlns="{NS_WSMAN}">{items}</SelectorSet>'
    return f"<w:SelectorSet>{items}</w:SelectorSet>"


def _header(action: str, uri: str, message_id: int, selectors: Selectors) -> str:
    return (
        f"<Header><a:Action>{escape(action)}</a:Action><a:To>{WSMAN_PATH}</a:To>"
        f"<w:ResourceURI>{escape(uri)}</w:ResourceURI><a:MessageID>{message_id}</a:MessageID>"
        f"{_REPLY_TO}<w:OperationTimeout>{OPERATION_TIMEOUT}</w:OperationTimeout>"
        f"{_selector_set(selectors, declare=False)}</Header>"
    )


def _envelope(
    action: str, class_name: str, message_id: int, selectors: Selectors, body: str
) -> bytes:
    uri = resource_uri(class_name)
    header = _header(action, uri, message_id, selectors)
    text = f"{_ENVELOPE_OPEN}{header}<Body>{body}</Body></Envelope>"
    return text.encode("utf-8")


def _epr_method(epr: EndpointReference) -> str:
    """EPR in Intel's method-parameter form (default namespaces, as in the corpus)."""
    return (
        f'<Address xmlns="{NS_ADDRESSING}">{escape(epr.address)}</Address>'
        f'<ReferenceParameters xmlns="{NS_ADDRESSING}">'
        f'<ResourceURI xmlns="{NS_WSMAN}">{escape(resource_uri(epr.class_name))}</ResourceURI>'
        f"{_selector_set(epr.selectors, declare=True)}</ReferenceParameters>"
    )


def _epr_prefixed(epr: EndpointReference) -> str:
    """EPR in Intel's Create/Put form (``a:``/``w:`` prefixes)."""
    return (
        f"<a:Address>{escape(epr.address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{escape(resource_uri(epr.class_name))}</w:ResourceURI>"
        f"{_selector_set(epr.selectors, declare=False)}</a:ReferenceParameters>"
    )


def _scalar(value: Scalar, *, method: bool) -> str:
    if isinstance(value, EndpointReference):
        return _epr_method(value) if method else _epr_prefixed(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _properties(props: Properties, *, method: bool) -> str:
    parts: list[str] = []
    for name, value in props:
        values: Iterable[Scalar] = value if isinstance(value, list | tuple) else (value,)
        parts.extend(f"<h:{name}>{_scalar(v, method=method)}</h:{name}>" for v in values)
    return "".join(parts)


# --- public builders ---------------------------------------------------------------------------


def get(class_name: str, *, message_id: int = 0, selectors: Selectors = ()) -> Request:
    """WS-Transfer Get of one instance."""
    body = _envelope(Action.GET, class_name, message_id, selectors, "")
    return Request(action=Action.GET, class_name=class_name, body=body, idempotent=True)


def delete(class_name: str, *, message_id: int = 0, selectors: Selectors = ()) -> Request:
    """WS-Transfer Delete of one instance."""
    body = _envelope(Action.DELETE, class_name, message_id, selectors, "")
    return Request(action=Action.DELETE, class_name=class_name, body=body)


def enumerate_(class_name: str, *, message_id: int = 0) -> Request:
    """WS-Enumeration Enumerate (returns a context for :func:`pull`)."""
    inner = f'<Enumerate xmlns="{NS_ENUMERATION}" />'
    body = _envelope(Action.ENUMERATE, class_name, message_id, (), inner)
    return Request(action=Action.ENUMERATE, class_name=class_name, body=body, idempotent=True)


def pull(class_name: str, context: str, *, message_id: int = 0) -> Request:
    """WS-Enumeration Pull with Intel's MaxElements/MaxCharacters."""
    inner = (
        f'<Pull xmlns="{NS_ENUMERATION}"><EnumerationContext>{escape(context)}'
        f"</EnumerationContext><MaxElements>{PULL_MAX_ELEMENTS}</MaxElements>"
        f"<MaxCharacters>{PULL_MAX_CHARACTERS}</MaxCharacters></Pull>"
    )
    body = _envelope(Action.PULL, class_name, message_id, (), inner)
    return Request(action=Action.PULL, class_name=class_name, body=body, idempotent=True)


def _instance_body(class_name: str, props: Properties) -> str:
    uri = resource_uri(class_name)
    return f'<h:{class_name} xmlns:h="{uri}">{_properties(props, method=False)}</h:{class_name}>'


def put(
    class_name: str, props: Properties, *, message_id: int = 0, selectors: Selectors = ()
) -> Request:
    """WS-Transfer Put of a whole instance (``props`` in the order to send)."""
    inner = _instance_body(class_name, props)
    body = _envelope(Action.PUT, class_name, message_id, selectors, inner)
    return Request(action=Action.PUT, class_name=class_name, body=body)


def create(class_name: str, props: Properties, *, message_id: int = 0) -> Request:
    """WS-Transfer Create of a new instance."""
    inner = _instance_body(class_name, props)
    body = _envelope(Action.CREATE, class_name, message_id, (), inner)
    return Request(action=Action.CREATE, class_name=class_name, body=body)


def invoke(
    class_name: str,
    method: str,
    params: Properties = (),
    *,
    message_id: int = 0,
    selectors: Selectors = (),
    idempotent: bool = False,
    self_closing: bool = False,
) -> Request:
    """Invoke ``method`` on ``class_name`` with ``<Method>_INPUT`` parameters in order.

    ``self_closing`` writes an empty input as ``<h:X_INPUT ... />`` (equivalent XML; Intel's
    builder uses both forms).
    """
    uri = resource_uri(class_name)
    action = f"{uri}/{method}"
    inner_props = _properties(params, method=True)
    open_tag = f'<h:{method}_INPUT xmlns:h="{uri}"'
    if self_closing and not inner_props:
        inner = f"{open_tag} />"
    else:
        inner = f"{open_tag}>{inner_props}</h:{method}_INPUT>"
    body = _envelope(action, class_name, message_id, selectors, inner)
    return Request(action=action, class_name=class_name, body=body, idempotent=idempotent)
