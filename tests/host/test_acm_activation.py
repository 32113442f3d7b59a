"""`host activate --mode acm` with a provisioning certificate the test builds (root ->
intermediate -> leaf), against the emulator's checks of chain, root hash, suffix and signature."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.emulate.values import ControlMode
from mewarden.errors import BadInputError, RefusedError
from tests.host.acm_pki import PFX_PASSWORD, Pki, build_pki
from tests.host.mei_emulator import (
    NEW_PASSWORD,
    MeiEmulator,
    Result,
    json_of,
    refused_port,
    run_cli,
)

SUFFIX = "corp.example"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def acm(
    pki: Pki, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", NEW_PASSWORD)
    monkeypatch.setenv("MEWARDEN_CERT_PASSWORD", PFX_PASSWORD)

    def run(emu: MeiEmulator, *extra: str, mode: str = "acm") -> Result:
        cert = ("--cert-file", str(pki.pfx)) if mode == "acm" else ()
        with refused_port() as no_lms:
            return run_cli(
                capsys,
                "host",
                "activate",
                "--mode",
                mode,
                *cert,
                "--mei",
                emu.mei_path,
                "--lms",
                no_lms,
                *extra,
                secrets=(NEW_PASSWORD, PFX_PASSWORD),
            )

    return run


def _emulator(tmp_path: Path, roots: tuple[bytes, ...], suffix: str = SUFFIX) -> MeiEmulator:
    trust = HostTrust(trusted_root_hashes=roots, pki_dns_suffix=suffix)
    return MeiEmulator(tmp_path / "mei", trust=trust)


def test_acm_activation_injects_signs_and_commits(
    tmp_path: Path, pki: Pki, acm: Callable[..., Result]
) -> None:
    with _emulator(tmp_path, (pki.root_sha256,)) as emu:
        report = json_of(acm(emu, "--json"))
        assert (report["before"], report["after"], report["outcome"]) == (
            "none",
            "acm",
            "activated",
        )
        assert "injected the certificate chain (3 certificates)" in report["steps"]
        assert report["steps"][-2:] == ["set the MEBx password", "CommitChanges"]
        state = emu.state()
        assert state.control_mode is ControlMode.ADMIN
        assert state.host_setup.mebx_password_set
        assert [e.detail for e in state.events if e.kind == "activated"] == ["ADMIN"]


def test_client_control_mode_is_upgraded_to_admin(
    tmp_path: Path, pki: Pki, acm: Callable[..., Result]
) -> None:
    with _emulator(tmp_path, (pki.root_sha256,)) as emu:
        assert json_of(acm(emu, "--json", mode="ccm"))["after"] == "ccm"
        report = json_of(acm(emu, "--json"))
        assert (report["before"], report["after"], report["outcome"]) == ("ccm", "acm", "upgraded")
        assert "UpgradeClientToAdmin (signed nonces)" in report["steps"]
        assert emu.state().control_mode is ControlMode.ADMIN


def test_untrusted_root_is_refused_before_any_change(
    tmp_path: Path, pki: Pki, acm: Callable[..., Result]
) -> None:
    other = hashlib.sha256(b"another root").digest()
    with _emulator(tmp_path, (other,)) as emu:
        code, out, err = acm(emu)
        assert code == RefusedError.exit_code
        assert pki.root_sha256.hex() in err
        assert "'Test Root CA'" in err
        assert "nothing was changed" in err
        assert out == ""
        state = emu.state()
        assert state.control_mode is ControlMode.PRE_PROVISIONING
        assert state.host_setup.chain == []  # no AddNextCertInChain was sent


def test_wrong_dns_suffix_is_refused(tmp_path: Path, pki: Pki, acm: Callable[..., Result]) -> None:
    with _emulator(tmp_path, (pki.root_sha256,), suffix="other.example") as emu:
        code, _, err = acm(emu)
        assert code == RefusedError.exit_code
        assert "'amtprov.corp.example'" in err
        assert "'other.example'" in err
        assert emu.state().control_mode is ControlMode.PRE_PROVISIONING


def test_bad_pfx_password_is_one_line(
    tmp_path: Path,
    pki: Pki,
    acm: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEWARDEN_CERT_PASSWORD", "not-the-password")
    with _emulator(tmp_path, (pki.root_sha256,)) as emu:
        code, _, err = acm(emu)
        assert code == BadInputError.exit_code
        assert err.count("\n") == 1
        assert "wrong certificate password" in err
        assert emu.state().control_mode is ControlMode.PRE_PROVISIONING


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5, 6])
def test_admin_setup_errors_from_firmware(
    tmp_path: Path, pki: Pki, acm: Callable[..., Result], value: int
) -> None:
    from mewarden.emulate.hostsetup_state import ForcedReturn

    with _emulator(tmp_path, (pki.root_sha256,)) as emu:
        forced = emu.fleet.devices[0].state.host_setup.forced
        emu.call(lambda: forced.update(AdminSetup=ForcedReturn(value)))
        code, out, err = acm(emu)
        assert code == 9
        assert f"AdminSetup failed with ReturnValue {value}" in err
        assert "nothing was activated" in err
        assert out == ""
        assert emu.state().control_mode is ControlMode.PRE_PROVISIONING
