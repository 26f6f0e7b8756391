"""What build-deps is asked for, decided before any work.

``BuildOptions`` (the flags), ``check_options`` (every refusal of them, before
anything is installed), ``choose_builder`` (pip or Docker), ``ships_sourceless``
and ``cache_inputs`` (everything that decides the zip's bytes: the cache key's
input, recorded in the manifest). ``Progress`` is where a build reports. No
AWS, no install: ``layer.build_deps_layer`` does the work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer import __version__
from mlayer.contract import DEFAULT_TEXT_FIELD
from mlayer.errors import UsageError
from mlayer.layerbuild.archive import sha256_file
from mlayer.layerbuild.requirements import (
    check_all_pinned,
    check_requirements,
    pinned_versions,
    read_requirements,
)
from mlayer.targets import Target

BUILDERS = ("auto", "pip", "docker")


@contextlib.contextmanager
def _no_bar(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
    yield lambda _: None


@dataclass(frozen=True)
class Progress:
    """Where a build reports what it is doing; the CLI passes click-backed callables."""

    message: Callable[[str], None] = lambda _: None
    detail: Callable[[str], None] = lambda _: None
    warning: Callable[[str], None] = lambda _: None
    # bar(label, total) -> context manager yielding update(n)
    bar: Callable[[str, int], AbstractContextManager[Callable[[int], None]]] = _no_bar


@dataclass(frozen=True)
class BuildOptions:
    requirements: Path
    target: Target
    out: Path
    builder: str = "auto"  # auto | pip | docker
    image: str | None = None  # docker: default target.build_image
    host_network: bool = False
    ca_bundle: str | None = None
    slim: bool = True
    bytecode: bool = True
    sourceless: bool = False
    keep_sources: bool = False  # with --prune, which otherwise ships sourceless bytecode
    no_deps: bool = False
    prune: bool = False
    defer_imports: bool = False  # defer.py: the modules the sample never touches
    sample_models: tuple[Path, ...] = ()
    sample_event: Path | None = None
    text_field: str = DEFAULT_TEXT_FIELD
    text_is_json: bool = False
    reserved_bytes: int = 0  # model layer + function, out of Lambda's 262,144,000
    use_cache: bool = True

    @property
    def samples(self) -> list[Path]:
        """The files ``--prune`` runs: the sample models, then the sample event."""
        return [*self.sample_models, *([self.sample_event] if self.sample_event else [])]


def check_options(options: BuildOptions) -> None:
    """Refuse what cannot be built, before anything is installed or written."""
    check_requirements(options.requirements)
    pinned_versions(options.requirements)  # refuses a line that does not parse
    if options.no_deps:
        check_all_pinned(options.requirements)
    for flag, asked in (("--prune", options.prune), ("--defer-imports", options.defer_imports)):
        if asked and (not options.sample_models or options.sample_event is None):
            raise UsageError(
                f"{flag} needs the model to trace: --sample-model FILE (repeatable, in "
                "pipeline order) and --sample-event FILE"
            )
    for path in options.samples:
        if not path.is_file():
            raise UsageError(f"sample file {path} does not exist")
    if options.sourceless and not options.bytecode:
        raise UsageError("--sourceless replaces sources by bytecode: drop --no-bytecode")
    if options.sourceless and options.keep_sources:
        raise UsageError("--sourceless and --keep-sources contradict each other: pick one")


def ships_sourceless(options: BuildOptions) -> bool:
    """--sourceless, or --prune (the smallest layer) unless --keep-sources or --no-bytecode."""
    if not options.bytecode:
        return False
    return options.sourceless or (options.prune and not options.keep_sources)


def choose_builder(requested: str, progress: Progress) -> str:
    """``pip`` or ``docker``; ``auto`` takes Docker when an engine answers, and says which."""
    from mlayer.layerbuild.docker import engine_answers

    if requested not in BUILDERS:
        raise UsageError(f"unknown builder {requested!r}; choose one of {', '.join(BUILDERS)}")
    if requested != "auto":
        return requested
    answers, why = engine_answers()
    if answers:
        progress.message(
            "builder: docker (a Docker engine answers; --builder pip to build without)"
        )
        return "docker"
    progress.message(f"builder: pip (no Docker engine answers: {why})")
    return "pip"


def cache_inputs(options: BuildOptions, builder: str, image: str | None) -> dict[str, Any]:
    """Everything that decides the zip's bytes, for the cache key and the manifest."""
    included = read_requirements(options.requirements).files
    traced = options.prune or options.defer_imports  # the samples decide the zip
    return {
        "mlayer": __version__,
        "requirements_sha256": sha256_file(options.requirements),
        # the -r/-c files it names decide the install too (absent when none, so the
        # key of a build without them is what it was)
        **({"included_sha256": [sha256_file(p) for p in included]} if included else {}),
        "runtime": options.target.runtime,
        "arch": options.target.arch,
        "builder": builder,
        "image": image,
        "slim": options.slim,
        "bytecode": options.bytecode,
        "sourceless": ships_sourceless(options),
        "no_deps": options.no_deps,
        "prune": options.prune,
        "sample_models": [sha256_file(p) for p in options.sample_models] if traced else [],
        "sample_event": sha256_file(options.sample_event)
        if traced and options.sample_event
        else None,
        # only when asked, so the key of a build without it is what it was
        **({"defer_imports": True} if options.defer_imports else {}),
    }
