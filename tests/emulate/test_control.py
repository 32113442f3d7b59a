"""The control API's routes, called in-process (the CLI test covers them over HTTP)."""

from __future__ import annotations

import json
from typing import Any

from mewarden.emulate import EmulatedFleet
from mewarden.emulate.control import ControlApi
from tests.emulate.helpers import PASSWORD


async def test_routes_report_faults_actions_and_consent() -> None:
    async with EmulatedFleet.start(nodes=2, base_ip=None, password=PASSWORD, boot_time_s=0.1) as f:
        control = ControlApi(f)

        async def api(method: str, target: str, body: bytes) -> tuple[int, Any]:
            return await control(method, target, body)

        address = f.devices[1].address
        status, listing = await api("GET", "/devices", b"")
        assert status == 200
        assert [d["address"] for d in listing] == [d.address for d in f.devices]
        status, device = await api("POST", f"/devices/{address}/faults", b'{"kind": "refuse"}')
        assert status == 200
        assert device["faults"] == ["refuse"]
        f.devices[1].state.start_opt_in(f.devices[1].now())
        f.devices[1].state.request_power(10, f.devices[1].now())
        status, device = await api("GET", f"/devices/{address}", b"")
        assert device["consent_code"] == f.consent_code(address)
        assert device["consent_code"] is not None
        status, actions = await api("GET", "/actions", b"")
        assert {a["kind"] for a in actions} >= {"power-request", "boot-start"}
        assert PASSWORD not in json.dumps([listing, device, actions])
        assert (await api("POST", f"/devices/{address}/faults", b'{"kind": "boom"}'))[0] == 400
        assert (await api("POST", f"/devices/{address}/faults", b"not json"))[0] == 400
        assert (await api("GET", "/devices/127.1.2.3", b""))[0] == 404
        assert (await api("GET", "/nowhere", b""))[0] == 404
        status, device = await api("DELETE", f"/devices/{address}/faults", b"")
        assert device["faults"] == []
