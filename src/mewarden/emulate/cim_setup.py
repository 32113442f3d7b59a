"""AMT_SetupAndConfigurationService and AMT_TimeSynchronizationService (its methods are in
:mod:`cim_config`) (pure). IPS_HostBasedSetupService, CommitChanges and SetMEBxPassword are in
:mod:`cim_hostsetup`.

In pre-provisioning the emulator accepts the fleet password for ``admin`` over the network (and
the local OS account over its simulated MEI endpoint); ``Setup``/``AdminSetup`` then replace it
with the HA1 the caller sends (``MD5("admin:" + realm + ":" + password)``, amt.md §1.11).
"""

from __future__ import annotations

from lxml import etree

from mewarden.emulate.cimbase import Context, Properties, service
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode


def setup_service(dev: DeviceState, ctx: Context) -> list[Properties]:
    provisioned = dev.control_mode is not ControlMode.PRE_PROVISIONING
    mode = 1 if dev.control_mode is ControlMode.ADMIN else 4
    return [
        service(
            "AMT_SetupAndConfigurationService",
            "Intel(r) AMT Setup and Configuration Service",
            EnabledState=5,
            PasswordModel=1,
            ProvisioningMode=mode if provisioned else 1,
            ProvisioningServerOTP="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ProvisioningState=2 if provisioned else 0,
            RequestedState=12,
            ZeroTouchConfigurationEnabled=True,
        )
    ]


def unprovision(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": dev.unprovision(ctx.now)}


def time_service(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        service(
            "AMT_TimeSynchronizationService",
            "Intel(r) AMT Time Synchronization Service",
            EnabledState=5,
            LocalTimeSyncEnabled=0,
            RequestedState=12,
            TimeSource=0,
        )
    ]
