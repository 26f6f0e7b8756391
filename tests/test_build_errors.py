"""Build errors that name the real cause: pip's output classified (pure, on pip
outputs captured into tests/data/: console lines, then the ``--log`` lines), the
index's findings worded, and the CLI's one line for a closed index and, slow, for
scikit-learn 1.9.1 on python3.11 (asks the real index).

The captures: ``pip install -r R --only-binary=:all: ...`` with PIP_CONFIG_FILE=/dev/null
and PIP_RETRIES=0 (``pip_retrying``: 1) against a closed loopback port, through a
closed proxy (HTTPS_PROXY), against a TLS server with a self-signed certificate, and
scikit-learn==1.9.1 with python3.11's glibc 2.26 tags (pip's own timestamps cut).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from conftest import one_line_error, run

from mlayer.layerbuild.pip import (
    IndexFindings,
    classify_pip_output,
    explain_missing,
    explain_pip_failure,
    unreachable_message,
    wheel_glibc,
)
from mlayer.targets import resolve_target

DATA = Path(__file__).parent / "data"
PY311 = resolve_target("python3.11", "x86_64")
PY311_ARM = resolve_target("python3.11", "arm64")


def captured(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


@pytest.mark.parametrize(
    ("capture", "index", "reason"),
    [
        ("pip_index_refused.txt", "http://127.0.0.1:9/simple", "connection"),
        ("pip_retrying.txt", "http://127.0.0.1:9/simple", "connection"),
        ("pip_proxy_down.txt", "https://pypi.org/simple", "proxy"),
        ("pip_tls_untrusted.txt", "https://localhost:8443/simple", "tls"),
    ],
)
def test_an_index_pip_could_not_read_is_the_cause_and_is_named(
    capture: str, index: str, reason: str
) -> None:
    failure = classify_pip_output(captured(capture))
    assert (failure.kind, failure.index, failure.reason) == ("unreachable", index, reason)


def test_a_missing_version_on_a_reachable_index_is_not_called_unreachable() -> None:
    # One extra index down, but another listed versions: the version is what is missing.
    lines = [
        "Could not fetch URL http://mirror.example/simple/x/: connection error: refused - skipping",
        "ERROR: Could not find a version that satisfies the requirement x==9 (from versions: 1.0)",
        "ERROR: No matching distribution found for x==9",
    ]
    failure = classify_pip_output(lines)
    assert (failure.kind, failure.requirement) == ("no_match", "x==9")
    glibc = classify_pip_output(captured("pip_no_match_glibc.txt"))
    assert (glibc.kind, glibc.requirement) == ("no_match", "scikit-learn==1.9.1")


def test_an_unreachable_index_never_reaches_the_probe_and_says_what_to_check() -> None:
    def probe(requirement: str, target: object) -> IndexFindings:
        raise AssertionError("the index is not asked when it cannot be reached")

    line = explain_pip_failure(captured("pip_index_refused.txt"), PY311, probe=probe)
    assert "could not reach the package index http://127.0.0.1:9/simple" in line
    assert "no wheel" not in line and "\n" not in line
    failure = classify_pip_output(captured("pip_tls_untrusted.txt"))
    docker = unreachable_message(failure, in_container="img")
    assert "TLS" in docker and "--host-network" in docker and "--ca-bundle" in docker
    assert "HTTPS_PROXY" in docker


def test_wheel_glibc_reads_manylinux_tags_of_the_machine() -> None:
    name = "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    assert wheel_glibc(name, "x86_64") == (2, 27)
    assert wheel_glibc(name, "aarch64") is None
    legacy = "numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert wheel_glibc(legacy, "x86_64") == (2, 17)
    assert wheel_glibc("six-1.17.0-py2.py3-none-any.whl", "x86_64") is None


def test_a_wheel_for_a_newer_glibc_names_it_and_the_runtimes_that_carry_it() -> None:
    wheel = "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    line = explain_missing("scikit-learn==1.9.1", PY311, IndexFindings(wheel=wheel))
    assert line == (
        "scikit-learn==1.9.1 needs glibc 2.27 or newer; python3.11 runs on Amazon Linux 2 "
        "(glibc 2.26): use --runtime python3.12 or newer"
    )
    newest = "x-1-cp311-cp311-manylinux_2_39_x86_64.whl"
    line = explain_missing("x==1", PY311, IndexFindings(wheel=newest))
    assert "needs glibc 2.39" in line and "no Lambda runtime has it" in line
    assert "docker" not in line.lower()


def test_no_wheel_for_the_arch_vs_for_the_python_vs_only_an_sdist_are_three_messages() -> None:
    arch = explain_missing(
        "x==1",
        PY311_ARM,
        IndexFindings(other_machine_wheel="x-1-cp311-cp311-manylinux1_x86_64.whl"),
    )
    assert "no wheel for arm64 (aarch64)" in arch and "--arch x86_64" in arch
    sdist = explain_missing("x==1", PY311, IndexFindings(has_sdist=True))
    assert "only an sdist" in sdist and "--builder docker" in sdist
    none = explain_missing("x==1", PY311, IndexFindings(has_sdist=False))
    assert "and no sdist" in none and "Python 3.11" in none and "docker" not in none
    assert len({arch, sdist, none}) == 3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_a_closed_index_is_one_line_naming_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = f"http://127.0.0.1:{_closed_port()}/simple"
    # Only this index: no pip config file (this machine's adds indexes and links),
    # no PIP_* or proxy variables of the caller; pip gives up at once.
    for name in list(os.environ):
        if name.startswith("PIP_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    (project / "requirements.txt").write_text("cloudpickle==3.1.3\n")
    error = one_line_error(
        run("build-deps", "-r", "requirements.txt", "--builder", "pip", "--runtime", "python3.11")
    )
    assert f"could not reach the package index {index}" in error, error
    assert "no wheel" not in error


@pytest.mark.slow
def test_scikit_learn_1_9_1_on_python311_names_glibc_and_python312(project: Path) -> None:
    (project / "requirements.txt").write_text("scikit-learn==1.9.1\n")
    error = one_line_error(
        run("build-deps", "-r", "requirements.txt", "--runtime", "python3.11", "--builder", "pip")
    )
    assert "scikit-learn==1.9.1 needs glibc 2.27 or newer" in error, error
    assert "Amazon Linux 2 (glibc 2.26)" in error and "--runtime python3.12" in error
    assert "docker" not in error.lower()
