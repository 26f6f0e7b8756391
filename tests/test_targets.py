"""The runtime x arch table: glibc, wheel tags, build image, refusals (pure units)."""

from __future__ import annotations

from datetime import date

import pytest
from packaging.tags import Tag

from mlayer.errors import UsageError
from mlayer.targets import (
    RUNTIMES,
    check_runtime_dates,
    resolve_target,
    runtime_for_python,
    runtime_info,
)


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


# --- the default runtime and AWS's dates (today injected: no test reads the clock) ----

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("version", "runtime"),
    [((3, 13), "python3.13"), ((3, 12), "python3.12"), ((3, 10), "python3.10")],
)
def test_the_runtime_of_the_python_that_trains_the_model(
    version: tuple[int, int], runtime: str
) -> None:
    assert runtime_for_python(version) == runtime


@pytest.mark.parametrize("version", [(3, 8), (3, 15)])
def test_a_python_lambda_has_no_runtime_for_is_one_line_listing_the_supported(
    version: tuple[int, int],
) -> None:
    with pytest.raises(UsageError) as refused:
        runtime_for_python(version)
    message = str(refused.value)
    assert f"no runtime for Python {version[0]}.{version[1]}" in message
    assert "--runtime" in message and "python3.9" in message and "python3.14" in message
    assert "\n" not in message


def test_the_table_says_which_amazon_linux_and_glibc_each_runtime_runs_on() -> None:
    for runtime in ("python3.9", "python3.10", "python3.11"):
        info = runtime_info(runtime)
        assert info is not None and (info.os, info.glibc) == ("Amazon Linux 2", (2, 26))
    for runtime in ("python3.12", "python3.13", "python3.14"):
        info = runtime_info(runtime)
        assert info is not None and (info.os, info.glibc) == ("Amazon Linux 2023", (2, 34))
    for runtime in RUNTIMES:  # AWS's order: deprecated, then no new functions, then no updates
        info = runtime_info(runtime)
        assert info is not None and info.deprecated < info.block_create < info.block_update


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12", "python3.13", "python3.14"])
def test_a_runtime_aws_supports_today_has_no_warning(runtime: str) -> None:
    assert check_runtime_dates(runtime, TODAY, allow_deprecated=False) is None


def test_a_deprecated_runtime_before_its_block_date_warns_in_one_line() -> None:
    warning = check_runtime_dates("python3.10", TODAY, allow_deprecated=False)
    assert warning is not None and "\n" not in warning
    assert "python3.10 was deprecated by AWS on 2026-10-31" in warning
    assert "from 2026-11-30" in warning  # AWS's block-create date, still ahead
    assert "python3.13" in warning and "python3.9" not in warning  # what to use instead


def test_a_runtime_past_awss_block_create_date_is_refused_unless_allowed() -> None:
    with pytest.raises(UsageError) as refused:
        check_runtime_dates("python3.9", TODAY, allow_deprecated=False)
    message = str(refused.value)
    assert "python3.9" in message and "2026-02-03" in message
    assert "--allow-deprecated-runtime" in message and "\n" not in message
    warning = check_runtime_dates("python3.9", TODAY, allow_deprecated=True)
    assert warning is not None and "since 2026-02-03" in warning


def test_the_block_date_itself_is_refused_and_the_day_before_is_not() -> None:
    assert check_runtime_dates("python3.10", date(2026, 11, 29), allow_deprecated=False)
    with pytest.raises(UsageError):
        check_runtime_dates("python3.10", date(2026, 11, 30), allow_deprecated=False)


def test_updating_an_existing_function_is_refused_only_from_the_block_update_date() -> None:
    after_create = date(2026, 12, 15)  # python3.10: no new functions, updates still allowed
    warning = check_runtime_dates(
        "python3.10", after_create, allow_deprecated=False, creating=False
    )
    assert warning is not None and "updating" in warning and "2027-01-15" in warning
    with pytest.raises(UsageError, match="updating functions on it since 2027-01-15"):
        check_runtime_dates("python3.10", date(2027, 1, 15), allow_deprecated=False, creating=False)
