"""``IPS_HostBasedSetupService`` with real checks, and the MEBx/commit step (pure).

Setup (CCM) takes the admin HA1. The ACM path checks what firmware checks (reference ``amt.md``
§1.11): AddNextCertInChain takes the chain leaf first, each certificate must have signed the one
before, and the root's SHA-256 must be a trusted hash (else 4, certificate verify failed);
AdminSetup / UpgradeClientToAdmin need the complete chain, a leaf with the AMT provisioning
EKU whose CN is in the PKI DNS suffix, SigningAlgorithm 2, a 20-byte McNonce, and a valid
RSA-SHA256 signature over ``ConfigurationNonce || McNonce`` (else 5, authentication failed).
After an ACM activation CommitChanges answers 2057 (DATA_MISSING) until SetMEBxPassword.
Return values: 0 ok, 1 internal/invalid parameter (chain), 2 invalid state, 3 invalid
parameter, 4 method disabled / certificate verify failed, 5 auth failed / chain too long.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from lxml import etree

from mewarden.amt.acm_crypto import (
    AMT_PROVISIONING_OID,
    SIGNING_ALGORITHM_RSA_SHA256,
    common_name,
    domain_matches,
    verify_nonce_signature,
)
from mewarden.emulate.cimbase import Context, Properties, int_arg, service
from mewarden.emulate.hostsetup_state import HostSetupState
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import body_values
from mewarden.emulate.values import ControlMode, DeviceEvent

MAX_CHAIN = 4
DATA_MISSING = 2057
_OK, _INTERNAL, _INVALID_STATE, _INVALID_PARAMETER, _VERIFY_FAILED, _AUTH_FAILED = 0, 1, 2, 3, 4, 5


def _text(body: etree._Element | None, name: str) -> str:
    values = body_values(body).get(name) if body is not None else None
    return (values[0].text or "").strip() if values else ""


def _b64(body: etree._Element | None, name: str) -> bytes | None:
    try:
        return base64.b64decode(_text(body, name), validate=True)
    except (binascii.Error, ValueError):
        return None


def _forced(dev: DeviceState, method: str) -> tuple[int | None, bool]:
    forced = dev.host_setup.forced.get(method)
    if forced is None:
        return None, True
    return forced.value, forced.apply


def host_based_setup(dev: DeviceState, ctx: Context) -> list[Properties]:
    setup = dev.host_setup
    status = 2 if setup.chain_complete else (1 if setup.chain else 0)
    return [
        service(
            "IPS_HostBasedSetupService",
            "Intel(r) AMT Host Based Setup Service",
            AllowedControlModes=[2, 1],
            CertChainStatus=status,
            ConfigurationNonce=base64.b64encode(setup.nonce).decode(),
            CurrentControlMode=int(dev.control_mode),
        )
    ]


def setup(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    value, apply = _forced(dev, "Setup")
    result = _OK
    if apply:
        result = dev.setup(
            encryption_type=int_arg(body, "NetAdminPassEncryptionType"),
            password_ha1=_text(body, "NetworkAdminPassword"),
            admin=False,
            now=ctx.now,
        )
    return {"ReturnValue": result if value is None else value}


def add_next_cert(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": _add_next_cert(dev, body)}


def _add_next_cert(dev: DeviceState, body: etree._Element | None) -> int:
    hs = dev.host_setup
    if dev.control_mode is ControlMode.ADMIN:
        return _INVALID_STATE
    der = _b64(body, "NextCertificate")
    is_leaf = _text(body, "IsLeafCertificate").lower() == "true"
    is_root = _text(body, "IsRootCertificate").lower() == "true"
    if der is None:
        return _INTERNAL
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return _INTERNAL
    if is_leaf:
        hs.reset_chain()
    elif not hs.chain or hs.chain_complete:
        return _INVALID_STATE
    if len(hs.chain) >= MAX_CHAIN:
        return _AUTH_FAILED  # 5: chain too long
    if hs.chain and not _signed(x509.load_der_x509_certificate(hs.chain[-1]), certificate):
        hs.reset_chain()
        return _VERIFY_FAILED
    hs.chain.append(der)
    if is_root:
        trusted = {r.sha256 for r in hs.trust.roots() if r.is_active}
        if hashlib.sha256(der).digest() not in trusted:
            hs.reset_chain()
            return _VERIFY_FAILED
        hs.chain_complete = True
    return _OK


def _signed(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_signature(hs: HostSetupState, body: etree._Element | None) -> int:
    """What AdminSetup and UpgradeClientToAdmin both check about chain and signature."""
    if not hs.chain_complete:
        return _INVALID_STATE
    try:
        algorithm = int(_text(body, "SigningAlgorithm") or "-1")
    except ValueError:
        return _INVALID_PARAMETER
    mc_nonce = _b64(body, "McNonce")
    signature = _b64(body, "DigitalSignature")
    if algorithm != SIGNING_ALGORITHM_RSA_SHA256 or mc_nonce is None or len(mc_nonce) != 20:
        return _INVALID_PARAMETER
    leaf = x509.load_der_x509_certificate(hs.chain[0])
    if not _provisioning_leaf(leaf) or not domain_matches(
        common_name(leaf), hs.trust.pki_dns_suffix
    ):
        return _AUTH_FAILED
    if signature is None or not verify_nonce_signature(leaf, hs.nonce, mc_nonce, signature):
        return _AUTH_FAILED
    return _OK


def _provisioning_leaf(leaf: x509.Certificate) -> bool:
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return AMT_PROVISIONING_OID in usage


def admin_setup(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    value, apply = _forced(dev, "AdminSetup")
    hs = dev.host_setup
    result = _INVALID_STATE if dev.control_mode is not ControlMode.PRE_PROVISIONING else _OK
    result = result or _check_signature(hs, body)
    if apply and result == _OK:
        result = dev.setup(
            encryption_type=int_arg(body, "NetAdminPassEncryptionType"),
            password_ha1=_text(body, "NetworkAdminPassword"),
            admin=True,
            now=ctx.now,
        )
    if result == _OK:
        _activated_admin(hs)
    return {"ReturnValue": result if value is None else value}


def upgrade_client_to_admin(
    dev: DeviceState, ctx: Context, body: etree._Element | None
) -> Properties:
    value, apply = _forced(dev, "UpgradeClientToAdmin")
    hs = dev.host_setup
    result = _INVALID_STATE if dev.control_mode is not ControlMode.CLIENT else _OK
    result = result or _check_signature(hs, body)
    if apply and result == _OK:
        dev.control_mode = ControlMode.ADMIN
        dev.events.append(DeviceEvent(at=ctx.now, kind="activated", detail="ADMIN"))
        _activated_admin(hs)
    return {"ReturnValue": result if value is None else value}


def _activated_admin(hs: HostSetupState) -> None:
    hs.new_nonce()  # a nonce signs one activation only
    hs.reset_chain()
    hs.mebx_password_set = False


def set_mebx_password(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    if dev.control_mode is ControlMode.PRE_PROVISIONING:
        return {"ReturnValue": 16}
    if not 8 <= len(_text(body, "Password")) <= 32:
        return {"ReturnValue": 36}
    dev.host_setup.mebx_password_set = True
    return {"ReturnValue": 0}


def commit_changes(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    forced, _ = _forced(dev, "CommitChanges")
    if forced is not None:
        return {"ReturnValue": forced}
    if dev.control_mode is ControlMode.ADMIN and not dev.host_setup.mebx_password_set:
        return {"ReturnValue": DATA_MISSING}
    return {"ReturnValue": 0}
