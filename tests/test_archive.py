"""Layer zips: reproducible, and compressed at the level asked for."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

from mlayer.layerbuild.archive import directory_entries, write_zip


def _tree(root: Path) -> Path:
    rng = random.Random(7)
    words = [f"w{i}" for i in range(400)]
    (root / "pkg").mkdir(parents=True)
    for index in range(3):
        text = " ".join(rng.choice(words) for _ in range(20_000))
        (root / "pkg" / f"m{index}.py").write_text(text)
    return root


def test_same_tree_gives_byte_identical_zips(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    first = write_zip(directory_entries(root), tmp_path / "a.zip")
    for path in root.rglob("*.py"):
        path.touch()  # a new mtime must not change the zip
    second = write_zip(directory_entries(root), tmp_path / "b.zip")
    assert first.sha256 == second.sha256
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_compresslevel_is_applied_to_every_entry(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    fast = write_zip(directory_entries(root), tmp_path / "fast.zip", compresslevel=1)
    best = write_zip(directory_entries(root), tmp_path / "best.zip", compresslevel=9)
    assert best.zipped_bytes < fast.zipped_bytes
    with zipfile.ZipFile(tmp_path / "best.zip") as archive:
        assert archive.testzip() is None
        assert archive.read("pkg/m0.py") == (root / "pkg" / "m0.py").read_bytes()
