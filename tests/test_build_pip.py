"""build-deps with the pip builder, for real: pip against the package index, the
layer run in a separate isolated interpreter. Marked slow (they still run in CI)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import pytest
from conftest import EXAMPLES, one_line_error, run, run_json
from sklearn.ensemble import RandomForestClassifier

pytestmark = pytest.mark.slow

NUMPY = "numpy==2.2.6\n"
_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_|manylinux(2014|2010|1)_")
_LEGACY = {"2014": (2, 17), "2010": (2, 12), "1": (2, 5)}


def layer_site(out: Path) -> Path:
    """The layer's python/ directory, unzipped from the build's zip (a build keeps no
    tree in --out: only the zip and its manifest)."""
    unzipped = out.parent / f"{out.name}-unzipped"
    if not unzipped.is_dir():
        with zipfile.ZipFile(out / "deps-layer.zip") as archive:
            archive.extractall(unzipped)
    return unzipped / "python"


def wheel_tags(site: Path) -> dict[str, list[str]]:
    return {
        info.name: [
            line.split(":", 1)[1].strip()
            for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")
        ]
        for info in site.glob("*.dist-info")
    }


def glibc_of(tag: str) -> tuple[int, int] | None:
    found = _MANYLINUX.search(tag)
    if not found:
        return None
    if found.group(3):
        return _LEGACY[found.group(3)]
    return int(found.group(1)), int(found.group(2))


def isolated(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with only ``site`` on the path, as Lambda would."""
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            f"import sys; sys.path.insert(0, {str(site)!r})\n{code}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


# Run in the layer's interpreter: what importlib.metadata says a distribution holds.
RECORD_AUDIT = """
import base64, hashlib, importlib.metadata as metadata, json
files = metadata.files({name!r})
def stale(f):
    path = f.locate()
    if not path.is_file():
        return True
    digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest())
    return f.hash is not None and f.hash.value != digest.rstrip(b"=").decode()
names = {{str(f) for f in files}}
print(json.dumps([len(files), [str(f) for f in files if stale(f)][:5], {wanted!r} in names]))
"""


def audit_record(site: Path, name: str, wanted: str) -> None:
    """Every file the RECORD of ``name`` lists is in the layer with that hash, ``wanted`` too."""
    done = isolated(site, RECORD_AUDIT.format(name=name, wanted=wanted))
    assert done.returncode == 0, done.stderr
    count, stale, listed = json.loads(done.stdout)
    assert stale == [], f"RECORD of {name} lists files the layer lacks or changed: {stale}"
    assert listed, f"RECORD of {name} does not list {wanted}"
    assert count > 10


def extract(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
    return dest / "python"


@pytest.fixture(scope="session")
def example_build(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """The example's requirements built with the pip builder for python3.11/x86_64."""
    out = tmp_path_factory.mktemp("example-build")
    result = run_json(
        "build-deps",
        "-r",
        str(EXAMPLES / "requirements.txt"),
        "--builder",
        "pip",
        "--out",
        str(out),
    )
    return {"out": out, "result": result}


def test_example_layer_imports_scikit_learn_in_a_separate_interpreter(
    example_build: dict,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    site = extract(Path(example_build["result"]["zip"]), tmp_path)
    done = isolated(
        site,
        "import sklearn, numpy, scipy.sparse, joblib\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "print(sklearn.__version__, numpy.__version__, sklearn.__file__)",
    )
    assert done.returncode == 0, done.stderr
    version, numpy_version, location = done.stdout.split()
    assert (version, numpy_version) == ("1.7.2", "2.2.6")
    assert location.startswith(str(site))


def test_python311_layer_has_no_wheel_above_glibc_2_26(example_build: dict) -> None:  # type: ignore[type-arg]
    tags = wheel_tags(layer_site(Path(example_build["out"])))
    assert {"numpy-2.2.6.dist-info", "scikit_learn-1.7.2.dist-info"} <= set(tags)
    for dist_info, listed in tags.items():
        for tag in listed:
            glibc = glibc_of(tag)
            assert glibc is None or glibc <= (2, 26), f"{dist_info}: {tag}"
            assert tag.startswith(("cp311-", "py3-", "py2.py3-")), f"{dist_info}: {tag}"


def test_manifest_records_installed_versions_tags_and_sizes(example_build: dict) -> None:  # type: ignore[type-arg]
    out, result = Path(example_build["out"]), example_build["result"]
    manifest = json.loads((out / "deps-build.json").read_text())
    assert manifest["sha256"] == result["sha256"]
    assert manifest["runtime"] == "python3.11" and manifest["arch"] == "x86_64"
    assert manifest["packages"]["scikit-learn"]["version"] == "1.7.2"
    assert manifest["packages"]["threadpoolctl"]["version"] == "3.6.0"  # a dependency, unpinned
    assert "cp311-cp311-manylinux_2_17_x86_64" in manifest["packages"]["numpy"]["tags"]
    assert manifest["sizes"]["unzipped"] == result["unzipped_bytes"]
    assert manifest["sizes"]["installed"] > manifest["sizes"]["unzipped"] - 60_000_000
    assert manifest["upload"] == ("direct" if result["zipped_bytes"] <= 50 * 1024 * 1024 else "s3")
    assert result["versions"]["scipy"] == "1.16.3"
    assert next(iter(result["package_bytes"])) == "scipy"  # the biggest package comes first


def test_example_layer_is_slim_and_compiled_unchecked(example_build: dict) -> None:  # type: ignore[type-arg]
    site = layer_site(Path(example_build["out"]))
    assert not list(site.rglob("*.pyi")) and not list(site.rglob("*.pyx"))
    assert not (site / "sklearn" / "tests").exists()
    assert (site / "numpy" / "_core" / "tests" / "_natype.py").is_file()  # numpy.testing needs it
    assert not (site / "bin").exists()
    pycs = list(site.rglob("*.cpython-311.pyc"))
    assert len(pycs) > 500
    for pyc in pycs[:50]:
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{pyc} is not an unchecked-hash pyc (flags {flags})"
    # the interpreter really uses them: importing numpy compiles nothing new
    done = isolated(site, "import numpy.testing, sklearn.linear_model; print('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    audit_record(site, "scikit-learn", "sklearn/__pycache__/__init__.cpython-311.pyc")


def test_reproducible_zip_and_cache_reuse(project: Path) -> None:
    (project / "requirements.txt").write_text(NUMPY)
    first = run_json("build-deps", "-r", "requirements.txt", "--builder", "pip", "--out", "a")
    assert first["cached"] is False
    again = run("build-deps", "-r", "requirements.txt", "--builder", "pip", "--out", "a", "--json")
    assert again.exit_code == 0
    assert "reusing" in again.stderr and "installing" not in again.stderr
    assert json.loads(again.stdout)["cached"] is True
    assert json.loads(again.stdout)["sha256"] == first["sha256"]
    other = run_json("build-deps", "-r", "requirements.txt", "--builder", "pip", "--out", "b")
    assert other["cached"] is False
    assert Path("a/deps-layer.zip").read_bytes() == Path("b/deps-layer.zip").read_bytes()
    # a changed option is not a cache hit
    changed = run(
        "build-deps", "-r", "requirements.txt", "--builder", "pip", "--out", "a", "--no-slim"
    )
    assert changed.exit_code == 0 and "reusing" not in changed.stderr


def test_no_slim_keeps_tests_and_numpy_imports_after_slimming(project: Path) -> None:
    (project / "requirements.txt").write_text(NUMPY)
    full = run_json(
        "build-deps", "-r", "requirements.txt", "--builder", "pip", "--out", "full", "--no-slim"
    )
    slim = run_json("build-deps", "-r", "requirements.txt", "--builder", "pip", "--out", "slim")
    assert (layer_site(project / "full") / "numpy/_core/tests/test_multiarray.py").is_file()
    assert slim["unzipped_bytes"] < full["unzipped_bytes"] - 5_000_000
    done = isolated(
        layer_site(project / "slim"), "import numpy, numpy.testing; print(numpy.eye(2).sum())"
    )
    assert done.returncode == 0 and done.stdout.strip() == "2.0", done.stderr


def test_sourceless_layer_has_no_sources_and_imports(project: Path) -> None:
    (project / "requirements.txt").write_text(NUMPY)
    run_json("build-deps", "-r", "requirements.txt", "--builder", "pip", "--sourceless")
    site = layer_site(project / "build")
    assert not list(site.rglob("*.py"))
    assert (site / "numpy/__init__.pyc").is_file()
    done = isolated(site, "import numpy; print(numpy.arange(3).sum())")
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr
    audit_record(site, "numpy", "numpy/__init__.pyc")


def test_arm64_layer_holds_only_aarch64_wheels(project: Path) -> None:
    (project / "requirements.txt").write_text(NUMPY)
    result = run("build-deps", "-r", "requirements.txt", "--builder", "pip", "--arch", "arm64")
    assert result.exit_code == 0, result.stderr
    tags = wheel_tags(layer_site(project / "build"))
    assert tags and all(t.endswith("_aarch64") for listed in tags.values() for t in listed), tags
    assert all(glibc_of(t) <= (2, 26) for listed in tags.values() for t in listed)  # type: ignore[operator]
    assert "not verified" in result.stderr  # no aarch64 Python here: said, not hidden


def test_scikit_learn_1_7_2_on_arm64_is_refused_naming_it_and_the_tags(project: Path) -> None:
    (project / "requirements.txt").write_text("scikit-learn==1.7.2\n")
    error = one_line_error(
        run("build-deps", "-r", "requirements.txt", "--builder", "pip", "--arch", "arm64")
    )
    # its aarch64 wheels are manylinux_2_27 and newer: the cause is python3.11's glibc, not the arch
    assert "scikit-learn==1.7.2 needs glibc 2.27 or newer on arm64" in error, error
    assert "python3.11 runs on Amazon Linux 2 (glibc 2.26)" in error
    assert "--runtime python3.12" in error and "docker" not in error.lower()


def test_bad_inputs_fail_in_one_line_and_publish_nothing(
    aws, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    lam = aws.client("lambda")
    (project / "loose.txt").write_text("numpy>=2\n")
    (project / "pinned.txt").write_text(NUMPY)
    common = ("--function-name", "fn", "--publish", "--bucket", aws.bucket)
    error = one_line_error(
        run("build-deps", "-r", "loose.txt", "--no-deps", "--builder", "pip", *common)
    )
    assert "'numpy>=2' is not pinned" in error
    error = one_line_error(
        run("build-deps", "-r", "pinned.txt", "--builder", "pip", "--reserve-mb", "230", *common)
    )
    assert "over the" in error and "numpy" in error
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    error = one_line_error(run("build-deps", "-r", "pinned.txt", "--builder", "docker", *common))
    assert "no Docker engine answers" in error and "--builder pip" in error
    auto = run("build-deps", "-r", "pinned.txt", "--out", "auto")
    assert auto.exit_code == 0 and "builder: pip (no Docker engine answers" in auto.stderr
    dry = run("build-deps", "-r", "pinned.txt", "--out", "auto", *common, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert "would publish" in dry.stderr and "as a new version of fn-deps" in dry.stderr
    assert json.loads(dry.stdout)["published"] is None
    assert lam.list_layer_versions(LayerName="fn-deps")["LayerVersions"] == []


def test_a_package_with_no_wheel_is_named(project: Path) -> None:
    (project / "requirements.txt").write_text("numpy==1.21.0\n")  # no cp311 wheel exists
    error = one_line_error(run("build-deps", "-r", "requirements.txt", "--builder", "pip"))
    assert "numpy==1.21.0" in error and "cp311" in error and "manylinux_2_26_x86_64" in error


@pytest.fixture(scope="session")
def pruned_build(tmp_path_factory: pytest.TempPathFactory, model_v1: list[Path]) -> dict:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("pruned")
    samples = [arg for path in model_v1 for arg in ("--sample-model", str(path))]
    requirements, event = str(EXAMPLES / "requirements.txt"), str(EXAMPLES / "event.json")
    result = run(
        "build-deps", "-r", requirements, "--builder", "pip", "--out", str(out),
        "--prune", *samples, "--sample-event", event, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return {"out": out, "result": json.loads(result.stdout), "stderr": result.stderr}


def test_prune_keeps_what_the_model_uses_and_predicts_the_same(
    pruned_build: dict, example_build: dict
) -> None:  # type: ignore[type-arg]
    result, out = pruned_build["result"], Path(pruned_build["out"])
    assert "predicts the same 4 results" in pruned_build["stderr"]
    assert result["unzipped_bytes"] < example_build["result"]["unzipped_bytes"] - 30_000_000
    manifest = json.loads((out / "deps-build.json").read_text())
    modules = set(manifest["modules"])
    assert {"sklearn.linear_model._logistic", "sklearn.feature_extraction.text"} <= modules
    site = layer_site(out)
    assert (site / "sklearn/utils/_repr_html/estimator.css").is_file()  # read at import
    assert not (site / "sklearn/ensemble").exists()
    assert not list(site.rglob("*.py"))  # --prune ships sourceless bytecode
    audit_record(site, "scipy", "scipy/__init__.pyc")  # stripped .so files, fresh hashes


def test_publish_model_refuses_a_model_the_pruned_layer_cannot_load(
    aws,
    project: Path,
    pruned_build: dict,
    model_v1: list[Path],  # type: ignore[no-untyped-def, type-arg]
) -> None:
    out = Path(pruned_build["out"])
    modules = set(json.loads((out / "deps-build.json").read_text())["modules"])
    forest = project / "forest.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=2).fit([[0], [1]], [0, 1]), forest)
    assert "sklearn.ensemble._forest" not in modules
    refused = run("publish-model", str(forest), "--function-name", "fn", "--out", str(out))
    error = one_line_error(refused)
    assert "forest.joblib" in error and "sklearn." in error and "--prune" in error
    lam = aws.client("lambda")
    assert lam.list_layer_versions(LayerName="fn-model")["LayerVersions"] == []
    accepted = run("publish-model", *map(str, model_v1), "--function-name", "fn", "--out", str(out))
    assert accepted.exit_code == 0, accepted.stderr

    # Once that pruned layer is published, a build directory that is not its build
    # cannot vouch for it: refused, rather than checked against the wrong manifest.
    sha = json.loads((out / "deps-build.json").read_text())["sha256"]
    tiny = project / "tiny.zip"
    with zipfile.ZipFile(tiny, "w") as archive:
        archive.writestr("python/placeholder.py", "")
    lam.publish_layer_version(
        LayerName="fn-deps",
        Content={"ZipFile": tiny.read_bytes()},
        Description=f"mlayer-deps python=3.11 sklearn=1.7.2 numpy=2.2.6 pruned=1 sha256={sha[:16]}",
    )
    elsewhere = run("publish-model", *map(str, model_v1), "--function-name", "fn", "--force")
    assert "fn-deps:1 is pruned" in one_line_error(elsewhere) and "--out" in elsewhere.stderr
    again = run(
        "publish-model", *map(str, model_v1), "--function-name", "fn", "--out", str(out), "--force"
    )
    assert again.exit_code == 0, again.stderr
