"""``mewarden host amt-info``: what AMT says about itself over MEI (AMTHI), in pure Python.

Asks what rpc-go's ``amtinfo`` shows: code versions (AMT, Flash, Build Number, Sku), UUID,
control mode, provisioning state, the PKI DNS suffix, the wired interface (MAC, address, link),
the trusted root certificate hashes and the remote-access (CIRA) connection status. The host
name is the operating system's (as rpc-go shows it). Every question after the first is asked on
its own; one that fails becomes a line in ``problems``.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mewarden.errors import HostDataError, MeiError
from mewarden.host import amthi, amthi_info
from mewarden.host.amthi import AmthiCommand, ControlMode, LanSettings, ProvisioningState
from mewarden.host.amthi_info import CertHashEntry, RemoteAccess
from mewarden.host.mei import MeiTransport
from mewarden.host.mei_link import open_transport

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class AmtInfoReport:
    """The ``host amt-info`` report."""

    mei: str
    amt_version: str | None
    flash_version: str | None
    build_number: str | None
    sku: str | None
    bios_version: str | None
    uuid: str | None
    control_mode: ControlMode | int | None
    provisioning_state: ProvisioningState | int | None
    dns_suffix: str | None
    hostname: str
    wired: LanSettings | None
    cert_hashes: tuple[CertHashEntry, ...]
    remote_access: RemoteAccess | None
    problems: tuple[str, ...]


def _ask(
    transport: MeiTransport,
    request: bytes,
    parse: Callable[[bytes], _T],
    what: str,
    problems: list[str],
) -> _T | None:
    try:
        return parse(transport.exchange(request))
    except HostDataError as exc:
        problems.append(f"{what}: {exc}")
        return None


def read_cert_hashes(transport: MeiTransport, problems: list[str]) -> tuple[CertHashEntry, ...]:
    """EnumerateHashHandles, then GetCertHashEntry for each handle."""
    handles = _ask(
        transport,
        amthi.build_request(AmthiCommand.ENUMERATE_HASH_HANDLES),
        amthi_info.parse_hash_handles,
        "EnumerateHashHandles",
        problems,
    )
    entries: list[CertHashEntry] = []
    for handle in handles or ():
        entry = _ask(
            transport,
            amthi_info.build_hash_entry_request(handle),
            functools.partial(amthi_info.parse_hash_entry, handle),
            f"GetCertHashEntry {handle}",
            problems,
        )
        if entry is not None:
            entries.append(entry)
    return tuple(entries)


def read_control_mode(path: str) -> ControlMode | int:
    """GetControlMode alone (activation re-checks it after an error)."""
    transport = open_transport(path, amthi.AMTHI_UUID)
    try:
        reply = transport.exchange(amthi.build_request(AmthiCommand.GET_CONTROL_MODE))
        return amthi.parse_control_mode(reply)
    finally:
        transport.close()


def gather(path: str) -> AmtInfoReport:
    """Connect to AMTHI at ``path`` and ask everything (MEI failures abort with MeiError)."""
    transport = open_transport(path, amthi.AMTHI_UUID)
    try:
        return _gather(path, transport)
    finally:
        transport.close()


def _gather(path: str, transport: MeiTransport) -> AmtInfoReport:
    problems: list[str] = []

    def ask(command: AmthiCommand, parse: Callable[[bytes], _T]) -> _T | None:
        return _ask(transport, amthi.build_request(command), parse, command.name, problems)

    versions = ask(AmthiCommand.GET_CODE_VERSIONS, amthi.parse_code_versions)
    if versions is None:
        raise MeiError(
            f"AMT did not answer GET_CODE_VERSIONS on {path}: {'; '.join(problems)}",
            errno_name="EPROTO",
        )
    return AmtInfoReport(
        mei=path,
        amt_version=versions.get("AMT"),
        flash_version=versions.get("Flash"),
        build_number=versions.get("Build Number"),
        sku=versions.get("Sku"),
        bios_version=versions.bios_version or None,
        uuid=_text(ask(AmthiCommand.GET_UUID, amthi.parse_uuid)),
        control_mode=ask(AmthiCommand.GET_CONTROL_MODE, amthi.parse_control_mode),
        provisioning_state=ask(AmthiCommand.GET_PROVISIONING_STATE, amthi.parse_provisioning_state),
        dns_suffix=ask(AmthiCommand.GET_PKI_FQDN_SUFFIX, amthi_info.parse_dns_suffix),
        hostname=socket.gethostname(),
        wired=_ask(
            transport,
            amthi.build_lan_settings_request(0),
            amthi.parse_lan_settings,
            "GET_LAN_INTERFACE_SETTINGS",
            problems,
        ),
        cert_hashes=read_cert_hashes(transport, problems),
        remote_access=ask(
            AmthiCommand.GET_REMOTE_ACCESS_CONNECTION_STATUS, amthi_info.parse_remote_access
        ),
        problems=tuple(problems),
    )


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)
