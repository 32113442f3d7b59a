"""Shared pieces of the emulated CIM classes: handler types and argument parsing (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import CimDateTime, Epr, Value, body_values, invalid_representation

Properties = dict[str, Value]


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a handler may know besides the device: the time, on both clocks."""

    now: float
    wall: float


InstancesFn = Callable[[DeviceState, Context], list[Properties]]
MethodFn = Callable[[DeviceState, Context, etree._Element | None], Properties]
PutFn = Callable[[DeviceState, Context, Mapping[str, str]], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassSpec:
    """One class: its instances, what a Put may change, and its methods."""

    name: str
    instances: InstancesFn
    writable: frozenset[str] = frozenset()
    """Properties a Put may change; any other property must be echoed unchanged."""
    tolerated: frozenset[str] = frozenset()
    """Names some clients send that the device does not have: accepted and ignored."""
    put: PutFn | None = None
    methods: Mapping[str, MethodFn] = field(default_factory=dict)
    item_class: str = ""  # association classes whose items are another class


SYSTEM = {"SystemCreationClassName": "CIM_ComputerSystem", "SystemName": "Intel(r) AMT"}


def service(class_name: str, name: str, **extra: Value) -> Properties:
    props: Properties = {"CreationClassName": class_name, "ElementName": name, "Name": name}
    props.update(SYSTEM)
    props.update(extra)
    return props


def int_arg(body: etree._Element | None, name: str) -> int:
    values = body_values(body).get(name) if body is not None else None
    if not values:
        raise invalid_representation(f"missing {name}")
    text = (values[0].text or "").strip()
    try:
        return int(text)
    except ValueError:
        raise invalid_representation(f"{name} must be an integer") from None


INT_RANGES = {"IDERBootDevice": (0, 1), "FirmwareVerbosity": (0, 3), "BootMediaIndex": (0, 255)}


def parse_field(name: str, text: str, kind: type) -> bool | int:
    if kind is bool:
        if text not in ("true", "false"):
            raise invalid_representation(f"{name} must be true or false")
        return text == "true"
    try:
        number = int(text)
    except ValueError:
        raise invalid_representation(f"{name} must be an integer") from None
    low, high = INT_RANGES.get(name, (0, 2**32 - 1))
    if not low <= number <= high:
        raise invalid_representation(f"{name} value {number} is out of range")
    return number


def _wire_texts(value: Value) -> list[str] | None:
    """How a property is sent (one text per element); ``None`` for references and dates."""
    if value is None or isinstance(value, Epr | CimDateTime):
        return None
    values = value if isinstance(value, list | tuple) else [value]
    return ["true" if v is True else "false" if v is False else str(v) for v in values]


def check_read_only(spec: ClassSpec, current: Properties, body: etree._Element) -> None:
    """A Put that changes a read-only property is a fault (``g:InvalidRepresentation``)."""
    for name, elements in body_values(body).items():
        if name in spec.writable or name not in current:
            continue
        expected = _wire_texts(current[name])
        sent = [(e.text or "").strip() for e in elements]
        if isinstance(current[name], bool):
            sent = [{"1": "true", "0": "false"}.get(s.lower(), s.lower()) for s in sent]
        if expected is not None and sent != expected:
            raise invalid_representation(f"{name} is read-only in {spec.name}")
