"""The control API: JSON over HTTP on 127.0.0.1:PORT, for scripts and ``emulate fault``.

Routes::

    GET    /devices                      every device (summary)
    GET    /devices/<address>            one device, with console tail and consent code
    POST   /devices/<address>/faults     body {"kind": "<fault kind>"}
    DELETE /devices/<address>/faults     clear every fault
    GET    /actions                      the action log (power and boot actions)

The API holds no secret: the admin password is never part of any answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mewarden.emulate.device import EmulatedDevice, FaultKind
from mewarden.emulate.fleet import EmulatedFleet
from mewarden.emulate.webserver import serve_json
from mewarden.errors import BadInputError
from mewarden.jsonutil import to_jsonable


def device_summary(device: EmulatedDevice, *, detail: bool = False) -> dict[str, Any]:
    """What the control API reports about a device."""
    summary: dict[str, Any] = {
        "address": device.address,
        "uuid": device.uuid,
        "realm": device.realm,
        "mac": device.mac,
        "http_port": device.http_port,
        "tls_port": device.tls_port,
        "redirection_port": device.redirection_port,
        "agent_port": device.agent_port,
        "faults": sorted(f.value for f in device.faults),
    }
    if detail or device.materialized:
        state = device.state
        summary.update(
            power_state=int(state.power_state),
            host_up=state.host_answers,
            boot_count=state.boot_count,
            reenroll_count=state.reenroll_count,
            consent_code=state.opt_in_code,
        )
    if detail:
        summary["console_tail"] = device.state.console[-5:]
        summary["os_broken"] = device.state.os_broken
        summary["ider_boot"] = to_jsonable(device.state.ider_boot)
        summary["ider_sectors_read"] = device.state.ider_sectors
    return summary


class ControlApi:
    """Routes control requests to a fleet."""

    def __init__(self, fleet: EmulatedFleet) -> None:
        self.fleet = fleet

    async def __call__(self, method: str, target: str, body: bytes) -> tuple[int, object]:
        parts = [p for p in target.split("?", maxsplit=1)[0].split("/") if p]
        try:
            return self._route(method, parts, body)
        except BadInputError as exc:
            return 400, {"error": str(exc)}

    def _route(self, method: str, parts: list[str], body: bytes) -> tuple[int, object]:
        fleet = self.fleet
        if parts == ["devices"] and method == "GET":
            return 200, [device_summary(d) for d in fleet.devices]
        if parts == ["actions"] and method == "GET":
            return 200, to_jsonable(fleet.action_log)
        if len(parts) >= 2 and parts[0] == "devices":
            if parts[1] not in fleet.by_address:
                return 404, {"error": f"no emulated device at {parts[1]}"}
            device = fleet.by_address[parts[1]]
            if len(parts) == 2 and method == "GET":
                return 200, device_summary(device, detail=True)
            if parts[2:] == ["faults"] and method == "POST":
                fleet.inject_fault(device.address, _fault_kind(body))
                return 200, device_summary(device, detail=True)
            if parts[2:] == ["faults"] and method == "DELETE":
                fleet.clear_faults(device.address)
                return 200, device_summary(device, detail=True)
        return 404, {"error": "no such route"}


def _fault_kind(body: bytes) -> FaultKind:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise BadInputError("the request body must be JSON") from None
    kind = payload.get("kind") if isinstance(payload, dict) else None
    if not isinstance(kind, str):
        raise BadInputError('the request body must be {"kind": "<fault kind>"}')
    return FaultKind.parse(kind)


async def start_control(fleet: EmulatedFleet, port: int) -> asyncio.Server:
    """Serve the control API on 127.0.0.1:``port``."""
    api = ControlApi(fleet)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_json(api, reader, writer)

    return await asyncio.start_server(accept, host="127.0.0.1", port=port, reuse_address=True)
