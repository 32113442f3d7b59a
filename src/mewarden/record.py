"""Frozen, slotted, typed value records that cost nothing to define at import.

The firmware commands are timed as whole processes against me_cleaner, a single script that
starts in about 50 ms. ``@dataclass`` generates and compiles the source of every class's
``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` each
time the defining module is imported (about 1 ms per class on a slow core), and importing
``dataclasses`` pulls in ``inspect``, ``ast``, ``dis`` and ``tokenize``: the ~60 firmware value
types alone cost more than me_cleaner's whole run. attrs generates code the same way; msgspec's
``Struct`` is compiled, but importing msgspec loads ``typing``, ``inspect`` and ``datetime``
(45 ms measured). So the firmware value types derive from :class:`Record`, whose methods are
written once below and read each class's fields from a tuple the metaclass builds.

What a record is, for the type checker and at run time alike (PEP 681 ``dataclass_transform``
tells mypy to treat it as ``@dataclass(frozen=True, slots=True, kw_only=True)``):

* fields are the class's annotated names (``ClassVar`` ones excluded), inherited fields first;
  a value in the class body is the default, :func:`field` gives ``default_factory`` or
  ``repr=False``;
* keyword-only unless the class says ``kw_only=False``;
* ``__slots__`` holds the fields; assignment and deletion raise :class:`FrozenRecordError`
  (an ``AttributeError``, like dataclasses' ``FrozenInstanceError``); ``__post_init__`` runs
  after ``__init__`` and may set fields with ``object.__setattr__``;
* ``==`` compares records of the same class field by field, ``hash`` hashes the same tuple,
  ``repr`` is ``Name(field=value, ...)``, records pickle and copy;
* :func:`fields`, :func:`replace` and :func:`asdict` do what the dataclasses functions do.

``tests/unit/test_record.py`` checks all of this side by side with dataclasses.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    from typing_extensions import dataclass_transform

    R = TypeVar("R", bound="Record")
else:

    def dataclass_transform(**_options: object) -> object:
        return lambda thing: thing


class FrozenRecordError(AttributeError):
    """A field of a record was assigned or deleted."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """One field of a record class: its name, default and whether ``repr`` shows it."""

    __slots__ = ("default", "default_factory", "kw_only", "name", "repr")

    def __init__(self, *, default: Any, default_factory: Any, show: bool) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.repr = show
        self.kw_only = True

    def has_default(self) -> bool:
        """True when the field may be left out of the constructor call."""
        return self.default is not MISSING or self.default_factory is not MISSING

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, repr={self.repr})"


def field(*, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True) -> Any:
    """A field's default (or factory) and whether ``repr`` shows it, as in dataclasses."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("a field has either a default or a default_factory, not both")
    return Field(default=default, default_factory=default_factory, show=repr)


def _is_class_var(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _own_fields(namespace: dict[str, Any], kw_only: bool) -> list[Field]:
    own: list[Field] = []
    for name, annotation in namespace.get("__annotations__", {}).items():
        if _is_class_var(annotation):
            continue
        value = namespace.pop(name, MISSING)
        spec = value if isinstance(value, Field) else Field(
            default=value, default_factory=MISSING, show=True
        )  # fmt: skip
        spec.name, spec.kw_only = name, kw_only
        own.append(spec)
    return own


def _check_order(name: str, fields: tuple[Field, ...]) -> None:
    seen_default = False
    for spec in fields:
        if spec.kw_only:
            continue
        if seen_default and not spec.has_default():
            raise TypeError(f"{name}: non-default field {spec.name!r} follows a default field")
        seen_default = seen_default or spec.has_default()


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class RecordMeta(type):
    """Collects a record class's fields and gives it ``__slots__`` before the class exists."""

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **options: Any
    ) -> RecordMeta:
        kw_only = bool(options.pop("kw_only", True))
        inherited: dict[str, Field] = {}
        for base in reversed(bases):
            inherited.update((f.name, f) for f in getattr(base, "__record_fields__", ()))
        own = _own_fields(namespace, kw_only)
        namespace["__slots__"] = tuple(f.name for f in own if f.name not in inherited)
        cls = super().__new__(mcs, name, bases, namespace, **options)
        fields = tuple({**inherited, **{f.name: f for f in own}}.values())
        _check_order(name, fields)
        cls.__record_fields__ = fields  # type: ignore[attr-defined]
        cls.__record_init__ = tuple((f.name, f.default, f.default_factory) for f in fields)  # type: ignore[attr-defined]
        cls.__record_post_init__ = hasattr(cls, "__post_init__")  # type: ignore[attr-defined]
        cls.__match_args__ = tuple(f.name for f in fields if not f.kw_only)  # type: ignore[attr-defined,misc]
        return cls

    def __init__(
        cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **options: Any
    ) -> None:
        options.pop("kw_only", None)
        super().__init__(name, bases, namespace, **options)


_set_field = object.__setattr__  # the frozen records' own __setattr__ refuses


def _values(record: Record) -> tuple[Any, ...]:
    return tuple(getattr(record, f.name) for f in record.__record_fields__)


def _bind(cls: type[Record], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    positional = cls.__match_args__
    if len(args) > len(positional):
        raise TypeError(
            f"{cls.__name__}() takes {len(positional)} positional arguments but {len(args)} "
            "were given"
        )
    values = dict(zip(positional, args, strict=False))
    for name, value in kwargs.items():
        if name in values:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
        values[name] = value
    return values


def _restore(cls: type[Record], values: tuple[Any, ...]) -> Record:
    """Unpickle: set the fields without running ``__init__`` again (as dataclasses do)."""
    record = cls.__new__(cls)
    for spec, value in zip(cls.__record_fields__, values, strict=True):
        object.__setattr__(record, spec.name, value)
    return record


class Record(metaclass=RecordMeta):
    """Base of the frozen value records (see the module's documentation)."""

    __slots__ = ()
    __record_fields__: ClassVar[tuple[Field, ...]] = ()
    __record_init__: ClassVar[tuple[tuple[str, Any, Any], ...]] = ()
    """(name, default, default_factory) per field: what ``__init__`` walks, prepared once."""
    __record_post_init__: ClassVar[bool] = False
    __match_args__: ClassVar[tuple[str, ...]] = ()

    if not TYPE_CHECKING:  # the type checker builds each class's own __init__ from its fields

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            cls = type(self)
            values = _bind(cls, args, kwargs) if args else kwargs  # a fresh dict per call
            for name, default, factory in cls.__record_init__:
                value = values.pop(name, default)
                if value is MISSING:
                    if factory is MISSING:
                        raise TypeError(f"{cls.__name__}() missing argument {name!r}")
                    value = factory()
                _set_field(self, name, value)
            if values:
                unexpected = next(iter(values))
                raise TypeError(f"{cls.__name__}() got an unexpected argument {unexpected!r}")
            if cls.__record_post_init__:
                self.__post_init__()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _values(self) == _values(other)

    def __hash__(self) -> int:
        return hash(_values(self))

    def __repr__(self) -> str:
        shown = (f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__ if f.repr)
        return f"{type(self).__qualname__}({', '.join(shown)})"

    if not TYPE_CHECKING:  # hidden from mypy, which would then allow any assignment

        def __setattr__(self, name: str, value: object) -> None:
            raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen record")

        def __delattr__(self, name: str) -> None:
            raise FrozenRecordError(f"cannot delete field {name!r} of a frozen record")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), _values(self)))


def fields(record: Record | type[Record]) -> tuple[Field, ...]:
    """The fields of a record or record class, in constructor order."""
    return record.__record_fields__


def replace(record: R, /, **changes: Any) -> R:
    """A copy of ``record`` with ``changes`` (``__post_init__`` runs again, as in dataclasses)."""
    values = {f.name: getattr(record, f.name) for f in record.__record_fields__}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    return type(record)(**(values | changes))


def asdict(record: Record) -> dict[str, Any]:
    """The record as a dict, records, lists, tuples and dicts inside converted recursively."""
    return {f.name: _plain(getattr(record, f.name)) for f in record.__record_fields__}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return asdict(value)
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
