"""Lambda runtimes and architectures: what each one can load (a pure table).

Lambda's python3.9-3.11 run on Amazon Linux 2 (glibc 2.26); python3.12 and
newer run on Amazon Linux 2023 (glibc 2.34). A wheel built for a newer glibc
installs fine on a build machine and then fails on Lambda with
``GLIBC_2.28 not found``, so the platform tags pip may take are derived from
the runtime's glibc, never from the machine that builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from packaging.tags import Tag, compatible_tags, cpython_tags

from mlayer.errors import UsageError

ARCHITECTURES = ("x86_64", "arm64")

# runtime -> (python version, glibc of its Amazon Linux)
_RUNTIMES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "python3.9": ((3, 9), (2, 26)),
    "python3.10": ((3, 10), (2, 26)),
    "python3.11": ((3, 11), (2, 26)),
    "python3.12": ((3, 12), (2, 34)),
    "python3.13": ((3, 13), (2, 34)),
    "python3.14": ((3, 14), (2, 34)),
}
RUNTIMES = tuple(_RUNTIMES)

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
    python_version, glibc = _RUNTIMES[runtime]
    return Target(runtime, arch, python_version, glibc)
