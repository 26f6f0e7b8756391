"""Requirements pinned from the environment the model was trained in (pure logic).

``build-deps --for-model FILE...`` reads the modules a model file names (its
pickle globals, read without running it), maps their top-level packages to the
installed distributions that provide them, adds those distributions' run-time
dependencies (their ``Requires-Dist``, markers evaluated for the *target*
runtime's Python and platform, not the running one), and pins each at the
version installed here. The metadata lookup is injected (``Metadata``), so the
logic runs on a fake environment in tests; ``installed_metadata`` reads the real one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlayer.errors import UsageError
from mlayer.targets import Target

# Always needed besides what the model names: the handler loads joblib files with
# joblib, and .skops files with skops.
LOADERS = {".joblib": "joblib", ".skops": "skops"}
# Modules of the standard library a pickle may name (builtins, copyreg, ...):
# the runtime's Python provides them, no distribution does.
_STDLIB = frozenset(sys.stdlib_module_names) | {"__builtin__"}


@dataclass(frozen=True)
class Metadata:
    """What pinning reads of an environment: module -> distributions, a
    distribution's version and its ``Requires-Dist`` lines (None: not installed)."""

    providers: Mapping[str, list[str]]  # importlib.metadata.packages_distributions()
    version: Callable[[str], str | None]
    requires: Callable[[str], list[str]]


def installed_metadata() -> Metadata:
    """The environment running mlayer (where the model is trained)."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    def requires(name: str) -> list[str]:
        try:
            return metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            return []

    return Metadata(metadata.packages_distributions(), version, requires)


def marker_environment(target: Target) -> dict[str, str]:
    """PEP 508 marker values of the Lambda target (Linux, CPython, its Python)."""
    return {
        "python_version": target.python_dotted,
        "python_full_version": f"{target.python_dotted}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "implementation_version": f"{target.python_dotted}.0",
        "sys_platform": "linux",
        "os_name": "posix",
        "platform_system": "Linux",
        "platform_machine": target.machine,
        "platform_release": "",
        "platform_version": "",
    }


def applies(requirement: Requirement, target: Target, extras: Iterable[str] = ()) -> bool:
    """Whether ``requirement``'s marker holds on ``target`` (with ``extras`` asked)."""
    if requirement.marker is None:
        return True
    environment = marker_environment(target)
    for extra in ("", *extras):
        if requirement.marker.evaluate({**environment, "extra": extra}):
            return True
    return False


@dataclass(frozen=True)
class Source:
    """A model file and the modules it names."""

    path: str
    modules: frozenset[str]


def top_level_distributions(sources: Iterable[Source], meta: Metadata) -> dict[str, str]:
    """Canonical distribution name -> its name as installed, for every top-level
    module the files name, plus the loaders their suffixes need; a module no
    distribution provides is a one-line error naming it and the file."""
    found: dict[str, str] = {}
    for source in sources:
        suffix = "." + source.path.rsplit(".", 1)[-1] if "." in source.path else ""
        loader = LOADERS.get(suffix, LOADERS[".joblib"])
        found.setdefault(canonicalize_name(loader), loader)
        for module in sorted(source.modules):
            top = module.split(".", 1)[0]
            if top in _STDLIB:
                continue
            providers = meta.providers.get(top)
            if not providers:
                raise UsageError(
                    f"model file {source.path} names module {module}, which no installed "
                    "distribution provides: install it, or write requirements.txt by hand (-r)"
                )
            for name in providers:
                found.setdefault(canonicalize_name(name), name)
    return found


def pin_closure(roots: Mapping[str, str], meta: Metadata, target: Target) -> dict[str, str]:
    """Canonical name -> installed version for ``roots`` and every run-time
    dependency of theirs whose marker holds on ``target``."""
    pins: dict[str, str] = {}
    pending: list[tuple[str, tuple[str, ...]]] = [(name, ()) for name in roots.values()]
    extras_of: dict[str, set[str]] = {}
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        asked = set(extras) - extras_of.get(key, set())
        if key in pins and not asked:
            continue
        extras_of.setdefault(key, set()).update(extras)
        version = meta.version(name)
        if version is None:
            raise UsageError(
                f"{name} is needed by the model but not installed here: install it, "
                "or write requirements.txt by hand (-r)"
            )
        pins[key] = version
        for line in meta.requires(name):
            requirement = Requirement(line)
            if applies(requirement, target, extras_of[key]):
                pending.append((requirement.name, tuple(requirement.extras)))
    return pins


def requirement_lines(pins: Mapping[str, str], files: Iterable[str], target: Target) -> list[str]:
    """The requirements file: a header saying where the pins came from, then
    ``name==version`` sorted by name."""
    return [
        f"# pinned by mlayer build-deps --for-model {' '.join(files)}",
        f"# from the installed versions of the environment that runs mlayer, for {target.runtime}",
        *(f"{name}=={version}" for name, version in sorted(pins.items())),
    ]


def pins_for_model(sources: Iterable[Source], meta: Metadata, target: Target) -> dict[str, str]:
    """The pins a model needs: its modules' distributions and their dependencies."""
    return pin_closure(top_level_distributions(sources, meta), meta, target)
