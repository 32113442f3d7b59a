"""``--bridge-port`` must name a port of a bridge: the bridge itself would never match."""

from __future__ import annotations

from pathlib import Path

import pytest

from mewarden.errors import BadInputError
from mewarden.netblock.apply import check_bridge_port


@pytest.fixture
def sys_net(tmp_path: Path) -> Path:
    (tmp_path / "br0" / "bridge").mkdir(parents=True)
    (tmp_path / "br0" / "brif" / "eth1").mkdir(parents=True)
    (tmp_path / "br0" / "brif" / "eth2").mkdir(parents=True)
    (tmp_path / "eth1" / "brport").mkdir(parents=True)
    (tmp_path / "eth0").mkdir()
    return tmp_path


def test_a_bridge_is_refused_naming_its_ports(sys_net: Path) -> None:
    with pytest.raises(
        BadInputError, match=r"br0 is a bridge; give one of its ports \(its ports: eth1, eth2\)"
    ):
        check_bridge_port("br0", sys_net)


def test_an_interface_in_no_bridge_is_refused(sys_net: Path) -> None:
    with pytest.raises(BadInputError, match="eth0 is not a port of any bridge here"):
        check_bridge_port("eth0", sys_net)


def test_a_port_or_a_not_yet_created_interface_passes(sys_net: Path) -> None:
    check_bridge_port("eth1", sys_net)
    check_bridge_port("veth9", sys_net)


def test_unsafe_names_never_reach_the_filesystem(sys_net: Path) -> None:
    with pytest.raises(BadInputError, match="must be 1-15"):
        check_bridge_port("../br0", sys_net)
