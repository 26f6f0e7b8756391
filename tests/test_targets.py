"""The runtime x arch table: glibc, wheel tags, build image, refusals (pure units)."""

from __future__ import annotations

import pytest
from packaging.tags import Tag

from mlayer.errors import UsageError
from mlayer.targets import RUNTIMES, resolve_target


@pytest.mark.parametrize("runtime", ["python3.9", "python3.10", "python3.11"])
def test_amazon_linux_2_runtimes_take_nothing_newer_than_glibc_2_26(runtime: str) -> None:
    target = resolve_target(runtime, "x86_64")
    assert target.glibc == (2, 26)
    assert target.platform_tags[0] == "manylinux_2_26_x86_64"
    assert "manylinux_2_27_x86_64" not in target.platform_tags
    assert "manylinux_2_28_x86_64" not in target.platform_tags
    assert "manylinux2014_x86_64" in target.platform_tags  # the legacy alias of 2.17


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_amazon_linux_2023_runtimes_take_glibc_2_34(runtime: str) -> None:
    target = resolve_target(runtime, "arm64")
    assert target.glibc == (2, 34)
    assert target.platform_tags[0] == "manylinux_2_34_aarch64"
    assert all(tag.endswith("_aarch64") for tag in target.platform_tags)
    # aarch64 wheels start at manylinux2014; there is no manylinux1 for it
    assert target.platform_tags[-1] == "manylinux2014_aarch64"


def test_every_supported_runtime_has_both_architectures_and_a_sam_build_image() -> None:
    assert {"python3.9", "python3.10", "python3.11", "python3.12", "python3.13"} <= set(RUNTIMES)
    for runtime in RUNTIMES:
        for arch in ("x86_64", "arm64"):
            target = resolve_target(runtime, arch)
            assert target.build_image.startswith(f"public.ecr.aws/sam/build-{runtime}")
            assert target.python_dotted == runtime.removeprefix("python")


@pytest.mark.parametrize(("runtime", "arch"), [("python3.8", "x86_64"), ("python3.11", "i386")])
def test_unknown_targets_are_refused_with_the_supported_list(runtime: str, arch: str) -> None:
    with pytest.raises(UsageError) as refused:
        resolve_target(runtime, arch)
    message = str(refused.value)
    assert f"{runtime}/{arch}" in message
    assert "python3.11/x86_64" in message and "python3.13/arm64" in message
    assert "\n" not in message


def test_accepts_only_wheels_the_target_can_load() -> None:
    target = resolve_target("python3.11", "x86_64")
    assert target.accepts(Tag("cp311", "cp311", "manylinux_2_17_x86_64"))
    assert target.accepts(Tag("py3", "none", "any"))
    assert target.accepts(Tag("cp38", "abi3", "manylinux2014_x86_64"))  # stable ABI, older Python
    assert not target.accepts(Tag("cp311", "cp311", "manylinux_2_28_x86_64"))  # glibc too new
    assert not target.accepts(Tag("cp312", "cp312", "manylinux_2_17_x86_64"))  # other Python
    assert not target.accepts(Tag("cp311", "cp311", "manylinux_2_17_aarch64"))  # other machine
    assert not target.accepts(Tag("cp311", "cp311", "linux_x86_64"))  # built on the host
    # ... unless it was compiled inside the build image (the Docker builder)
    assert target.accepts(Tag("cp311", "cp311", "linux_x86_64"), built_in_image=True)
    assert not target.accepts(Tag("cp311", "cp311", "linux_aarch64"), built_in_image=True)
