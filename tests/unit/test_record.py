"""Records behave like ``@dataclass(frozen=True, slots=True, kw_only=True)``: checked side by
side with a real dataclass of the same fields."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mewarden import record
from mewarden.jsonutil import to_jsonable
from mewarden.record import FrozenRecordError, Record, field


class Point(Record):
    x: int
    y: int = 0
    label: str = "p"
    secret: bytes = field(default=b"", repr=False)
    tags: list[str] = field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DataPoint:
    x: int
    y: int = 0
    label: str = "p"
    secret: bytes = dataclasses.field(default=b"", repr=False)
    tags: list[str] = dataclasses.field(default_factory=list)


class Pair(Record, kw_only=False):
    first: int
    second: str = "b"


class Derived(Point):
    z: int = 9


class Checked(Record):
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low above high")


values = st.fixed_dictionaries(
    {"x": st.integers()},
    optional={"y": st.integers(), "label": st.text(max_size=5), "secret": st.binary(max_size=4)},
)


@given(values, values)
def test_equality_hash_and_repr_match_a_dataclass(
    a: dict[str, object], b: dict[str, object]
) -> None:
    ours_a, ours_b = Point(**a), Point(**b)  # type: ignore[arg-type]
    theirs_a, theirs_b = DataPoint(**a), DataPoint(**b)  # type: ignore[arg-type]
    assert (ours_a == ours_b) is (theirs_a == theirs_b)
    assert repr(ours_a).replace("Point(", "DataPoint(", 1) == repr(theirs_a)
    assert record.asdict(ours_a) == dataclasses.asdict(theirs_a)
    assert to_jsonable(ours_a) == to_jsonable(theirs_a)
    if ours_a == ours_b:
        assert hash(Point(**a, tags=())) == hash(Point(**b, tags=()))  # type: ignore[arg-type]


def test_fields_are_frozen_and_slotted() -> None:
    point = Point(x=1)
    with pytest.raises(FrozenRecordError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.y
    with pytest.raises(AttributeError):
        point.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(point, "__dict__")


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="missing argument 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected argument 'nope'"):
        Point(x=1, nope=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional"):
        Point(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Pair(1, first=2)  # type: ignore[misc]


def test_positional_records_and_pattern_matching() -> None:
    pair = Pair(1)
    assert pair == Pair(first=1, second="b")
    match pair:
        case Pair(first, second):
            assert (first, second) == (1, "b")
    with pytest.raises(TypeError, match="non-default field"):

        class Broken(Record, kw_only=False):
            a: int = 1
            b: int  # type: ignore[misc]


def test_defaults_factories_inheritance_and_post_init() -> None:
    first, second = Point(x=1), Point(x=1)
    assert first.tags == []
    assert first.tags is not second.tags
    derived = Derived(x=1)
    assert [f.name for f in record.fields(derived)] == ["x", "y", "label", "secret", "tags", "z"]
    assert derived != Point(x=1)  # another class is never equal, as with dataclasses
    with pytest.raises(ValueError, match="low above high"):
        Checked(low=2, high=1)
    with pytest.raises(ValueError, match="low above high"):
        record.replace(Checked(low=1, high=2), low=3)


def test_replace_copy_and_pickle() -> None:
    point = Point(x=1, secret=b"k", tags=["a"])
    moved = record.replace(point, y=5)
    assert (moved.x, moved.y, moved.secret) == (1, 5, b"k")
    with pytest.raises(TypeError, match="no field 'z'"):
        record.replace(point, z=1)
    assert pickle.loads(pickle.dumps(point)) == point
    assert copy.deepcopy(point) == point
    assert copy.copy(point) == point
    assert "secret" not in repr(point)
    assert "secret" not in to_jsonable(point)


def test_class_vars_are_not_fields() -> None:
    from typing import ClassVar

    class WithConstant(Record):
        LIMIT: ClassVar[int] = 3
        value: int

    assert [f.name for f in record.fields(WithConstant)] == ["value"]
    assert WithConstant.LIMIT == 3
