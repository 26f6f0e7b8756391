"""Lambda runtimes and architectures: what each one can load (a pure table).

Lambda's python3.9-3.11 run on Amazon Linux 2 (glibc 2.26); python3.12 and
newer run on Amazon Linux 2023 (glibc 2.34). A wheel built for a newer glibc
installs fine on a build machine and then fails on Lambda with
``GLIBC_2.28 not found``, so the platform tags pip may take are derived from
the runtime's glibc, never from the machine that builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from packaging.tags import Tag, compatible_tags, cpython_tags

from mlayer.errors import UsageError

ARCHITECTURES = ("x86_64", "arm64")


@dataclass(frozen=True)
class Runtime:
    """One Python runtime of Lambda: its Python, its OS and glibc, AWS's dates for it."""

    name: str
    python_version: tuple[int, int]
    os: str
    glibc: tuple[int, int]
    deprecated: date  # AWS stops patching it
    block_create: date  # Lambda refuses new functions on it
    block_update: date  # Lambda refuses updates of functions on it


_AL2, _AL2023 = "Amazon Linux 2", "Amazon Linux 2023"
# glibc: Amazon Linux 2 ships 2.26, Amazon Linux 2023 ships 2.34.
# Dates from AWS's runtime tables, https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html
# and https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html (read 2026-11-25):
# python3.10-3.14 as the current English page lists them. python3.9 is no longer
# in that table: its deprecation date (2025-12-15) is AWS's; its block dates
# (2026-02-03, 2026-03-09) are from the last version of AWS's table that listed
# it (a re:Post answer says AWS postponed them to 2027-02-01/2027-03-03: not
# found on AWS's page, so not used). AWS moves these dates: check the page.
_RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("python3.9", (3, 9), _AL2, (2, 26),
                date(2025, 12, 15), date(2026, 2, 3), date(2026, 3, 9)),
        Runtime("python3.10", (3, 10), _AL2, (2, 26),
                date(2026, 10, 31), date(2026, 11, 30), date(2027, 1, 15)),
        Runtime("python3.11", (3, 11), _AL2, (2, 26),
                date(2027, 6, 30), date(2027, 7, 31), date(2027, 8, 31)),
        Runtime("python3.12", (3, 12), _AL2023, (2, 34),
                date(2028, 10, 31), date(2028, 11, 30), date(2029, 1, 10)),
        Runtime("python3.13", (3, 13), _AL2023, (2, 34),
                date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
        Runtime("python3.14", (3, 14), _AL2023, (2, 34),
                date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
    )
}  # fmt: skip
RUNTIMES = tuple(_RUNTIMES)

# Lambda offers SnapStart for Python from python3.12 (AWS's SnapStart page, read 2026-11-25).
SNAPSTART_PYTHON = (3, 12)


def snapstart_refusal(runtime: str) -> str | None:
    """Why ``--snapstart`` cannot be used with ``runtime``, or None when it can."""
    info = _RUNTIMES.get(runtime)
    if info is not None and info.python_version >= SNAPSTART_PYTHON:
        return None
    oldest = "python{}.{}".format(*SNAPSTART_PYTHON)
    return (
        f"--snapstart needs {oldest} or newer (Lambda has no SnapStart for {runtime}): "
        f"pass --runtime {oldest} or newer, with a deps layer built for it, or drop --snapstart"
    )


# Oldest glibc a manylinux wheel can claim per machine: manylinux1 (2.5) on
# x86_64; aarch64 wheels start at manylinux2014 (2.17).
_OLDEST_GLIBC_MINOR = {"x86_64": 5, "aarch64": 17}
_LEGACY_ALIASES = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass(frozen=True)
class Target:
    """One runtime on one architecture, and everything a build needs to know of it."""

    runtime: str
    arch: str
    python_version: tuple[int, int]
    glibc: tuple[int, int]

    @property
    def machine(self) -> str:
        """The machine name wheels use (``aarch64`` for Lambda's ``arm64``)."""
        return "aarch64" if self.arch == "arm64" else "x86_64"

    @property
    def python_tag(self) -> str:
        return f"cp{self.python_version[0]}{self.python_version[1]}"

    @property
    def cache_tag(self) -> str:
        """The bytecode cache tag, as in ``__pycache__/x.cpython-311.pyc``."""
        return f"cpython-{self.python_version[0]}{self.python_version[1]}"

    @property
    def python_dotted(self) -> str:
        return f"{self.python_version[0]}.{self.python_version[1]}"

    @property
    def glibc_dotted(self) -> str:
        return f"{self.glibc[0]}.{self.glibc[1]}"

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """Every platform tag pip may take for this target, newest glibc first."""
        major, newest = self.glibc
        tags: list[str] = []
        for minor in range(newest, _OLDEST_GLIBC_MINOR[self.machine] - 1, -1):
            tags.append(f"manylinux_{major}_{minor}_{self.machine}")
            if minor in _LEGACY_ALIASES:
                tags.append(f"{_LEGACY_ALIASES[minor]}_{self.machine}")
        return tuple(tags)

    @property
    def tags_summary(self) -> str:
        """The tag range in one phrase, for messages."""
        tags = self.platform_tags
        return f"{self.python_tag}, {tags[0]} ... {tags[-1]}"

    @cached_property
    def wheel_tags(self) -> frozenset[Tag]:
        """Every wheel tag (interpreter-abi-platform) the target's Python accepts,
        computed as pip computes it from ``--python-version/--abi/--platform``."""
        platforms = list(self.platform_tags)
        tags = set(cpython_tags(self.python_version, [self.python_tag], platforms))
        tags |= set(compatible_tags(self.python_version, self.python_tag, platforms))
        return frozenset(tags)

    def accepts(self, tag: Tag, *, built_in_image: bool = False) -> bool:
        """Whether a wheel tagged ``tag`` loads on this target.

        ``built_in_image`` also accepts the plain ``linux_<machine>`` tag of a
        wheel compiled from source inside the build image (the Docker builder),
        which is as compatible as the image is.
        """
        if tag in self.wheel_tags:
            return True
        if built_in_image and tag.platform == f"linux_{self.machine}":
            local = Tag(tag.interpreter, tag.abi, self.platform_tags[0])
            return local in self.wheel_tags
        return False

    @property
    def build_image(self) -> str:
        """The default Docker build image, as SAM CLI uses it."""
        return f"public.ecr.aws/sam/build-{self.runtime}:latest-{self.arch}"

    @property
    def docker_platform(self) -> str:
        return "linux/arm64" if self.arch == "arm64" else "linux/amd64"

    @property
    def site_packages(self) -> str:
        """Where Lambda looks for packages inside a layer, relative to /opt."""
        return "python"


def supported() -> list[str]:
    return [f"{runtime}/{arch}" for runtime in _RUNTIMES for arch in ARCHITECTURES]


def resolve_target(runtime: str, arch: str) -> Target:
    """The target for ``runtime`` on ``arch``; unknown ones are refused with the list."""
    if runtime not in _RUNTIMES or arch not in ARCHITECTURES:
        raise UsageError(
            f"unsupported target {runtime}/{arch}; supported: {', '.join(supported())}"
        )
    info = _RUNTIMES[runtime]
    return Target(runtime, arch, info.python_version, info.glibc)


def runtime_info(runtime: str) -> Runtime | None:
    """The table's row of ``runtime``, None for one Lambda does not have."""
    return _RUNTIMES.get(runtime)


def runtime_for_python(version: Sequence[int]) -> str:
    """The Lambda runtime of Python ``version`` (3.13 -> python3.13): the default,
    the Python the model is trained in. Refused if Lambda has no runtime for it."""
    runtime = f"python{version[0]}.{version[1]}"
    if runtime not in _RUNTIMES:
        raise UsageError(
            f"Lambda has no runtime for Python {version[0]}.{version[1]} (the Python running "
            f"mlayer): pass --runtime, one of {', '.join(RUNTIMES)}"
        )
    return runtime


def supported_on(today: date) -> list[str]:
    """The runtimes AWS has not deprecated on ``today``."""
    return [r.name for r in _RUNTIMES.values() if today < r.deprecated]


def check_runtime_dates(
    runtime: str, today: date, *, allow_deprecated: bool, creating: bool = True
) -> str | None:
    """A one-line warning for a runtime AWS deprecated on or before ``today``
    (None for one it supports, or one not in the table).

    Refuses one Lambda no longer accepts, before anything is built or changed:
    past the block-create date when ``creating`` a function (or building a layer
    for new ones), past the block-update date otherwise; unless
    ``allow_deprecated`` (AWS has moved its dates before).
    """
    info = _RUNTIMES.get(runtime)
    if info is None or today < info.deprecated:
        return None
    block, what = (info.block_create, "creating") if creating else (info.block_update, "updating")
    current = ", ".join(supported_on(today)) or "none"
    if today >= block and not allow_deprecated:
        raise UsageError(
            f"{runtime} was deprecated by AWS on {info.deprecated} and Lambda blocks "
            f"{what} functions on it since {block}: pass --runtime, one of {current}, "
            "or --allow-deprecated-runtime"
        )
    tense = "since" if today >= block else "from"
    return (
        f"{runtime} was deprecated by AWS on {info.deprecated} (no more security patches); "
        f"Lambda blocks {what} functions on it {tense} {block}: use --runtime, one of {current}"
    )
