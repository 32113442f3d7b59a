"""Configuration state of one emulated device: wired network and KVM settings (pure values).

Kept apart from :mod:`model` (which holds power, boot and host behaviour) because these are
plain settings that only the WS-MAN classes in :mod:`cim_config` read and write.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.secret import Secret

DHCP_GATEWAY = "192.168.0.1"
DHCP_DNS = ("192.168.0.1", "192.168.0.2")
DHCP_MASK = "255.255.255.0"


@dataclass(slots=True, kw_only=True)
class NetworkSettings:
    """``AMT_EthernetPortSettings`` for the wired port (reference amt.md §1.7)."""

    dhcp_enabled: bool = True
    ip_sync_enabled: bool = True
    shared_static_ip: bool = False
    ip_address: str = ""
    """Empty while DHCP (or shared static) is in use: the lease / host address is shown."""
    subnet_mask: str = ""
    default_gateway: str = ""
    primary_dns: str = ""
    secondary_dns: str = ""


@dataclass(slots=True, kw_only=True)
class KvmSettings:
    """``IPS_KVMRedirectionSettingData`` (reference amt.md §1.9)."""

    is_5900_port_enabled: bool = False
    opt_in_policy: bool = True
    opt_in_policy_timeout: int = 300
    session_timeout: int = 3
    default_screen: int = 0
    rfb_password_set: bool = False
    """Whether an RFB password was written; AMT never reads it back."""
    rfb_password: Secret | None = None
    """The RFB (port 5900) password, checked by VNC authentication on 5900."""
