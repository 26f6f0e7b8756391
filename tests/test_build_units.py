"""Narrow units of the deps build: wheel tag checks, pins, slimming, budget, manifest."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from mlayer.errors import BuildError, UsageError
from mlayer.layerbuild.budget import (
    UNZIPPED_LIMIT,
    LayerBudget,
    function_over_limit,
    over_budget_message,
)
from mlayer.layerbuild.dists import check_wheel_tags, read_distributions, rewrite_records
from mlayer.layerbuild.docker import pip_cache_dir
from mlayer.layerbuild.layer import BuildOptions, build_deps_layer
from mlayer.layerbuild.manifest import LayerContents
from mlayer.layerbuild.requirements import (
    check_all_pinned,
    logical_lines,
    pinned_versions,
    read_requirements,
)
from mlayer.layerbuild.slim import slim
from mlayer.layerbuild.verify import PROBE
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


# --- requirements files as pip reads them -------------------------------------------

HASHED = """\
#
# This file is autogenerated by pip-compile with Python 3.11
#    pip-compile --generate-hashes requirements.in
#
--index-url https://pypi.org/simple
-c constraints.txt

joblib==1.5.2 \\
    --hash=sha256:4e1f0bdbb987e6d843c70cf43714cb276623def372df3c22fe5266b2670bc241 \\
    --hash=sha256:3faa5c39054b2f03ca547da9b2f52fde67c06240c31853f306aea97f13647b55
    # via scikit-learn
numpy==2.2.6 --hash=sha256:b412caa66f72040e6d268491a59f2c43bf03eb6c96dd8f0307829feb7fa2b6fb
scikit-learn==1.7.2 ; python_version >= "3.9" \\
    --hash=sha256:fa8f63940e29c82d1e67a45d5297bdebbcb585f5a5a50c4914cc2e852ab77f33
threadpoolctl==3.6.0; sys_platform == "linux"  # trailing comment
-r more.txt
"""


def hashed_requirements(tmp_path: Path) -> Path:
    (tmp_path / "constraints.txt").write_text("scipy==1.16.3\n")
    (tmp_path / "more.txt").write_text("scipy==1.16.3 --hash=sha256:abc\n")
    path = tmp_path / "requirements.txt"
    path.write_text(HASHED)
    return path


def test_pinned_versions_read_a_pip_compile_generate_hashes_file(tmp_path: Path) -> None:
    assert pinned_versions(hashed_requirements(tmp_path)) == {
        "joblib": "1.5.2",
        "numpy": "2.2.6",
        "scikit-learn": "1.7.2",
        "threadpoolctl": "3.6.0",
        "scipy": "1.16.3",  # from -r more.txt
    }
    check_all_pinned(hashed_requirements(tmp_path))  # options are no requirement


def test_pip_syntax_is_joined_and_stripped_as_pip_does() -> None:
    assert logical_lines("a==1 \\\n  --hash=sha256:x \\\n  --hash=sha256:y\n# c\nb  # d\n") == [
        "a==1   --hash=sha256:x   --hash=sha256:y",
        "b",
    ]


def test_requirements_name_their_files_and_local_projects(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    read = read_requirements(hashed_requirements(tmp_path))
    assert read.files == [tmp_path / "constraints.txt", tmp_path / "more.txt"]
    (tmp_path / "local.txt").write_text("-e ./project\n./project\nbad requirement!\n")
    with pytest.raises(UsageError, match=r"cannot parse 'bad requirement!'"):
        read_requirements(tmp_path / "local.txt")
    (tmp_path / "local.txt").write_text("-e ./project\n--find-links ./project\n")
    assert read_requirements(tmp_path / "local.txt").local_paths == [tmp_path / "project"]
    (tmp_path / "missing.txt").write_text("-c nope.txt\n")
    with pytest.raises(UsageError, match=r"nope\.txt, which does not exist"):
        read_requirements(tmp_path / "missing.txt")


# --- what the Docker builder's containers see --------------------------------------


class FakeContainer:
    def __init__(self, output: bytes) -> None:
        self.output = output

    def logs(self, **_: object) -> list[bytes]:
        return [self.output]

    def wait(self) -> dict[str, int]:
        return {"StatusCode": 0}

    def remove(self, **_: object) -> None:
        pass


class FakeDocker:
    """Records each container's spec; answers as an image with Lambda's Python would,
    and as a pip that installed nothing."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []
        self.images = self
        self.containers = self

    def ping(self) -> bool:
        return True

    def get(self, image: str) -> object:
        return object()

    def run(self, image: str, command: list[str], **spec: Any) -> FakeContainer:
        self.specs.append({"command": command, **spec})
        found = b"/usr/bin/python3.11 3.11 x86_64 glibc 2.26\n"
        return FakeContainer(found if command[0] == "/bin/sh" else b"")


@pytest.fixture
def fake_docker(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> FakeDocker:
    import docker

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)  # no CA bundle to mount
    fake = FakeDocker()
    monkeypatch.setattr(docker, "from_env", lambda **_: fake)
    return fake


def docker_build(project: Path, out: Path) -> None:
    (project / "requirements.txt").write_text("-c constraints.txt\nnumpy==2.2.6\n")
    (project / "constraints.txt").write_text("numpy==2.2.6\n")
    options = BuildOptions(
        project / "requirements.txt",
        resolve_target("python3.11", "x86_64"),
        out,
        builder="docker",
        image="public.ecr.aws/sam/build-python3.11",
    )
    with pytest.raises(BuildError, match="installed nothing"):
        build_deps_layer(options)


def test_docker_builder_mounts_only_the_requirements_the_build_dir_and_the_cache(
    project: Path, fake_docker: FakeDocker
) -> None:
    (project / ".netrc").write_text("machine example.com password secret\n")
    (project / ".aws").mkdir()
    (project / ".aws" / "credentials").write_text("[default]\naws_secret_access_key=x\n")
    docker_build(project, project / "build")
    install = next(s for s in fake_docker.specs if "pip" in s["command"])
    volumes = install["volumes"]
    binds = {v["bind"]: v["mode"] for v in volumes.values()}
    work = [b for b in binds if Path(b).name.startswith(".mlayer-build-")]
    assert len(work) == 1 and binds[work[0]] == "rw"
    assert Path(work[0]).parent == (project / "build").resolve()
    assert binds[str((project / "requirements.txt").resolve())] == "ro"
    assert binds[str((project / "constraints.txt").resolve())] == "ro"
    assert binds[str(PROBE.parent)] == "ro" and binds[str(pip_cache_dir())] == "rw"
    assert len(binds) == 5, binds
    for secret in (project / ".netrc", project / ".aws" / "credentials"):
        assert not any(secret.resolve().is_relative_to(b) for b in binds), (secret, binds)


def test_build_deps_out_dot_leaves_the_users_files(project: Path, fake_docker: FakeDocker) -> None:
    (project / "deps").mkdir()
    (project / "deps" / "precious.txt").write_text("mine")
    (project / "deps-unslimmed").mkdir()
    docker_build(project, project)
    assert (project / "deps" / "precious.txt").read_text() == "mine"
    assert (project / "deps-unslimmed").is_dir()
    assert sorted(p.name for p in project.iterdir()) == [
        "constraints.txt",
        "deps",
        "deps-unslimmed",
        "requirements.txt",
    ]  # the failed build left nothing behind either
