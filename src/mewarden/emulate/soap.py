"""The emulator's own WS-MAN envelope reading and writing (pure; lxml).

Deliberately independent of :mod:`mewarden.wsman` (the client's parser): the WS-MAN corpus is
the referee, so a misunderstanding cannot hide on both sides. Responses use the prefixes and
layout real AMT sends (``a:`` SOAP envelope, ``b:`` addressing, ``c:`` wsman, ``g:`` the class or
enumeration namespace, ``h:`` the item class in pulls) and are emitted compact: one line, no
whitespace between elements, properties in alphabetical order (as in the captures).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_TRUST = "http://schemas.xmlsoap.org/ws/2005/02/trust"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_CIMBINDING = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
NS_ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_COMMON = "http://schemas.dmtf.org/wbem/wscim/1/common"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
FAULT_ACTION = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
ENUMERATION_FAULT_ACTION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault"

CIM_BASE = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
AMT_BASE = "http://intel.com/wbem/wscim/1/amt-schema/1/"
IPS_BASE = "http://intel.com/wbem/wscim/1/ips-schema/1/"

_COMMON_NSMAP = {
    "a": NS_SOAP,
    "b": NS_ADDRESSING,
    "c": NS_WSMAN,
    "d": NS_TRUST,
    "e": NS_WSSE,
    "f": NS_CIMBINDING,
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class Operation(enum.StrEnum):
    """What a request asks for, from its ``Action``."""

    GET = "Get"
    PUT = "Put"
    CREATE = "Create"
    DELETE = "Delete"
    ENUMERATE = "Enumerate"
    PULL = "Pull"
    RELEASE = "Release"
    METHOD = "Method"


def resource_uri_of(class_name: str) -> str:
    """The ResourceURI of a CIM_, AMT_ or IPS_ class."""
    if class_name.startswith("AMT_"):
        return AMT_BASE + class_name
    if class_name.startswith("IPS_"):
        return IPS_BASE + class_name
    return CIM_BASE + class_name


@dataclass(frozen=True, slots=True, kw_only=True)
class Epr:
    """An endpoint reference property (e.g. ``ServiceProvided``)."""

    class_name: str
    selectors: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CimDateTime:
    """A ``cim:cimDateTime`` property (rendered as ``<Name><common:Datetime>...``)."""

    text: str


Scalar = str | int | bool
Value = Scalar | Epr | CimDateTime | Sequence[Scalar] | None
Instance = Mapping[str, Value]


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A parsed WS-MAN request."""

    action: str
    resource_uri: str
    message_id: str
    operation: Operation
    method: str = ""
    selectors: Mapping[str, str] = field(default_factory=dict)
    body: etree._Element | None = None

    @property
    def class_name(self) -> str:
        return self.resource_uri.rstrip("/").rsplit("/", 1)[-1]


class Fault(Exception):
    """A SOAP fault to send back (raised by handlers, rendered by :func:`render_fault`)."""

    def __init__(
        self,
        *,
        code: str,
        subcode: str,
        reason: str,
        detail: str = "",
        http_status: int = 400,
        enumeration: bool = False,
    ) -> None:
        super().__init__(reason)
        self.code = code  # "Sender" or "Receiver"
        self.subcode = subcode  # qualified, e.g. "c:InvalidSelectors"
        self.reason = reason
        self.detail = detail
        self.http_status = http_status
        self.enumeration = enumeration


def invalid_selectors() -> Fault:
    return Fault(
        code="Sender",
        subcode="c:InvalidSelectors",
        reason="The Selectors for the resource were not valid.",
        detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InsufficientSelectors",
    )


def destination_unreachable() -> Fault:
    return Fault(
        code="Sender",
        subcode="b:DestinationUnreachable",
        reason="No route can be determined to reach the destination role defined by the "
        "WS-Addressing To.",
    )


def action_not_supported(action: str) -> Fault:
    return Fault(
        code="Sender",
        subcode="b:ActionNotSupported",
        reason="The action is not supported by the service.",
        detail=action,
    )


def invalid_representation(detail: str) -> Fault:
    return Fault(
        code="Sender",
        subcode="g:InvalidRepresentation",
        reason="The XML content was invalid.",
        detail=detail,
    )


def schema_violation() -> Fault:
    return Fault(
        code="Sender",
        subcode="c:SchemaValidationError",
        reason="The supplied SOAP violates the corresponding XML schema definition.",
    )


def concurrency_fault() -> Fault:
    return Fault(
        code="Receiver",
        subcode="c:Concurrency",
        reason="The action could not be completed due to concurrency or locking problems.",
    )


def invalid_enumeration_context() -> Fault:
    return Fault(
        code="Receiver",
        subcode="g:InvalidEnumerationContext",
        reason="The supplied enumeration context is invalid.",
        http_status=500,
        enumeration=True,
    )


# --- requests ---------------------------------------------------------------------------------


def _text(root: etree._Element, path: str) -> str:
    found = root.find(path)
    return (found.text or "").strip() if found is not None else ""


def parse_request(data: bytes) -> Request:
    """Parse a request envelope; malformed input raises a schema-violation :class:`Fault`."""
    try:
        root = etree.fromstring(data.lstrip(), parser=_PARSER)
    except etree.XMLSyntaxError:
        raise schema_violation() from None
    if root.tag != f"{{{NS_SOAP}}}Envelope":
        raise schema_violation()
    header = root.find(f"{{{NS_SOAP}}}Header")
    body = root.find(f"{{{NS_SOAP}}}Body")
    if header is None or body is None:
        raise schema_violation()
    action = _text(header, f"{{{NS_ADDRESSING}}}Action")
    resource = _text(header, f"{{{NS_WSMAN}}}ResourceURI")
    if not action or not resource:
        raise destination_unreachable()
    selectors = {
        str(sel.get("Name", "")): (sel.text or "").strip()
        for sel in header.iterfind(f"{{{NS_WSMAN}}}SelectorSet/{{{NS_WSMAN}}}Selector")
    }
    operation, method = _operation_of(action, resource)
    children = list(body)
    return Request(
        action=action,
        resource_uri=resource,
        message_id=_text(header, f"{{{NS_ADDRESSING}}}MessageID"),
        operation=operation,
        method=method,
        selectors=selectors,
        body=children[0] if children else None,
    )


def _operation_of(action: str, resource: str) -> tuple[Operation, str]:
    for prefix in (NS_TRANSFER, NS_ENUMERATION):
        if action.startswith(prefix + "/"):
            name = action[len(prefix) + 1 :]
            try:
                return Operation(name), ""
            except ValueError:
                raise action_not_supported(action) from None
    if action.startswith(resource.rstrip("/") + "/"):
        return Operation.METHOD, action[len(resource.rstrip("/")) + 1 :]
    raise action_not_supported(action)


# --- responses --------------------------------------------------------------------------------


def _fmt(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add_property(parent: etree._Element, ns: str, name: str, value: Value) -> None:
    if value is None:
        return
    if isinstance(value, Epr):
        _add_epr(etree.SubElement(parent, f"{{{ns}}}{name}"), value)
        return
    if isinstance(value, CimDateTime):
        holder = etree.SubElement(parent, f"{{{ns}}}{name}")
        etree.SubElement(holder, f"{{{NS_COMMON}}}Datetime").text = value.text
        return
    values: Sequence[Scalar] = value if isinstance(value, list | tuple) else [value]  # type: ignore[list-item]
    for item in values:
        etree.SubElement(parent, f"{{{ns}}}{name}").text = _fmt(item)


def _add_epr(element: etree._Element, epr: Epr) -> None:
    etree.SubElement(element, f"{{{NS_ADDRESSING}}}Address").text = ANONYMOUS
    params = etree.SubElement(element, f"{{{NS_ADDRESSING}}}ReferenceParameters")
    uri = etree.SubElement(params, f"{{{NS_WSMAN}}}ResourceURI")
    uri.text = resource_uri_of(epr.class_name)
    selector_set = etree.SubElement(params, f"{{{NS_WSMAN}}}SelectorSet")
    for name, text in epr.selectors:
        selector = etree.SubElement(selector_set, f"{{{NS_WSMAN}}}Selector", Name=name)
        selector.text = text


def add_instance(
    parent: etree._Element, class_name: str, ns: str, instance: Instance, *, ordered: bool = True
) -> None:
    """Append ``<ns:Class>`` with the properties, alphabetically unless ``ordered`` is false."""
    element = etree.SubElement(parent, f"{{{ns}}}{class_name}")
    for name in sorted(instance) if ordered else instance:
        _add_property(element, ns, name, instance[name])


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What to put in a response envelope."""

    action: str
    resource_uri: str
    body_ns: str
    extra_ns: Mapping[str, str] = field(default_factory=dict)


def envelope(
    reply: Reply, *, relates_to: str, message_number: int
) -> tuple[etree._Element, etree._Element]:
    """Build a response envelope; returns ``(root, body)`` for the caller to fill."""
    nsmap: dict[str, str] = dict(_COMMON_NSMAP)
    nsmap["g"] = reply.body_ns
    nsmap.update(reply.extra_ns)
    nsmap["xsi"] = NS_XSI
    root = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(root, f"{{{NS_SOAP}}}Header")
    etree.SubElement(header, f"{{{NS_ADDRESSING}}}To").text = ANONYMOUS
    etree.SubElement(header, f"{{{NS_ADDRESSING}}}RelatesTo").text = relates_to
    action = etree.SubElement(header, f"{{{NS_ADDRESSING}}}Action")
    action.set(f"{{{NS_SOAP}}}mustUnderstand", "true")
    action.text = reply.action
    message_id = etree.SubElement(header, f"{{{NS_ADDRESSING}}}MessageID")
    message_id.text = f"uuid:00000000-8086-8086-8086-{message_number & 0xFFFFFFFFFFFF:012X}"
    etree.SubElement(header, f"{{{NS_WSMAN}}}ResourceURI").text = reply.resource_uri
    body = etree.SubElement(root, f"{{{NS_SOAP}}}Body")
    return root, body


def serialize(root: etree._Element) -> bytes:
    """Compact XML with the declaration real AMT sends."""
    return b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(root, encoding="utf-8")


def render_fault(fault: Fault, *, relates_to: str, message_number: int) -> bytes:
    """A SOAP 1.2 fault envelope in AMT's layout."""
    action = ENUMERATION_FAULT_ACTION if fault.enumeration else FAULT_ACTION
    nsmap: dict[str, str] = dict(_COMMON_NSMAP)
    nsmap["g"] = NS_TRANSFER if not fault.enumeration else NS_ENUMERATION
    nsmap["xsi"] = NS_XSI
    root = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(root, f"{{{NS_SOAP}}}Header")
    etree.SubElement(header, f"{{{NS_ADDRESSING}}}To").text = ANONYMOUS
    etree.SubElement(header, f"{{{NS_ADDRESSING}}}RelatesTo").text = relates_to
    action_el = etree.SubElement(header, f"{{{NS_ADDRESSING}}}Action")
    action_el.set(f"{{{NS_SOAP}}}mustUnderstand", "true")
    action_el.text = action
    message_id = etree.SubElement(header, f"{{{NS_ADDRESSING}}}MessageID")
    message_id.text = f"uuid:00000000-8086-8086-8086-{message_number & 0xFFFFFFFFFFFF:012X}"
    body = etree.SubElement(root, f"{{{NS_SOAP}}}Body")
    fault_el = etree.SubElement(body, f"{{{NS_SOAP}}}Fault")
    code = etree.SubElement(fault_el, f"{{{NS_SOAP}}}Code")
    etree.SubElement(code, f"{{{NS_SOAP}}}Value").text = f"a:{fault.code}"
    subcode = etree.SubElement(code, f"{{{NS_SOAP}}}Subcode")
    etree.SubElement(subcode, f"{{{NS_SOAP}}}Value").text = fault.subcode
    reason = etree.SubElement(fault_el, f"{{{NS_SOAP}}}Reason")
    text = etree.SubElement(reason, f"{{{NS_SOAP}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    text.text = fault.reason
    if fault.detail:
        detail = etree.SubElement(fault_el, f"{{{NS_SOAP}}}Detail")
        etree.SubElement(detail, f"{{{NS_WSMAN}}}FaultDetail").text = fault.detail
    return serialize(root)


def body_values(element: etree._Element) -> dict[str, list[etree._Element]]:
    """Children of a body element grouped by local name (namespace-agnostic)."""
    grouped: dict[str, list[etree._Element]] = {}
    for child in element:
        if isinstance(child.tag, str):
            grouped.setdefault(etree.QName(child).localname, []).append(child)
    return grouped
