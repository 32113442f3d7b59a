"""The ACM crypto (pure) and the emulator's firmware-side checks, request by request: each
wrong chain, root, name, EKU, nonce or signature is refused with its ReturnValue."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mewarden.amt.acm_crypto import (
    check_against_device,
    domain_matches,
    load_pfx,
    order_chain,
    sign_nonces,
    verify_nonce_signature,
)
from mewarden.emulate.cimbase import Context
from mewarden.emulate.dispatch import WsmanSession, handle
from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode, Identity, Timing
from mewarden.errors import BadInputError, RefusedError
from mewarden.secret import Secret
from mewarden.wsman import envelope as env
from mewarden.wsman.envelope import Properties
from mewarden.wsman.parse import parse_response
from tests.host.acm_pki import PFX_PASSWORD, Pki, build_pki

SETUP = "IPS_HostBasedSetupService"
HA1 = "0" * 32


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("other"), leaf_cn="amt.elsewhere.example")


def _device(pki: Pki, mode: ControlMode = ControlMode.PRE_PROVISIONING) -> DeviceState:
    state = DeviceState.create(
        Identity.derive(index=1, address="127.14.0.2"), Timing(), mode=mode, now=0.0
    )
    state.host_setup.trust = HostTrust(
        trusted_root_hashes=(pki.root_sha256,), pki_dns_suffix="corp.example"
    )
    return state


def _call(state: DeviceState, method: str, params: Properties = (), cls: str = SETUP) -> int:
    request = env.invoke(cls, method, params)
    status, body = handle(request.body, state, WsmanSession(), Context(now=1.0, wall=1.0))
    assert status == 200, body
    value = parse_response(body).first.integer("ReturnValue")
    assert value is not None
    return value


def _inject(state: DeviceState, chain: list[bytes]) -> list[int]:
    return [
        _call(
            state,
            "AddNextCertInChain",
            (
                ("NextCertificate", base64.b64encode(der).decode()),
                ("IsLeafCertificate", i == 0),
                ("IsRootCertificate", i == len(chain) - 1),
            ),
        )
        for i, der in enumerate(chain)
    ]


def _admin_setup(state: DeviceState, signature: str, mc_nonce: bytes = b"m" * 20) -> int:
    params: Properties = (
        ("NetAdminPassEncryptionType", 2),
        ("NetworkAdminPassword", HA1),
        ("McNonce", base64.b64encode(mc_nonce).decode()),
        ("SigningAlgorithm", 2),
        ("DigitalSignature", signature),
    )
    return _call(state, "AdminSetup", params)


def test_signature_construction_round_trips(pki: Pki) -> None:
    certificate = load_pfx(pki.pfx.read_bytes(), Secret(PFX_PASSWORD))
    assert [c.subject for c in certificate.chain][-1] == pki.root.subject
    assert certificate.root_sha256 == pki.root_sha256.hex()
    signature = base64.b64decode(sign_nonces(certificate.key, b"f" * 20, b"m" * 20))
    assert verify_nonce_signature(certificate.leaf, b"f" * 20, b"m" * 20, signature)
    assert not verify_nonce_signature(certificate.leaf, b"g" * 20, b"m" * 20, signature)
    assert "RSAPrivateKey" not in repr(certificate)  # the key is never printed


def test_host_side_checks(pki: Pki, other_pki: Pki) -> None:
    certificate = load_pfx(pki.pfx.read_bytes(), Secret(PFX_PASSWORD))
    check_against_device(certificate, {pki.root_sha256.hex()}, "corp.example")
    with pytest.raises(RefusedError, match="not among the device's 1 active"):
        check_against_device(certificate, {other_pki.root_sha256.hex()}, "corp.example")
    with pytest.raises(RefusedError, match="no PKI DNS suffix"):
        check_against_device(certificate, {pki.root_sha256.hex()}, "")
    assert domain_matches("*.corp.example", "corp.example")
    assert domain_matches("a.b.corp.example", "Corp.Example.")
    assert not domain_matches("evilcorp.example", "corp.example")
    leaf_only = load_pfx(pki.pfx.read_bytes(), Secret(PFX_PASSWORD)).leaf
    with pytest.raises(BadInputError, match="issuer 'Test Issuing CA' is not in the PFX"):
        order_chain(leaf_only, [])
    with pytest.raises(BadInputError, match="wrong certificate password"):
        load_pfx(pki.pfx.read_bytes(), Secret("nope"))
    with pytest.raises(BadInputError, match="not a PKCS#12"):
        load_pfx(b"not a pfx", Secret(PFX_PASSWORD))


def test_emulator_accepts_only_a_correct_activation(pki: Pki, tmp_path: Path) -> None:
    certificate = load_pfx(pki.pfx.read_bytes(), Secret(PFX_PASSWORD))
    state = _device(pki)
    assert _admin_setup(state, "AAAA") == 2  # no chain injected yet
    assert _inject(state, list(certificate.chain_der())) == [0, 0, 0]
    fw_nonce = state.host_setup.nonce
    wrong = sign_nonces(certificate.key, b"x" * 20, b"m" * 20)
    assert _admin_setup(state, wrong) == 5
    assert _admin_setup(state, sign_nonces(certificate.key, fw_nonce, b"m" * 20), b"m" * 19) == 3
    assert state.control_mode is ControlMode.PRE_PROVISIONING
    assert _admin_setup(state, sign_nonces(certificate.key, fw_nonce, b"m" * 20)) == 0
    assert state.control_mode is ControlMode.ADMIN  # type: ignore[comparison-overlap]
    assert state.host_setup.nonce != fw_nonce  # one nonce, one activation
    assert _call(state, "CommitChanges", cls="AMT_SetupAndConfigurationService") == 2057
    mebx = (("Password", "Mebx-Pass1!"),)
    assert _call(state, "SetMEBxPassword", mebx, cls="AMT_SetupAndConfigurationService") == 0
    assert _call(state, "CommitChanges", cls="AMT_SetupAndConfigurationService") == 0


def test_emulator_refuses_bad_chains(pki: Pki, other_pki: Pki) -> None:
    chain = list(load_pfx(pki.pfx.read_bytes(), Secret(PFX_PASSWORD)).chain_der())
    foreign = list(load_pfx(other_pki.pfx.read_bytes(), Secret(PFX_PASSWORD)).chain_der())
    state = _device(pki)
    assert _inject(state, [chain[0], chain[2], chain[1]])[:2] == [0, 4]  # out of order
    assert _inject(state, foreign) == [0, 0, 4]  # untrusted root
    assert not state.host_setup.chain_complete
    assert _inject(state, [chain[1], chain[2]])[0] == 0  # an intermediate may be a "leaf" ...
    certificate = load_pfx(pki.pfx.read_bytes(), Secret(PFX_PASSWORD))
    signature = sign_nonces(certificate.key, state.host_setup.nonce, b"m" * 20)
    assert _admin_setup(state, signature) == 5  # ... but it has no AMT provisioning EKU


def test_emulator_checks_the_dns_suffix_and_the_mode(pki: Pki, other_pki: Pki) -> None:
    foreign = load_pfx(other_pki.pfx.read_bytes(), Secret(PFX_PASSWORD))
    state = _device(other_pki)  # trusts the other root, but the suffix is corp.example
    assert _inject(state, list(foreign.chain_der())) == [0, 0, 0]
    signature = sign_nonces(foreign.key, state.host_setup.nonce, b"m" * 20)
    assert _admin_setup(state, signature) == 5
    upgrade = (
        ("McNonce", base64.b64encode(b"m" * 20).decode()),
        ("SigningAlgorithm", 2),
        ("DigitalSignature", signature),
    )
    assert _call(state, "UpgradeClientToAdmin", upgrade) == 2  # not in client control mode
    client = _device(pki, ControlMode.CLIENT)
    setup = (("NetAdminPassEncryptionType", 2), ("NetworkAdminPassword", HA1))
    assert _call(client, "Setup", setup) == 2  # already activated
