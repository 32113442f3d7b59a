"""``firmware inspect`` over several images and directories (JSON lines, summary, workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mewarden.cli.firmware_collection import expand, inspect_files, workers_for
from mewarden.firmware.inspect import inspect_image
from mewarden.firmware.synth import SynthSpec, build_image
from mewarden.jsonutil import to_jsonable
from tests.support import fixtures_dir, require_fixture


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        env={**os.environ, "COLUMNS": "250"},  # room for whole paths in the summary table
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic images (one nested), a text file and a truncated image."""
    root = tmp_path_factory.mktemp("images")
    (root / "a.bin").write_bytes(build_image(SynthSpec()))
    (root / "nested").mkdir()
    (root / "nested" / "b.bin").write_bytes(build_image(SynthSpec(alt_me_disable=True)))
    (root / "notes.txt").write_text("not firmware\n")
    (root / "short.bin").write_bytes(b"\x00" * 16)
    return root


def test_json_lines_gives_one_line_per_file_in_order(collection: Path) -> None:
    missing = collection / "gone.bin"
    result = run("firmware", "inspect", "--json-lines", str(collection), str(missing))
    assert result.returncode == 2  # some rows are errors; every file still got its row
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    names = [Path(row["path"]).relative_to(collection).as_posix() for row in rows]
    assert names == ["a.bin", "nested/b.bin", "notes.txt", "short.bin", "gone.bin"]
    assert [("error" in row) for row in rows] == [False, False, True, True, True]
    assert "does not exist" in rows[-1]["error"]
    assert "3 of 5 files could not be inspected" in result.stderr
    strap = rows[1]["descriptor"]["me_disable"]
    assert (strap["name"], strap["set"]) == ("AltMeDisable", True)


def test_each_line_is_the_single_image_document(collection: Path) -> None:
    single = run("firmware", "inspect", "--json", str(collection / "a.bin"))
    assert single.returncode == 0, single.stderr
    lines = run("firmware", "inspect", "--json-lines", str(collection / "a.bin"))
    assert lines.returncode == 0, lines.stderr
    (row,) = [json.loads(line) for line in lines.stdout.splitlines()]
    assert row.pop("path") == str(collection / "a.bin")
    assert row == json.loads(single.stdout)


def test_summary_table_has_a_row_per_file(collection: Path) -> None:
    result = run("firmware", "inspect", str(collection / "a.bin"), str(collection / "notes.txt"))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    (image_row,) = [line for line in lines if "a.bin" in line]
    assert "8.1.99.4242" in image_row
    assert "stock" in image_row
    (error_row,) = [line for line in lines if "notes.txt" in line]
    assert "error" in error_row


def test_json_and_json_lines_exclude_each_other(collection: Path) -> None:
    result = run("firmware", "inspect", "--json", "--json-lines", str(collection))
    assert result.returncode == 2
    assert "exclude each other" in result.stderr


def test_worker_threads_give_the_same_rows_in_the_same_order(tmp_path: Path) -> None:
    images = [build_image(SynthSpec()), build_image(SynthSpec(neutralized=True))]
    for i in range(20):
        (tmp_path / f"{i:03d}.bin").write_bytes(images[i % 2])
    (tmp_path / "junk.txt").write_text("junk")
    files = expand([tmp_path])
    assert workers_for(len(files), 2) == 2
    serial = list(inspect_files(files, verify_modules=False, jobs=1))
    pooled = list(inspect_files(files, verify_modules=False, jobs=2))
    assert pooled == serial
    assert [row["path"] for row in serial] == [str(f) for f in files]
    assert {row["me"]["state"] for row in serial if "me" in row} == {"stock", "neutralized"}
    assert "error" in serial[-1]


def test_workers_only_when_there_is_enough_work() -> None:
    assert workers_for(7, 4) == 1
    assert workers_for(1000, 1) == 1
    assert workers_for(1000, 4) == 4
    assert workers_for(16, 8) == 4


def test_fixture_directory_rows_match_the_parser() -> None:
    require_fixture("coreboot-blobs/google_link_me.bin")
    root = fixtures_dir()
    result = run("firmware", "inspect", "--json-lines", str(root))
    files = expand([root])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["path"] for row in rows] == [str(f) for f in files]
    for row, path in zip(rows, files, strict=True):
        if "error" in row:
            assert path.suffix in {".md"} or path.stat().st_size < 0x1000, row
            continue
        row.pop("path")
        assert row == to_jsonable(inspect_image(path.read_bytes()))
