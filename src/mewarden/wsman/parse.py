"""Sans-IO WS-MAN response parser: bytes in, typed values or typed errors out.

Namespace-aware but prefix- and whitespace-agnostic (real AMT sends compact XML, Intel's
fixtures are pretty-printed, prefixes differ per reply). Parsing never keys on ``Action``
(several recorded method replies carry the request action). Repeated elements become lists;
:meth:`Instance.values` always returns a tuple so callers need not know whether a property is
multi-valued (``OperationalStatus``, ``LinkPolicy``, ``BIOSLastStatus``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

from lxml import etree

from mewarden.errors import AmtBusyError, AmtUnsupportedError, WsmanError, WsmanFaultError
from mewarden.wsman.resources import NS_ADDRESSING, NS_ENUMERATION, NS_SOAP, NS_WSMAN, NS_XSI

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False
)
_BUSY_SUBCODES = frozenset({"Concurrency", "AlreadyExists"})
_UNSUPPORTED_SUBCODES = frozenset({"ActionNotSupported", "UnsupportedFeature"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Epr:
    """An endpoint reference found in a reply (associations, method outputs)."""

    address: str
    resource_uri: str
    selectors: tuple[tuple[str, str], ...] = ()

    @property
    def class_name(self) -> str:
        """The class part of the resource URI (``CIM_ComputerSystem``)."""
        return self.resource_uri.rsplit("/", 1)[-1]


PropValue = Union[str, Epr, "Mapping[str, PropValue]", "list[PropValue]"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """One class instance or method output: its element name and properties in document order."""

    class_name: str
    properties: Mapping[str, PropValue] = field(default_factory=dict)

    def values(self, name: str) -> tuple[PropValue, ...]:
        """All values of ``name`` (empty when absent), whether it occurred once or many times."""
        value = self.properties.get(name)
        if value is None:
            return ()
        return tuple(value) if isinstance(value, list) else (value,)

    def text(self, name: str, default: str = "") -> str:
        """The first value of ``name`` as text (``default`` when absent or not text)."""
        for value in self.values(name):
            return value if isinstance(value, str) else default
        return default

    def texts(self, name: str) -> tuple[str, ...]:
        """All text values of ``name``."""
        return tuple(v for v in self.values(name) if isinstance(v, str))

    def integer(self, name: str, default: int | None = None) -> int | None:
        """The first value of ``name`` as an int (``default`` when absent or empty)."""
        raw = self.text(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise WsmanError(f"{self.class_name}.{name} is not an integer: {raw[:40]!r}") from None

    def integers(self, name: str) -> tuple[int, ...]:
        """All values of ``name`` as ints."""
        try:
            return tuple(int(v) for v in self.texts(name) if v)
        except ValueError:
            raise WsmanError(f"{self.class_name}.{name} holds a non-integer value") from None

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """The first value of ``name`` as a bool (AMT also sends 0/1 for some flags)."""
        raw = self.text(name).strip().lower()
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        return default


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A parsed reply: instances (Get/Put/Create: one; Pull: many; method: its _OUTPUT)."""

    items: tuple[Instance, ...] = ()
    enumeration_context: str = ""
    end_of_sequence: bool = False
    resource_uri: str = ""

    @property
    def first(self) -> Instance:
        """The single instance of a Get/Put/method reply."""
        if not self.items:
            raise WsmanError("the reply holds no instance where one was expected")
        return self.items[0]


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _ns(tag: object) -> str:
    text = str(tag)
    return text[1 : text.index("}")] if text.startswith("{") else ""


def _parse_epr(element: etree._Element) -> Epr:
    address = element.findtext(f"{{{NS_ADDRESSING}}}Address", default="") or ""
    params = element.find(f"{{{NS_ADDRESSING}}}ReferenceParameters")
    uri = ""
    selectors: list[tuple[str, str]] = []
    if params is not None:
        uri = params.findtext(f"{{{NS_WSMAN}}}ResourceURI", default="") or ""
        for sel in params.iter(f"{{{NS_WSMAN}}}Selector"):
            selectors.append((sel.get("Name", ""), (sel.text or "").strip()))
    return Epr(address=address.strip(), resource_uri=uri.strip(), selectors=tuple(selectors))


def _value(element: etree._Element) -> PropValue:
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        if element.get(f"{{{NS_XSI}}}nil") == "true":
            return ""
        return (element.text or "").strip()
    if any(_local(c.tag) == "ReferenceParameters" for c in children):
        return _parse_epr(element)
    return _collect(children)


def _collect(children: list[etree._Element]) -> dict[str, PropValue]:
    props: dict[str, PropValue] = {}
    for child in children:
        name = _local(child.tag)
        value = _value(child)
        if name in props:
            existing = props[name]
            if isinstance(existing, list):
                existing.append(value)
            else:
                props[name] = [existing, value]
        else:
            props[name] = value
    return props


def instance_from(element: etree._Element) -> Instance:
    """Turn one instance (or ``_OUTPUT``) element into an :class:`Instance`."""
    children = [c for c in element if isinstance(c.tag, str)]
    return Instance(class_name=_local(element.tag), properties=_collect(children))


def _raise_fault(fault: etree._Element) -> None:
    def text_at(*path: str) -> str:
        node: etree._Element | None = fault
        for step in path:
            node = None if node is None else node.find(f"{{{NS_SOAP}}}{step}")
        return "" if node is None else " ".join("".join(str(t) for t in node.itertext()).split())

    code = text_at("Code", "Value").rsplit(":", 1)[-1]
    subcode = text_at("Code", "Subcode", "Value").rsplit(":", 1)[-1]
    reason = text_at("Reason", "Text") or "no reason given"
    detail = text_at("Detail")
    message = f"AMT answered with a SOAP fault ({code or 'unknown'}/{subcode or '-'}): {reason}"
    if subcode in _BUSY_SUBCODES or "concurrency" in reason.lower():
        raise AmtBusyError(message)
    if subcode in _UNSUPPORTED_SUBCODES:
        raise AmtUnsupportedError(message)
    raise WsmanFaultError(message, code=code, subcode=subcode, detail=detail)


def parse_xml(data: bytes) -> etree._Element:
    """Parse reply bytes (leading junk before the declaration is tolerated, as in the corpus)."""
    start = data.find(b"<")
    if start < 0:
        raise WsmanError("the reply is not XML (no element found)")
    try:
        return etree.fromstring(data[start:].lstrip(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise WsmanError(f"the reply is not well-formed XML: {exc.msg}") from None


def parse_response(data: bytes) -> Response:
    """Parse a WS-MAN reply envelope; SOAP faults raise typed errors."""
    root = parse_xml(data)
    if root.tag != f"{{{NS_SOAP}}}Envelope":
        raise WsmanError(f"the reply is not a SOAP 1.2 envelope (root is {_local(root.tag)})")
    body = root.find(f"{{{NS_SOAP}}}Body")
    if body is None:
        raise WsmanError("the reply envelope has no Body")
    uri = root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSMAN}}}ResourceURI", default="") or ""
    payload = next((c for c in body if isinstance(c.tag, str)), None)
    if payload is None:
        return Response(resource_uri=uri.strip())
    if payload.tag == f"{{{NS_SOAP}}}Fault":
        _raise_fault(payload)
    if _ns(payload.tag) == NS_ENUMERATION:
        return _enumeration(payload, uri.strip())
    return Response(items=(instance_from(payload),), resource_uri=uri.strip())


def _enumeration(payload: etree._Element, uri: str) -> Response:
    context = payload.findtext(f"{{{NS_ENUMERATION}}}EnumerationContext", default="") or ""
    items_node = payload.find(f"{{{NS_ENUMERATION}}}Items")
    items: tuple[Instance, ...] = ()
    if items_node is not None:
        items = tuple(instance_from(c) for c in items_node if isinstance(c.tag, str))
    end = payload.find(f"{{{NS_ENUMERATION}}}EndOfSequence") is not None
    return Response(
        items=items, enumeration_context=context.strip(), end_of_sequence=end, resource_uri=uri
    )
