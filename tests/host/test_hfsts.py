"""HFSTS decoding against the register values and decodes quoted in the reference.

Expected field values come from the reference's own decodes (``live-me-and-network.md`` A2.1:
MEInfo/intelmetool output quoted in me_cleaner issues, fwupd's test fixtures), not from this code.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mewarden.errors import HostDataError
from mewarden.host import hfsts
from mewarden.host.hfsts import (
    ErrorCode,
    FirmwareSku,
    MeFamily,
    OperationMode,
    OperationState,
    WorkingState,
)


@pytest.mark.parametrize(
    ("value", "cws", "cos", "init_complete", "error", "com"),
    [
        # ME 8 with AltMeDisable, MEInfo: Init / Bring Up / Initializing / No Error / Alt Disable
        (0x1C020181, WorkingState.INITIALIZING, OperationState.BRING_UP, False, 0, 2),
        # me_cleaner-processed ME 7 (X220), intelmetool: Initializing / Bring up / Debug
        (0x00020191, WorkingState.INITIALIZING, OperationState.BRING_UP, False, 0, 2),
        # ME 9 after me_cleaner -S: same decode
        (0x1E020191, WorkingState.INITIALIZING, OperationState.BRING_UP, False, 0, 2),
        # CSME 16 ADL-P HAP: CWS=4 (Disabled), COS=1, init-complete=0, error=2, COM=2
        (0x80022054, WorkingState.DISABLED, OperationState.M0_WITH_UMA, False, 2, 2),
        # ME 7 normal: CWS 5, COS 1, init-complete 1
        (0x1E000255, WorkingState.NORMAL, OperationState.M0_WITH_UMA, True, 0, 0),
        # CSME 16 Z790, TGL-LP (chipsec), CSME 20 Lunar Lake: normal, working
        (0x90000245, WorkingState.NORMAL, OperationState.M0_WITH_UMA, True, 0, 0),
        (0xA0000245, WorkingState.NORMAL, OperationState.M0_WITH_UMA, True, 0, 0),
        (0xA4000255, WorkingState.NORMAL, OperationState.M0_WITH_UMA, True, 0, 0),
    ],
)
def test_hfsts1_matches_the_reference_decodes(
    value: int,
    cws: WorkingState,
    cos: OperationState,
    init_complete: bool,
    error: int,
    com: int,
) -> None:
    decoded = hfsts.decode_hfsts1(value)
    assert decoded.working_state == cws
    assert decoded.operation_state == cos
    assert decoded.init_complete is init_complete
    assert decoded.error_code == error
    assert decoded.operation_mode == com


def test_bit4_is_manufacturing_mode_before_csme16_and_spi_protection_after() -> None:
    me7 = hfsts.decode((0x1E000255,), MeFamily.ME)  # bit 4 set per the reference decode
    assert me7.manufacturing_mode is True
    assert me7.spi_unprotected is None
    z790 = hfsts.decode((0x90000245, 0, 0x20, 0, 0, 0x40200002), MeFamily.CSME16)
    assert z790.manufacturing_mode is None
    assert z790.spi_unprotected is False


def test_hfsts3_sku_consumer_on_z790_and_adlp() -> None:
    # HFSTS3 0x20 is "Consumer SKU" in the reference's ADL-P decode
    assert hfsts.decode((0x80022054, 0x30284106, 0x20), MeFamily.CSME16).sku == FirmwareSku.CONSUMER
    corporate = hfsts.decode((0x90000245, 0, 0x30), MeFamily.CSME11)
    assert corporate.sku == FirmwareSku.CORPORATE
    assert hfsts.decode((0x1E000255, 0x30), MeFamily.ME).sku is None  # no SKU field on ME 6-10


def test_boot_guard_fields_agree_with_fwupd_hsi_for_adlp_hap() -> None:
    # fwupd's expected HSI for this machine: Enabled, Verified, ACM, Policy, OTP all valid
    regs = (0x80022054, 0x30284106, 0x20, 0x6000, 0x1F03, 0xC46003CF)
    bg = hfsts.decode(regs, MeFamily.CSME16).boot_guard
    assert bg is not None
    assert bg.register == "hfsts6"
    assert bg.disabled is False
    assert bg.verified_boot is True
    assert bg.force_acm is True
    assert bg.enforcement_policy in (2, 3)
    assert bg.fpf_soc_lock is True


def test_boot_guard_fields_agree_with_fwupd_hsi_for_z790() -> None:
    # fwupd: Enabled enabled, ACM not-valid, Policy not-valid, Verified not-valid, OTP valid
    bg = hfsts.decode((0x90000245, 0, 0x20, 0x4000, 0, 0x40200002), MeFamily.CSME16).boot_guard
    assert bg is not None
    assert bg.disabled is False
    assert bg.force_acm is False
    assert bg.verified_boot is False
    assert bg.enforcement_policy not in (2, 3)
    assert bg.fpf_soc_lock is True


def test_boot_guard_moved_to_hfsts5_on_csme18() -> None:
    regs = (0xA4000255, 0x80218500, 0x30, 0x4, 0x02F61F03, 0x0)
    bg = hfsts.decode(regs, MeFamily.CSME18).boot_guard
    assert bg is not None
    assert bg.register == "hfsts5"
    assert (bg.valid, bg.acm_active, bg.acm_done) == (True, True, True)
    assert bg.fpf_soc_lock is False  # fwupd: Otp not-valid (HFSTS6 bit 30 clear)


def test_no_boot_guard_register_for_old_families_or_short_sets() -> None:
    assert hfsts.decode((0x1E000255, 0), MeFamily.ME).boot_guard is None
    assert hfsts.decode((0x90000245,), MeFamily.CSME16).boot_guard is None


@pytest.mark.parametrize(
    ("major", "family"),
    [
        (3, MeFamily.TXE),
        (7, MeFamily.ME),
        (10, MeFamily.ME),
        (11, MeFamily.CSME11),
        (15, MeFamily.CSME11),
        (16, MeFamily.CSME16),
        (17, MeFamily.CSME16),
        (18, MeFamily.CSME18),
        (20, MeFamily.CSME18),
        (0, MeFamily.UNKNOWN),
    ],
)
def test_family_from_major_version(major: int, family: MeFamily) -> None:
    assert hfsts.family_for_major(major) is family


def test_fw_status_kernel_format_round_trips() -> None:
    text = "90000245\n00F10506\n00000020\n00004400\n00000000\n40200002\n"
    values = hfsts.parse_fw_status(text)
    assert values[0] == 0x90000245
    assert values[5] == 0x40200002
    assert hfsts.format_fw_status(values) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "zzzzzzzz\n",
        "9000024\n",
        "0x900002\n",
        "90000245 \n",
        "1\n2\n3\n4\n5\n6\n7\n",
        "90000245\n" * 7,
        "\x00\x00\x00\x00",
    ],
)
def test_garbage_fw_status_is_a_host_data_error(text: str) -> None:
    with pytest.raises(HostDataError):
        hfsts.parse_fw_status(text)


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_every_hfsts1_value_decodes(value: int) -> None:
    decoded = hfsts.decode_hfsts1(value)
    assert int(decoded.working_state) == value & 0xF
    assert int(decoded.operation_mode) == (value >> 16) & 0xF
    assert int(decoded.error_code) == (value >> 12) & 0xF


@given(st.text(max_size=80))
def test_parse_fw_status_never_raises_anything_but_host_data_error(text: str) -> None:
    try:
        values = hfsts.parse_fw_status(text)
    except HostDataError:
        return
    assert 1 <= len(values) <= 6


def test_enum_names_for_known_values() -> None:
    assert OperationMode(3) is OperationMode.SOFT_TEMPORARY_DISABLE
    assert ErrorCode(2) is ErrorCode.DISABLED
