"""Bulk-import file parsing: CSV and JSON, validated before anything is written."""

from __future__ import annotations

import json

import pytest

from mewarden.errors import BadInputError
from mewarden.state.importing import parse_import
from mewarden.state.models import Policy


def test_csv_rows() -> None:
    raw = (
        b"name,amt_host,amt_port,tls,username,group,policy,macs,agent\n"
        b"a,10.0.0.1,16993,yes,admin,lab,use,aa:bb:cc:dd:ee:01;aa:bb:cc:dd:ee:02,10.0.1.1:9100\n"
        b"b,,,,,,,,\n"
    )
    a, b = parse_import(raw, source="x.csv")
    assert (a.name, a.amt_host, a.amt_port, a.amt_tls, a.group, a.policy) == (
        "a",
        "10.0.0.1",
        16993,
        True,
        "lab",
        Policy.USE,
    )
    assert a.macs == ("aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02")
    assert (b.name, b.amt_host, b.amt_tls, b.policy, b.macs) == ("b", None, False, None, ())


def test_json_rows() -> None:
    raw = json.dumps(
        [{"name": "a", "tls": True, "macs": ["aa:bb:cc:dd:ee:01"], "policy": "Ignore"}]
    )
    [a] = parse_import(raw.encode(), source="x.json")
    assert (a.amt_tls, a.macs, a.policy) == (True, ("aa:bb:cc:dd:ee:01",), Policy.IGNORE)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"name,policy\na,sometimes\n", "unknown policy"),
        (b"name,colour\na,red\n", "unknown column"),
        (b"name\na\na\n", "appears twice"),
        (b"name,amt_port\na,99999\n", "out of range"),
        (b"name,tls\na,perhaps\n", "tls must be"),
        (b"name\n\xff\n", "not UTF-8"),
        (b"[1, 2]", "array of objects"),
        (b"[{", "not valid JSON"),
        (b"policy\nuse\n", "needs a name"),
    ],
)
def test_bad_files(raw: bytes, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_import(raw, source="f")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"name": "a", "amt_port": True}, "not an integer"),
        ({"name": "a", "amt_port": 16992.5}, "not an integer"),
        ({"name": "a", "amt_port": "169x"}, "not an integer"),
        ({"name": "a", "macs": ["not-a-mac"]}, "not a MAC address"),
        ({"name": "a" * 129}, "at most 128"),
        ({"name": "a\u0000b"}, "control character"),
        ({"name": "a", "amt_host": "h" * 256}, "at most 255"),
        ({"name": "a", "group": "g\u0000"}, "control character"),
    ],
)
def test_bad_json_values(row: dict[str, object], message: str) -> None:
    with pytest.raises(BadInputError, match=f"item 1: .*{message}"):
        parse_import(json.dumps([row]).encode(), source="f")


def test_csv_port_and_extra_fields() -> None:
    [a] = parse_import(b"name,amt_port\na, 16993 \n", source="f")
    assert a.amt_port == 16993
    with pytest.raises(BadInputError, match="unknown column"):
        parse_import(b"name\na,extra\n", source="f")
