"""Persisted heal state of one node: the ladder's :class:`Incident` plus what the shell needs.

Pure conversions to and from the JSON body stored in ``heal_incidents`` (no I/O).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mewarden.errors import StateError
from mewarden.policy.ladder import Fault, Incident, Phase


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRecord:
    """A node's ladder incident and the host agent's re-enrolment count before a PXE boot."""

    incident: Incident = dataclasses.field(default_factory=Incident)
    reenroll_base: int | None = None
    """The agent's ``reenroll_count`` when the PXE re-provision was decided (None: unknown)."""
    amt_down: bool = False
    """An AMT-only outage is under way (``heal.amt-down`` recorded, no ``amt-restored`` yet)."""


def incident_to_json(incident: Incident) -> dict[str, Any]:
    """An incident as a JSON-ready mapping (enums by value)."""
    body = {f.name: getattr(incident, f.name) for f in dataclasses.fields(incident)}
    body["phase"] = incident.phase.value
    body["fault"] = incident.fault.value if incident.fault is not None else None
    return body


def incident_from_json(body: dict[str, Any]) -> Incident:
    """The inverse of :func:`incident_to_json`; StateError on a body it cannot read."""
    try:
        fault = body.get("fault")
        return Incident(
            phase=Phase(body["phase"]),
            since=float(body["since"]),
            number=int(body["number"]),
            cycles=int(body["cycles"]),
            pxes=int(body["pxes"]),
            attempts=int(body["attempts"]),
            failures=int(body["failures"]),
            not_before=float(body["not_before"]),
            fault=Fault(fault) if fault is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"unreadable heal incident in org state: {exc}") from None


def record_to_json(record: NodeRecord) -> dict[str, Any]:
    """The stored body of a node's heal state."""
    body = {"incident": incident_to_json(record.incident), "reenroll_base": record.reenroll_base}
    if record.amt_down:  # only then: bodies written before this field read the same
        body["amt_down"] = True
    return body


def record_from_json(body: dict[str, Any]) -> NodeRecord:
    """The inverse of :func:`record_to_json`."""
    base = body.get("reenroll_base")
    incident = body.get("incident")
    if not isinstance(incident, dict):
        raise StateError("unreadable heal incident in org state: no incident")
    return NodeRecord(
        incident=incident_from_json(incident),
        reenroll_base=int(base) if base is not None else None,
        amt_down=body.get("amt_down") is True,
    )
