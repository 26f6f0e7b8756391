"""build-deps with the Docker builder, against a real engine (CI starts one with
scripts/ci-docker.sh). Skipped, with the reason, when no engine answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import EXAMPLES, run
from test_build_pip import glibc_of

from mlayer.layerbuild.docker import DockerBuilder, engine_answers
from mlayer.targets import resolve_target

ANSWERS, WHY = engine_answers()
IMAGE = os.environ.get("MLAYER_TEST_DOCKER_IMAGE", "mlayer-ci/bookworm-python3.11:latest")
# Debian trixie's Python 3.13 (glibc 2.41), for python3.13 targets
IMAGE_313 = os.environ.get("MLAYER_TEST_DOCKER_IMAGE_313", "mlayer-ci/trixie-python3.13:latest")

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(not ANSWERS, reason=f"no Docker engine answers: {WHY}"),
]


def _image_present(image: str) -> bool:
    import docker

    try:
        docker.from_env().images.get(image)
        return True
    except Exception:
        return False


needs_image = pytest.mark.skipif(
    ANSWERS and not _image_present(IMAGE),
    reason=f"image {IMAGE} is not built: run scripts/ci-docker.sh start",
)
needs_image_313 = pytest.mark.skipif(
    ANSWERS and not _image_present(IMAGE_313),
    reason=f"image {IMAGE_313} is not built: run scripts/ci-docker.sh start",
)


@needs_image
def test_docker_build_of_the_example_passes_verification(project: Path) -> None:
    result = run(
        "build-deps", "-r", str(EXAMPLES / "requirements.txt"), "--builder", "docker",
        "--image", IMAGE, "--host-network", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "verifying: importing joblib, numpy, scipy, sklearn, threadpoolctl" in result.stderr
    assert f"in {IMAGE}" in result.stderr
    built = json.loads(result.stdout)
    assert built["versions"]["scikit-learn"] == "1.7.2"
    # the output belongs to the calling user, not to the container's root, and the
    # build's own directory is gone: only the zip and its manifest are in build/
    assert Path(built["zip"]).stat().st_uid == os.getuid()
    assert sorted(p.name for p in (project / "build").iterdir()) == [
        "deps-build.json",
        "deps-layer.zip",
    ]
    # bookworm's glibc (2.36) is newer than Lambda's python3.11 (2.26): the tags held
    manifest = json.loads((project / "build" / "deps-build.json").read_text())
    for name, package in manifest["packages"].items():
        assert not any(
            "manylinux_2_28" in t or t[-12:] == "linux_x86_64" for t in package["tags"]
        ), name
    # the zip imports on this machine too, in an isolated interpreter
    with zipfile.ZipFile(built["zip"]) as archive:
        archive.extractall(project / "unzipped")
    site_path = str(project / "unzipped" / "python")
    code = f"import sys; sys.path.insert(0, {site_path!r}); import sklearn.linear_model"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@needs_image
def test_docker_prune_traces_the_model_in_the_container(
    project: Path, model_v1: list[Path]
) -> None:
    samples = [arg for path in model_v1 for arg in ("--sample-model", str(path))]
    result = run(
        "build-deps", "-r", str(EXAMPLES / "requirements.txt"), "--builder", "docker",
        "--image", IMAGE, "--host-network", "--prune", *samples,
        "--sample-event", str(EXAMPLES / "event.json"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"tracing the sample model in python3.11 in {IMAGE}" in result.stderr
    assert "the pruned layer predicts the same 4 results" in result.stderr
    built = json.loads(result.stdout)
    assert built["upload"] == "direct" and built["pruned_modules"] > 500
    with zipfile.ZipFile(built["zip"]) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.endswith(".py")]
    assert not [n for n in names if n.startswith("python/sklearn/ensemble/")]


@needs_image
def test_containers_get_the_index_proxies_and_ca_bundle_and_run_as_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://index.example/simple")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("TEST CA BUNDLE\n")
    builder = DockerBuilder(
        resolve_target("python3.11", "x86_64"), IMAGE, mounts=[], writable=[tmp_path],
        ca_bundle=str(bundle),
    )  # fmt: skip
    code = (
        "import json, os; print(json.dumps([os.environ.get(k) for k in ("
        "'PIP_INDEX_URL', 'HTTPS_PROXY', 'AWS_SECRET_ACCESS_KEY')] + "
        "[open(os.environ['PIP_CERT']).read().strip(), os.access(os.environ['PIP_CERT'], "
        "os.W_OK), os.getuid()]))"
    )
    status, output = builder.run(["-c", code], timeout=120)
    assert status == 0, output
    index, proxy, secret, ca, ca_writable, uid = json.loads(output.strip().splitlines()[-1])
    assert (index, proxy) == ("https://index.example/simple", "http://proxy.example:3128")
    assert secret is None  # only what pip needs is forwarded
    assert ca == "TEST CA BUNDLE" and ca_writable is False
    assert uid == os.getuid()


def test_a_missing_image_is_a_one_line_error(project: Path) -> None:
    (project / "requirements.txt").write_text("numpy==2.2.6\n")
    result = run(
        "build-deps", "-r", "requirements.txt", "--builder", "docker",
        "--image", "mlayer-test/no-such-image:never",
    )  # fmt: skip
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "mlayer-test/no-such-image:never" in errors[0], result.stderr
    assert not (project / "build" / "deps-layer.zip").exists()


@needs_image
def test_an_image_with_another_python_is_refused(project: Path) -> None:
    (project / "requirements.txt").write_text("numpy==2.2.6\n")
    result = run(
        "build-deps", "-r", "requirements.txt", "--builder", "docker", "--image", IMAGE,
        "--runtime", "python3.12",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "has Python 3.11, but python3.12 needs 3.12" in result.stderr


@needs_image_313
def test_docker_build_for_python313_with_todays_stack_passes_verification(
    project: Path,
) -> None:
    """Today's scikit-learn (glibc 2.28 wheels) in a Python 3.13 image, for python3.13."""
    (project / "requirements.txt").write_text(
        "scikit-learn==1.9.1\nnumpy==2.5.5\nscipy==1.18.1\njoblib==1.6.0\nthreadpoolctl==3.8.0\n"
    )
    result = run(
        "build-deps", "-r", "requirements.txt", "--runtime", "python3.13", "--builder", "docker",
        "--image", IMAGE_313, "--host-network", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "verifying: importing" in result.stderr and f"in {IMAGE_313}" in result.stderr
    built = json.loads(result.stdout)
    assert built["versions"]["scikit-learn"] == "1.9.1"
    assert built["versions"]["numpy"] == "2.5.5"
    manifest = json.loads((project / "build" / "deps-build.json").read_text())
    assert manifest["runtime"] == "python3.13"
    # trixie's glibc (2.41) is newer than Lambda's python3.13 (2.34): the tags held
    for name, package in manifest["packages"].items():
        needs = [glibc for glibc in map(glibc_of, package["tags"]) if glibc]
        assert all(glibc <= (2, 34) for glibc in needs), (name, package["tags"])
    with zipfile.ZipFile(built["zip"]) as archive:
        names = archive.namelist()
    assert any(n.endswith(".cpython-313.pyc") for n in names)
    assert not any(".cpython-311" in n for n in names)
