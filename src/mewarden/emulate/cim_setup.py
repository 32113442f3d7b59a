"""Activation and time classes: IPS_HostBasedSetupService, AMT_SetupAndConfigurationService,
AMT_TimeSynchronizationService (its methods are in :mod:`cim_config`) (pure).

In pre-provisioning the emulator accepts the fleet password for ``admin`` (standing in for the
local OS account LMS gives rpc-go); ``Setup``/``AdminSetup`` then replace it with the HA1 the
caller sends (``MD5("admin:" + realm + ":" + password)``, reference amt.md §1.11). AdminSetup's
certificate signature is not verified.
"""

from __future__ import annotations

import base64

from lxml import etree

from mewarden.emulate.cimbase import Context, Properties, int_arg, service
from mewarden.emulate.model import ControlMode, DeviceState
from mewarden.emulate.soap import body_values


def _text_arg(body: etree._Element | None, name: str) -> str:
    values = body_values(body).get(name) if body is not None else None
    return (values[0].text or "").strip() if values else ""


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


def commit_changes(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": 0}


def host_based_setup(dev: DeviceState, ctx: Context) -> list[Properties]:
    nonce = base64.b64encode(dev.identity.uuid.encode()[:20]).decode()
    return [
        service(
            "IPS_HostBasedSetupService",
            "Intel(r) AMT Host Based Setup Service",
            AllowedControlModes=[2, 1],
            CertChainStatus=0,
            ConfigurationNonce=nonce,
            CurrentControlMode=int(dev.control_mode),
        )
    ]


def _activate(dev: DeviceState, ctx: Context, body: etree._Element | None, *, admin: bool) -> int:
    return dev.setup(
        encryption_type=int_arg(body, "NetAdminPassEncryptionType"),
        password_ha1=_text_arg(body, "NetworkAdminPassword"),
        admin=admin,
        now=ctx.now,
    )


def setup(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": _activate(dev, ctx, body, admin=False)}


def admin_setup(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": _activate(dev, ctx, body, admin=True)}


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
