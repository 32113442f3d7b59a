"""Persisted heal state: incidents survive the JSON round trip; bad bodies are one-line errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mewarden.errors import StateError
from mewarden.heal.records import NodeRecord, record_from_json, record_to_json
from mewarden.policy.ladder import Fault, Incident, Phase

incidents = st.builds(
    Incident,
    phase=st.sampled_from(Phase),
    since=st.floats(min_value=0, max_value=4e9),
    number=st.integers(0, 10_000),
    cycles=st.integers(0, 20),
    pxes=st.integers(0, 20),
    attempts=st.integers(0, 50),
    failures=st.integers(0, 50),
    not_before=st.floats(min_value=0, max_value=4e9),
    fault=st.none() | st.sampled_from(Fault),
)


@given(incidents, st.none() | st.integers(0, 1000), st.booleans())
def test_record_round_trip(incident: Incident, base: int | None, amt_down: bool) -> None:
    record = NodeRecord(incident=incident, reenroll_base=base, amt_down=amt_down)
    assert record_from_json(record_to_json(record)) == record


def test_body_written_before_amt_down_existed_reads_as_amt_up() -> None:
    body = record_to_json(NodeRecord())
    assert "amt_down" not in body
    assert record_from_json(body).amt_down is False


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"incident": "x"},
        {"incident": {"phase": "nonsense"}},
        {"incident": {**record_to_json(NodeRecord())["incident"], "phase": "limbo"}},
        {"incident": {**record_to_json(NodeRecord())["incident"], "cycles": "many"}},
    ],
)
def test_unreadable_bodies_are_state_errors(body: dict[str, object]) -> None:
    with pytest.raises(StateError):
        record_from_json(body)
