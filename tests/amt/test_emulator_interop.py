"""The AMT client against the project's emulator (an independent implementation that does not
share mewarden's WS-MAN parser): a one-shot PXE boot and a power cycle land as the emulated
device's own actions."""

from __future__ import annotations

from mewarden.amt import boot, inventory, power
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.fleet import run_fleet
from mewarden.emulate.fleet import EmulatedFleet
from mewarden.secret import Secret
from mewarden.wsman.resources import PowerState

PASSWORD = "P@ssw0rd1"


async def test_pxe_boot_and_cycle_reach_the_emulated_devices() -> None:
    async with EmulatedFleet.start(
        nodes=3, base_ip=None, password=PASSWORD, boot_time_s=0.1
    ) as fleet:
        endpoints = [
            Endpoint(host=d.address, port=d.http_port, password=Secret(PASSWORD), timeout_s=10)
            for d in fleet.devices
        ]

        async def pxe(client: AmtClient) -> boot.BootPlan:
            identity = await inventory.identify(client)
            assert identity.realm_valid
            return await boot.set_boot(client, boot.BootTarget.PXE)

        results = await run_fleet(endpoints, pxe, concurrency=2)
        assert all(r.ok for r in results), [r.error for r in results]
        assert all(r.value and r.value.power_state is PowerState.MASTER_BUS_RESET for r in results)
        kinds = {(a.address, a.kind, a.detail) for a in fleet.action_log}
        for device in fleet.devices:
            assert (device.address, "boot-start", "pxe") in kinds
            assert (device.address, "power-request", "10") in kinds

        async with AmtClient(endpoints[0]) as client:
            await power.change_power(client, power.PowerAction.CYCLE)
            assert (await power.read_power(client)).available
        requests = [a.detail for a in fleet.action_log if a.address == endpoints[0].host]
        assert "5" in requests
