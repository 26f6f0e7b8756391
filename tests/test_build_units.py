"""Narrow units of the deps build: wheel tag checks, pins, slimming, budget, manifest."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from mlayer.build.budget import (
    UNZIPPED_LIMIT,
    LayerBudget,
    function_over_limit,
    over_budget_message,
)
from mlayer.build.dists import check_wheel_tags, read_distributions, rewrite_records
from mlayer.build.layer import check_all_pinned
from mlayer.build.manifest import LayerContents
from mlayer.build.slim import slim
from mlayer.errors import BuildError, UsageError
from mlayer.targets import Target, resolve_target


def fake_dist(site: Path, name: str, version: str, tags: list[str], files: list[str]) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\n" + "".join(f"Tag: {t}\n" for t in tags))
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    for file in files:
        (site / file).parent.mkdir(parents=True, exist_ok=True)
        (site / file).write_text("x = 1\n")


def test_record_lists_what_the_layer_holds_and_leaves_linked_copies_alone(
    tmp_path: Path,
) -> None:
    installed, layer = tmp_path / "installed", tmp_path / "layer"
    files = ["pkg/__init__.py", "pkg/gone.py", "pkg/data.css", "pkg/_ext.so"]
    fake_dist(installed, "pkg", "1.0", ["py3-none-any"], files)
    shutil.copytree(installed, layer, copy_function=os.link)  # as the build links them
    (layer / "pkg" / "gone.py").unlink()
    (layer / "pkg" / "__pycache__").mkdir()
    (layer / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"pyc")
    rewrite_records(layer, "cpython-311")
    rows = (layer / "pkg-1.0.dist-info" / "RECORD").read_text().splitlines()
    listed = {row.split(",")[0] for row in rows}
    assert "pkg/gone.py" not in listed
    assert {"pkg/__init__.py", "pkg/__pycache__/__init__.cpython-311.pyc", "pkg/data.css"} <= listed
    # the wheel spec's form: urlsafe base64 sha256 without padding, then the size
    digest = base64.urlsafe_b64encode(hashlib.sha256(b"pyc").digest()).rstrip(b"=").decode()
    assert f"pkg/__pycache__/__init__.cpython-311.pyc,sha256={digest},3" in rows
    assert "pkg/gone.py,," in (installed / "pkg-1.0.dist-info" / "RECORD").read_text()


def test_a_wheel_for_a_newer_glibc_is_refused_naming_the_package(tmp_path: Path) -> None:
    fake_dist(tmp_path, "fine", "1.0", ["py3-none-any"], ["fine/__init__.py"])
    fake_dist(
        tmp_path, "fast", "2.3.0", ["cp311-cp311-manylinux_2_28_x86_64"], ["fast/__init__.py"]
    )
    dists = read_distributions(tmp_path)
    assert [d.top_level for d in dists] == [("fast",), ("fine",)]
    with pytest.raises(BuildError) as refused:
        check_wheel_tags(dists, resolve_target("python3.11", "x86_64"))
    message = str(refused.value)
    assert "fast 2.3.0" in message and "manylinux_2_28_x86_64" in message
    assert "glibc 2.26" in message and "\n" not in message
    # the same wheel loads where glibc is 2.34 (Amazon Linux 2023)
    check_wheel_tags(dists, Target("python3.11", "x86_64", (3, 11), (2, 34)))


def test_a_host_python_wheel_is_refused(tmp_path: Path) -> None:
    fake_dist(tmp_path, "other", "1.0", ["cp312-cp312-manylinux_2_17_x86_64"], ["other.py"])
    with pytest.raises(BuildError, match=r"other 1\.0"):
        check_wheel_tags(read_distributions(tmp_path), resolve_target("python3.11", "x86_64"))


@pytest.mark.parametrize("line", ["numpy>=2", "numpy", "-e ./local", "numpy==2.*"])
def test_no_deps_needs_every_requirement_pinned(tmp_path: Path, line: str) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"scikit-learn==1.7.2\n{line}\n")
    with pytest.raises(UsageError) as refused:
        check_all_pinned(requirements)
    assert repr(line) in str(refused.value) and "--no-deps" in str(refused.value)


def test_pinned_requirements_pass_the_no_deps_check(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# model\nscikit-learn==1.7.2  # trained with\nnumpy==2.2.6\n")
    check_all_pinned(requirements)


def test_slimming_keeps_imported_tests_libs_and_metadata(tmp_path: Path) -> None:
    site = tmp_path / "python"
    pkg = site / "pkg"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "_core" / "tests").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg._core.tests._natype import NA\n")
    (pkg / "_core" / "__init__.py").write_text("")
    (pkg / "_core" / "tests" / "_natype.py").write_text("NA = None\n")
    (pkg / "_core" / "tests" / "test_big.py").write_text("x" * 5000)
    (pkg / "tests" / "test_pkg.py").write_text("y" * 3000)
    (pkg / "api.pyi").write_text("def f() -> int: ...\n")
    (pkg / "include").mkdir()
    (pkg / "include" / "pkg.h").write_text("int f(void);\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"\0" * 100)
    libs = site / "pkg.libs"
    libs.mkdir()
    (libs / "libfoo.so").write_bytes(b"\x7fELF" + b"\0" * 100)
    (libs / "tests").mkdir()
    (libs / "tests" / "keep.h").write_text("kept: *.libs is never touched\n")
    (site / "pkg-1.0.dist-info").mkdir()
    (site / "pkg-1.0.dist-info" / "METADATA").write_text("Name: pkg\n")

    report = slim(site)

    assert (pkg / "_core" / "tests" / "_natype.py").is_file()
    assert not (pkg / "_core" / "tests" / "test_big.py").exists()
    assert not (pkg / "tests").exists()
    assert not (pkg / "api.pyi").exists() and not (pkg / "include").exists()
    assert not (pkg / "__pycache__").exists()
    assert (libs / "libfoo.so").read_bytes().startswith(b"\x7fELF")
    assert (libs / "tests" / "keep.h").is_file()
    assert (site / "pkg-1.0.dist-info" / "METADATA").is_file()
    assert report.kept_tests == ["pkg/_core/tests/_natype.py"]
    assert report.saved_bytes >= 8000
    assert any(line.startswith("tests:") for line in report.lines())


def test_over_budget_names_the_largest_packages() -> None:
    budget = LayerBudget(
        unzipped_bytes=250_000_000, zipped_bytes=80_000_000, reserved_bytes=20_000_000
    )
    assert budget.allowed_bytes == UNZIPPED_LIMIT - 20_000_000
    assert not budget.fits and budget.upload == "s3"
    message = over_budget_message(budget, {"scipy": 120_000_000, "numpy": 60_000_000, "tiny": 1})
    assert "scipy 120.0 MB" in message and "numpy 60.0 MB" in message
    assert "--prune" in message
    assert LayerBudget(100, 52_428_800, 0).upload == "direct"


def test_a_pruned_layer_lacks_modules_its_sample_did_not_use() -> None:
    contents = LayerContents.from_manifest(
        {
            "packages": {
                "scikit-learn": {"top_level": ["sklearn"]},
                "numpy": {"top_level": ["numpy"]},
            },
            "modules": [
                "sklearn",
                "sklearn.linear_model._logistic",
                "numpy",
                "numpy._core.multiarray",
            ],
        }
    )
    assert (
        contents.missing(["sklearn.linear_model._logistic", "numpy._core.multiarray", "copyreg"])
        == []
    )
    assert contents.missing(["sklearn.ensemble._forest", "lightgbm.sklearn"]) == [
        "lightgbm.sklearn",
        "sklearn.ensemble._forest",
    ]
    unpruned = LayerContents.from_manifest(
        {"packages": {"scikit-learn": {"top_level": ["sklearn"]}}, "modules": None}
    )
    assert unpruned.missing(["sklearn.ensemble._forest", "xgboost.core"]) == ["xgboost.core"]


def test_a_function_over_the_unzipped_limit_names_each_part() -> None:
    assert function_over_limit({"deps d:1": 200_000_000, "model m:1": 62_144_000}) is None
    message = function_over_limit({"deps d:1": 200_000_000, "model m:4": 62_144_001})
    assert message is not None
    assert "deps d:1 200.0 MB + model m:4 62.1 MB = 262.1 MB" in message
    assert "--prune" in message
