"""Text output for people: nested values as labelled sub-tables, ``-`` for absent, no JSON."""

from __future__ import annotations

import io

from rich.console import Console

from mewarden.cli.output import cell, render_value

REPORT = {
    "identity": {"amt_version": "12.0.67", "digest_realm": "Digest:ABC", "tls": None},
    "provisioning": {"mode": "admin-control", "completed": True},
    "interfaces": [{"name": "wired", "dhcp": False}, {"name": "wireless", "dhcp": True}],
    "macs": ["00:11:22:33:44:55", "66:77:88:99:aa:bb"],
    "lease_epoch": 7,
}


def _text(value: object, **kwargs: object) -> str:
    out = io.StringIO()
    render_value(Console(file=out, width=120, highlight=False), value, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def test_cells_say_dash_yes_no_and_join_lists() -> None:
    assert [cell(None), cell(""), cell([]), cell(True), cell(False), cell(0)] == [
        "-", "-", "-", "yes", "no", "0",
    ]  # fmt: skip
    assert cell(["a", None, 3]) == "a, -, 3"


def test_nested_values_are_labelled_rows_not_json() -> None:
    text = _text(REPORT, title="device")
    for fragment in ("amt version", "12.0.67", "digest realm", "admin-control", "wireless"):
        assert fragment in text
    for leak in ("{", "}", '"', "None", "True", "False"):
        assert leak not in text
    assert "00:11:22:33:44:55, 66:77:88:99:aa:bb" in text


def test_hidden_internals_stay_out_of_text() -> None:
    assert "lease epoch" in _text(REPORT)
    assert "lease epoch" not in _text(REPORT, hidden=("lease_epoch",))


def test_an_empty_list_says_none() -> None:
    assert _text([], title="documents").strip() == "documents: none"
