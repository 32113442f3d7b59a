"""``mewarden firmware inspect`` and ``mewarden demo`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mewarden.firmware.synth import SynthSpec, build_image
from tests.support import require_fixture


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_inspect_json(tmp_path: Path) -> None:
    image = tmp_path / "synth.bin"
    image.write_bytes(build_image(SynthSpec()))
    result = run("firmware", "inspect", "--json", str(image))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema_version"] == 1
    assert document["kind"] == "full-image"
    assert document["me"]["state"] == "stock"


def test_inspect_text_fixture() -> None:
    path = require_fixture("coreboot-blobs/google_link_me.bin")
    result = run("firmware", "inspect", str(path))
    assert result.returncode == 0, result.stderr
    assert "8.0.20.1513" in result.stdout


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "empty": b"",
        "random": bytes(range(256)) * 64,
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" * 20,
        "truncated": build_image(SynthSpec())[:0x1010],
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    paths["missing"] = tmp_path / "does-not-exist"
    paths["directory"] = tmp_path
    return paths


@pytest.mark.parametrize("case", ["empty", "random", "pdf", "truncated", "missing", "directory"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    result = run("firmware", "inspect", str(_bad_inputs(tmp_path)[case]))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # a directory is inspected file by file: each bad file is a row, the run ends with a tally
    expected = "mewarden: 4 of 4 files" if case == "directory" else "mewarden: error:"
    assert result.stderr.startswith(expected)


def test_demo_runs() -> None:
    result = run("demo", "--json")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert reports["stock.bin"]["me"]["state"] == "stock"
    assert reports["neutralized.bin"]["me"]["state"] == "neutralized"


def test_inspect_verify_modules(tmp_path: Path) -> None:
    image = tmp_path / "tampered.bin"
    image.write_bytes(build_image(SynthSpec(tampered_module="KERNEL")))
    plain = json.loads(run("firmware", "inspect", "--json", str(image)).stdout)
    assert plain["modules_verified"] is None
    result = run("firmware", "inspect", "--json", "--verify-modules", str(image))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["modules_verified"] is False
    assert document["me"]["state"] == "corrupt"


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_inspect_of_an_erased_me_region_exits_0(tmp_path: Path, as_json: bool) -> None:
    from tests.firmware.neutralize_helpers import compose

    image = tmp_path / "erased-me.bin"
    image.write_bytes(compose("coreboot-blobs/google_link_descriptor.bin"))
    result = run("firmware", "inspect", *(["--json"] if as_json else []), str(image))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if as_json:
        document = json.loads(result.stdout)
        assert document["me"] is None
        assert document["descriptor"]["me_disable"]["set"] is False
        assert any("erased" in w for w in document["warnings"])
    else:
        assert "erased" in result.stdout


@pytest.mark.parametrize("cpd", [False, True], ids=["mme", "cpd"])
def test_inspect_text_tallies_module_hashes(tmp_path: Path, cpd: bool) -> None:
    image = tmp_path / "tampered.bin"
    tampered = "kernel" if cpd else "KERNEL"  # CPD module names are lower case
    image.write_bytes(build_image(SynthSpec(tampered_module=tampered, cpd=cpd)))
    plain = run("firmware", "inspect", str(image))
    assert plain.returncode == 0, plain.stderr
    assert "Module hashes:" not in plain.stdout  # nothing was checked
    checked = run("firmware", "inspect", "--verify-modules", str(image))
    assert checked.returncode == 0, checked.stderr
    document = json.loads(
        run("firmware", "inspect", "--json", "--verify-modules", str(image)).stdout
    )
    modules = document["me"]["modules"] + document["me"].get("other_modules", [])
    bad = [f"{m.get('partition', 'FTPR')}/{m['name']}" for m in modules if m["hash_valid"] is False]
    good = sum(1 for m in modules if m["hash_valid"] is True)
    assert bad, "the tampered module must be reported"
    line = next(x for x in checked.stdout.splitlines() if x.startswith("Module hashes:"))
    assert line.startswith(f"Module hashes: {good} match, {len(bad)} MISMATCH")
    assert all(name in checked.stdout for name in bad)
    assert "Modules (FTPR):" in checked.stdout
