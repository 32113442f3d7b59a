"""The MEI client talks to the ``meiN`` bound to the HECI function, and the PCI ID table."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import mewarden.host.probe as probe_module
from mewarden.errors import MeiError
from mewarden.host.hfsts import MeFamily
from mewarden.host.mei import ClientProperties, IoctlTransport
from mewarden.host.pci import heci_platform
from mewarden.host.probe import default_transport_factory, heci_mei_device, probe
from mewarden.host.sysfs import HostTree, open_tree


class Refusing:
    """Stands in for /dev/meiN: records which node was opened, then fails like ENOENT."""

    opened: list[str] = []  # noqa: RUF012 - shared on purpose, reset per test

    def __init__(self, device: str) -> None:
        self.device = device

    def connect(self, client: uuid.UUID) -> ClientProperties:
        Refusing.opened.append(self.device)
        raise MeiError(f"cannot open {self.device}", errno_name="ENOENT")

    def exchange(self, request: bytes) -> bytes:
        raise AssertionError("never connected")

    def close(self) -> None:
        pass


@pytest.fixture
def live_mei1_tree(copy_tree: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> HostTree:
    """The Z790 tree as a live system whose HECI1 is bound to mei1 (mei0 exists too)."""
    root = copy_tree("csme16-z790-running")
    manifest = root / "mewarden-record.json"
    doc = json.loads(manifest.read_text())
    doc.pop("mei")  # no recorded sessions: the live transport is used
    manifest.write_text(json.dumps(doc))
    (root / "sys/class/mei/mei0").rename(root / "sys/class/mei/mei1")
    (root / "dev").mkdir(exist_ok=True)
    (root / "dev/mei0").touch()
    (root / "dev/mei1").touch()
    monkeypatch.setattr(HostTree, "is_live", property(lambda self: True))
    monkeypatch.setattr(probe_module, "IoctlTransport", Refusing)
    Refusing.opened = []
    return open_tree(root)


def test_probe_opens_the_mei_node_of_the_heci_function(live_mei1_tree: HostTree) -> None:
    assert heci_mei_device(live_mei1_tree) == "mei1"
    report = probe(live_mei1_tree)
    assert Refusing.opened
    assert all(d.endswith("/dev/mei1") for d in Refusing.opened), Refusing.opened
    assert report.heci is not None
    assert report.heci.mei_device == "mei1"


def test_no_bound_device_means_no_live_transport(live_mei1_tree: HostTree) -> None:
    assert default_transport_factory(live_mei1_tree, None) is None
    assert default_transport_factory(live_mei1_tree, "mei7") is None  # no /dev/mei7


def test_ioctl_transport_names_its_device() -> None:
    assert IoctlTransport("/dev/mei1").device == "/dev/mei1"


@pytest.mark.parametrize(
    ("device_id", "platform", "family"),
    [
        (0xA1BA, "Lewisburg", MeFamily.CSME11),
        (0x5A9A, "Apollo Lake / Broxton / Gemini Lake", MeFamily.TXE),
        (0x1A9A, "Apollo Lake / Broxton / Gemini Lake", MeFamily.TXE),
        (0x319A, "Apollo Lake / Broxton / Gemini Lake", MeFamily.TXE),
    ],
)
def test_reference_heci_ids_are_known(device_id: int, platform: str, family: MeFamily) -> None:
    found = heci_platform(device_id)
    assert found is not None
    assert (found.platform, found.family, found.hfsts_count) == (platform, family, 6)
