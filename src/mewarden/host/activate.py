"""``mewarden host activate``: from pre-provisioning to client or admin control mode, locally.

The flow (reference ``amt.md`` §1.11, as rpc-go's local activation does it):

1. over AMTHI: the control mode (refuse if already activated), the OS admin account firmware
   hands the host, and for ACM the trusted root hashes and the PKI DNS suffix; the provisioning
   certificate is checked against those two **before anything is changed**;
2. over the local WS-MAN channel (LMS or in-process LME) as that OS account: the digest realm,
   for ACM the firmware nonce and the chain (leaf first), then Setup (CCM) or AdminSetup (ACM,
   signed nonces) with ``MD5(admin:realm:password)``; a device already in CCM is upgraded with
   UpgradeClientToAdmin (which needs the current admin password);
3. as ``admin`` with the new password: CommitChanges, setting the MEBx password first when
   firmware answers 2057 (DATA_MISSING).

After any error the control mode is read again over AMTHI: a device that changed mode anyway is
reported as a partial success, never as a failure or a success.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from mewarden.amt import hostsetup
from mewarden.amt.accounts import check_password_strength
from mewarden.amt.acm_crypto import (
    MC_NONCE_BYTES,
    ProvisioningCertificate,
    check_against_device,
    sign_nonces,
)
from mewarden.amt.client import AmtClient
from mewarden.errors import MewardenError, RefusedError
from mewarden.host import amthi, amthi_info
from mewarden.host.amthi import AmthiCommand, ControlMode
from mewarden.host.amthi_info import LocalAccount
from mewarden.host.amtinfo import read_cert_hashes, read_control_mode
from mewarden.host.local_channel import LMS_DEFAULT, LocalChannel, open_local_channel
from mewarden.host.mei_link import open_transport
from mewarden.secret import Secret

_MODE_NAMES = {0: "pre-provisioning", 1: "client control mode", 2: "admin control mode"}


def mode_name(mode: ControlMode | int) -> str:
    return _MODE_NAMES.get(int(mode), f"control mode {int(mode)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationRequest:
    mode: str  # "ccm" or "acm"
    mei_path: str
    password: Secret = field(repr=False)
    certificate: ProvisioningCertificate | None = None
    lms: tuple[str, int] | None = LMS_DEFAULT
    random_bytes: Callable[[int], bytes] = os.urandom


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationReport:
    """What happened; ``outcome`` is ``activated``, ``upgraded`` or ``partial``."""

    requested: str
    channel: str
    before: ControlMode | int
    after: ControlMode | int
    outcome: str
    steps: tuple[str, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupFacts:
    control_mode: ControlMode | int
    account: LocalAccount
    trusted_sha256: frozenset[str] = frozenset()
    dns_suffix: str = ""


def read_setup_facts(path: str, *, with_trust: bool) -> SetupFacts:
    """Ask AMTHI what activation needs (blocking; run it in a thread)."""
    transport = open_transport(path, amthi.AMTHI_UUID)
    try:
        mode = amthi.parse_control_mode(
            transport.exchange(amthi.build_request(AmthiCommand.GET_CONTROL_MODE))
        )
        account = amthi_info.parse_local_account(
            transport.exchange(amthi_info.build_local_account_request())
        )
        if not with_trust:
            return SetupFacts(control_mode=mode, account=account)
        problems: list[str] = []
        hashes = read_cert_hashes(transport, problems)
        suffix = amthi_info.parse_dns_suffix(
            transport.exchange(amthi.build_request(AmthiCommand.GET_PKI_FQDN_SUFFIX))
        )
    finally:
        transport.close()
    trusted = frozenset(h.hash_hex for h in hashes if h.is_active)
    return SetupFacts(control_mode=mode, account=account, trusted_sha256=trusted, dns_suffix=suffix)


def _preconditions(request: ActivationRequest, facts: SetupFacts) -> None:
    mode = int(facts.control_mode)
    if request.mode == "acm" and request.certificate is None:
        raise RefusedError("admin control mode needs --cert-file (the provisioning certificate)")
    if mode == ControlMode.ACM or (mode == ControlMode.CCM and request.mode == "ccm"):
        raise RefusedError(
            f"AMT is already activated ({mode_name(mode)}); nothing was changed "
            "('mewarden host deactivate' returns a client-control-mode device to pre-provisioning)"
        )
    if request.certificate is not None:
        check_against_device(request.certificate, set(facts.trusted_sha256), facts.dns_suffix)


async def activate(request: ActivationRequest) -> ActivationReport:
    """Activate the local AMT as ``request`` says (see the module docstring)."""
    check_password_strength(request.password)
    facts = await asyncio.to_thread(
        read_setup_facts, request.mei_path, with_trust=request.mode == "acm"
    )
    _preconditions(request, facts)
    steps: list[str] = []
    used: list[LocalChannel] = []
    try:
        async with open_local_channel(request.mei_path, request.lms) as channel:
            used.append(channel)
            steps.append(f"local WS-MAN over {channel.label}")
            problem = await _run(channel, request, facts, steps)
    except MewardenError as exc:
        lme = used[0].lme if used else None
        if lme is not None and lme.error:  # the link died: say so, not just "dropped"
            exc.args = (f"{exc} (the MEI link failed: {lme.error})",)
        kind = used[0].kind if used else ""
        return await _after_error(request, facts, steps, kind, exc)
    channel_kind = used[0].kind
    after = await asyncio.to_thread(read_control_mode, request.mei_path)
    upgraded = facts.control_mode == ControlMode.CCM
    return ActivationReport(
        requested=request.mode,
        channel=channel_kind,
        before=facts.control_mode,
        after=after,
        outcome="partial" if problem else ("upgraded" if upgraded else "activated"),
        steps=tuple(steps),
        problems=(problem,) if problem else (),
    )


async def _after_error(
    request: ActivationRequest,
    facts: SetupFacts,
    steps: list[str],
    channel: str,
    error: MewardenError,
) -> ActivationReport:
    """Re-read the control mode: unchanged means failure (raise); changed means partial."""
    try:
        after = await asyncio.to_thread(read_control_mode, request.mei_path)
    except MewardenError:
        raise error from None
    if int(after) == int(facts.control_mode):
        # Keep the error's class (its exit code); say what the re-check found.
        error.args = (f"{error} (AMT is still in {mode_name(after)}: nothing was activated)",)
        raise error
    return ActivationReport(
        requested=request.mode,
        channel=channel,
        before=facts.control_mode,
        after=after,
        outcome="partial",
        steps=tuple(steps),
        problems=(f"{error}; AMT is nevertheless in {mode_name(after)} now",),
    )


async def _run(
    channel: LocalChannel, request: ActivationRequest, facts: SetupFacts, steps: list[str]
) -> str:
    """The WS-MAN part; returns a problem that left the device activated (or "")."""
    if facts.control_mode == ControlMode.CCM:
        account = ("admin", request.password)
    else:
        account = (facts.account.username, facts.account.password)
    async with channel.client(*account) as client:
        realm = await hostsetup.read_realm(client)
        steps.append("read the digest realm")
        if request.mode == "acm":
            await _admin_setup(client, request, facts, realm, steps)
        else:
            await hostsetup.setup(client, realm, request.password)
            steps.append("Setup (client control mode)")
    try:
        async with channel.client("admin", request.password) as admin:
            await _commit(admin, request.password, steps)
    except MewardenError as exc:
        return f"activated, but committing failed: {exc}"
    return ""


async def _admin_setup(
    client: AmtClient,
    request: ActivationRequest,
    facts: SetupFacts,
    realm: str,
    steps: list[str],
) -> None:
    certificate = request.certificate
    assert certificate is not None
    fw_nonce = await hostsetup.read_configuration_nonce(client)
    await hostsetup.add_chain(client, certificate.chain_der())
    steps.append(f"injected the certificate chain ({len(certificate.chain)} certificates)")
    mc_nonce = request.random_bytes(MC_NONCE_BYTES)
    signature = sign_nonces(certificate.key, fw_nonce, mc_nonce)
    if facts.control_mode == ControlMode.CCM:
        await hostsetup.upgrade_client_to_admin(client, mc_nonce, signature)
        steps.append("UpgradeClientToAdmin (signed nonces)")
    else:
        await hostsetup.admin_setup(client, realm, request.password, mc_nonce, signature)
        steps.append("AdminSetup (signed nonces)")


async def _commit(client: AmtClient, password: Secret, steps: list[str]) -> None:
    if await hostsetup.commit_changes(client) == hostsetup.DATA_MISSING:
        await hostsetup.set_mebx_password(client, password)
        steps.append("set the MEBx password")
        if await hostsetup.commit_changes(client) != 0:
            raise RefusedError("CommitChanges still reports the MEBx password missing")
    steps.append("CommitChanges")
