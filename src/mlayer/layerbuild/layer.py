"""Build the dependency layer: install, check, slim, compile, verify, zip.

The layer's files sit under ``python/`` in the zip, which Lambda mounts at
/opt/python, a directory already on its ``sys.path``. The stages, in order:

1. install with pip (target tags) or in a Docker build image;
2. check every installed wheel's tags against the target (``dists``);
3. slim (``slim``), and with ``--prune`` keep only what a traced sample run used;
4. compile PEP 552 unchecked-hash bytecode with the target's Python;
5. verify in a fresh isolated interpreter (``verify``), and with ``--prune``
   compare the sample's predictions with the unpruned layer's;
6. check the size budget, zip reproducibly, write the build manifest.

An unchanged rebuild (same requirements, target, builder and options) reuses
the zip. This stage never calls AWS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from mlayer import __version__
from mlayer.errors import BuildError, UsageError
from mlayer.layerbuild import budget as budgets
from mlayer.layerbuild.archive import ZipSummary, directory_entries, sha256_file, write_zip
from mlayer.layerbuild.dists import (
    Distribution,
    check_wheel_tags,
    package_sizes,
    read_distributions,
    rewrite_records,
    tree_size,
    versions_of,
)
from mlayer.layerbuild.manifest import MANIFEST_FILE, cache_key, read_manifest, write_manifest
from mlayer.layerbuild.pip import pip_install
from mlayer.layerbuild.prune import prune, strip_extensions
from mlayer.layerbuild.requirements import read_requirements
from mlayer.layerbuild.slim import SlimReport, slim
from mlayer.layerbuild.verify import Python, compile_bytecode, local_python, probe, verify_imports
from mlayer.targets import Target

if TYPE_CHECKING:
    from mlayer.layerbuild.docker import DockerBuilder

DEPS_ZIP_NAME = "deps-layer.zip"
BUILDERS = ("auto", "pip", "docker")


@contextlib.contextmanager
def _no_bar(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
    yield lambda _: None


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
    sample_models: tuple[Path, ...] = ()
    sample_event: Path | None = None
    text_field: str = "textblob"
    text_is_json: bool = False
    reserved_bytes: int = 0  # model layer + function, out of Lambda's 262,144,000
    use_cache: bool = True


@dataclass(frozen=True)
class Progress:
    """Where a build reports what it is doing; the CLI passes click-backed callables."""

    message: Callable[[str], None] = lambda _: None
    detail: Callable[[str], None] = lambda _: None
    warning: Callable[[str], None] = lambda _: None
    # bar(label, total) -> context manager yielding update(n)
    bar: Callable[[str, int], AbstractContextManager[Callable[[int], None]]] = _no_bar


@dataclass(frozen=True)
class DepsBuild:
    """The result of ``build_deps_layer``."""

    zip: ZipSummary
    manifest: dict[str, Any]
    cached: bool
    slim: SlimReport | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def versions(self) -> dict[str, str]:
        return {name: p["version"] for name, p in self.manifest["packages"].items()}

    @property
    def budget(self) -> budgets.LayerBudget:
        sizes = self.manifest["sizes"]
        return budgets.LayerBudget(sizes["unzipped"], sizes["zipped"], sizes["reserved"])


def check_requirements(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"requirements file {path} does not exist")
    if not os.access(path, os.R_OK):
        raise UsageError(f"requirements file {path} is not readable")
    try:
        path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"requirements file {path} cannot be read: {exc}") from exc


def pinned_versions(requirements: Path) -> dict[str, str]:
    """``name -> version`` for every requirement pinned with ``==`` (names canonical),
    in the file and the ``-r`` files it names, whatever else pip's syntax puts on the
    line (``--hash``, markers, continuations)."""
    pins: dict[str, str] = {}
    for entry in read_requirements(requirements).lines:
        if entry.requirement is None:
            continue
        for spec in entry.requirement.specifier:
            if spec.operator in ("==", "==="):
                pins[canonicalize_name(entry.requirement.name)] = spec.version
    return pins


def check_all_pinned(requirements: Path) -> None:
    """``--no-deps`` installs exactly the listed versions: each must be pinned with ==."""
    for entry in read_requirements(requirements).lines:
        line, requirement = entry.text, entry.requirement
        if requirement is None:
            raise UsageError(
                f"{entry.path}: {line!r} cannot be used with --no-deps: list every "
                "package pinned with == (pip freeze gives that list)"
            )
        exact = [s for s in requirement.specifier if s.operator in ("==", "===")]
        if not exact or "*" in exact[0].version:
            raise UsageError(
                f"{entry.path}: {line!r} is not pinned: --no-deps needs every requirement "
                f"as name==version (e.g. {requirement.name}==X.Y.Z; pip freeze gives them)"
            )


# Short names keep the description within Lambda's 256 characters.
_SHORT = {"scikit-learn": "sklearn"}
DESCRIBED_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib")


def deps_description(
    target: Target, versions: dict[str, str], summary: ZipSummary, *, pruned: bool = False
) -> str:
    """The deps layer version's description, read back by the compatibility gate,
    deploy's size check and publish-model's module check: ``mlayer-deps
    runtime=python3.11 arch=x86_64 python=3.11 sklearn=1.7.2 ... unzipped=<bytes>
    [pruned=1] sha256=<16>``."""
    parts = [
        "mlayer-deps",
        f"runtime={target.runtime}",
        f"arch={target.arch}",
        f"python={target.python_dotted}",
    ]
    parts += [f"{_SHORT.get(n, n)}={versions[n]}" for n in DESCRIBED_PACKAGES if n in versions]
    parts.append(f"unzipped={summary.unzipped_bytes}")
    if pruned:
        parts.append("pruned=1")
    parts.append(f"sha256={summary.sha256[:16]}")
    return " ".join(parts)[:256]


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


def _check_options(options: BuildOptions) -> None:
    check_requirements(options.requirements)
    pinned_versions(options.requirements)  # refuses a line that does not parse
    if options.no_deps:
        check_all_pinned(options.requirements)
    if options.prune and (not options.sample_models or options.sample_event is None):
        raise UsageError(
            "--prune needs the model to trace: --sample-model FILE (repeatable, in "
            "pipeline order) and --sample-event FILE"
        )
    for path in [*options.sample_models, *([options.sample_event] if options.sample_event else [])]:
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


def _inputs(options: BuildOptions, builder: str, image: str | None) -> dict[str, Any]:
    """Everything that decides the zip's bytes, for the cache key and the manifest."""
    included = read_requirements(options.requirements).files
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
        "sample_models": [sha256_file(p) for p in options.sample_models] if options.prune else [],
        "sample_event": sha256_file(options.sample_event)
        if options.prune and options.sample_event
        else None,
    }


def _cached(options: BuildOptions, key: str) -> DepsBuild | None:
    manifest = read_manifest(options.out)
    zip_path = options.out / DEPS_ZIP_NAME
    if not manifest or manifest.get("cache_key") != key or not zip_path.is_file():
        return None
    if sha256_file(zip_path) != manifest.get("sha256"):
        return None  # the zip was changed or replaced since: rebuild
    reserved = options.reserved_bytes
    manifest["sizes"]["reserved"] = reserved
    summary = ZipSummary(
        zip_path,
        manifest["sha256"],
        manifest["sizes"]["zipped"],
        manifest["sizes"]["unzipped"],
        manifest["entries"],
    )
    return DepsBuild(summary, manifest, cached=True)


def _link_tree(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` with hard links (instant; later steps only delete
    files or replace them whole, so the source stays as installed)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, dest, copy_function=link, symlinks=True)


def build_deps_layer(options: BuildOptions, progress: Progress = Progress()) -> DepsBuild:
    """Install the requirements for the target, make them small and fast, verify, zip."""
    _check_options(options)
    target = options.target
    builder = choose_builder(options.builder, progress)
    image = (options.image or target.build_image) if builder == "docker" else None
    inputs = _inputs(options, builder, image)
    key = cache_key(inputs)
    if options.use_cache:
        cached = _cached(options, key)
        if cached:
            progress.message(
                f"reusing {cached.zip.path}: requirements, target and options are unchanged "
                f"since it was built (sha256 {cached.zip.sha256[:16]}; --no-cache rebuilds)"
            )
            return cached

    # The build's trees live in a fresh directory of mlayer's own: only the zip and
    # its manifest are written into --out, so nothing there that mlayer did not
    # create is touched (--out . may hold the user's own deps/).
    options.out.mkdir(parents=True, exist_ok=True)
    for stale in (options.out / DEPS_ZIP_NAME, options.out / MANIFEST_FILE):
        stale.unlink(missing_ok=True)  # mlayer's own outputs: no stale zip after a failure
    work = Path(tempfile.mkdtemp(prefix=".mlayer-build-", dir=options.out))
    try:
        docker = _docker_builder(options, image, work, progress) if builder == "docker" else None
        built = _build(options, docker, inputs, key, work, progress)
    except BaseException as exc:
        # Kept only when the error names it (the unslimmed tree, for comparison).
        shutil.rmtree(work / "deps", ignore_errors=True)
        if str(work) not in str(exc):
            shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return built


def _docker_builder(
    options: BuildOptions, image: str | None, work: Path, progress: Progress
) -> DockerBuilder:
    """The Docker builder, seeing only the build's inputs and ``work`` (see docker.py)."""
    from mlayer.layerbuild.docker import DockerBuilder, build_inputs, default_ca_bundle

    samples = [*options.sample_models, *([options.sample_event] if options.sample_event else [])]
    docker = DockerBuilder(
        options.target,
        image or options.target.build_image,
        mounts=build_inputs(options.requirements, samples),
        writable=[work],
        host_network=options.host_network,
        ca_bundle=options.ca_bundle or default_ca_bundle(),
        on_line=progress.detail,
    )
    docker.ensure_image()
    docker.python()  # refuses an image with the wrong Python before any work
    return docker


def _build(
    options: BuildOptions,
    docker: DockerBuilder | None,
    inputs: dict[str, Any],
    key: str,
    work: Path,
    progress: Progress,
) -> DepsBuild:
    """Install, check, slim, prune, compile, verify and zip, in ``work``."""
    target = options.target
    full = work / "deps-unslimmed"
    staging = work / "deps"
    full_site = full / target.site_packages
    full_site.mkdir(parents=True)

    # 1. install
    pinned_tags = True
    if docker:
        progress.message(f"installing {options.requirements} in {docker.image}")
        pinned_tags = docker.install(options.requirements, full_site, no_deps=options.no_deps)
        if pinned_tags:
            progress.message(
                f"  (the image's glibc is newer than {target.runtime}'s {target.glibc_dotted}: "
                "pip was held to the target's wheel tags)"
            )
    else:
        progress.message(
            f"installing {options.requirements} for {target.runtime}/{target.arch} with pip"
        )
        pip_install(
            options.requirements,
            target,
            full_site,
            no_deps=options.no_deps,
            on_line=progress.detail,
        )

    # 2. what was installed may load on the target
    dists = read_distributions(full_site)
    if not dists:
        raise BuildError(f"{options.requirements} installed nothing")
    check_wheel_tags(dists, target, built_in_image=not pinned_tags)
    top_level = sorted({name for d in dists for name in d.top_level})
    installed_bytes = tree_size(full_site)

    site = staging / target.site_packages
    staging.mkdir(parents=True)
    _link_tree(full_site, site)
    keep_note = f"; the unslimmed build is kept in {full} for comparison"

    # 3. slim and prune
    slim_report = None
    if options.slim:
        progress.message("slimming (tests, sources, headers, stubs, docs, host bytecode)")
        slim_report = slim(site)
        for line in slim_report.lines():
            progress.detail(line)
        progress.message(f"  removed {slim_report.saved_bytes / 1e6:.1f} MB")

    python: Python | None = docker if docker else local_python(target)
    warnings: list[str] = []
    if python is None:
        warnings.append(
            f"no Python {target.python_dotted} for {target.machine} on this machine: "
            "the layer is not verified and has no bytecode (cold starts compile every module); "
            "install python"
            f"{target.python_dotted} or use --builder docker"
        )
        if options.prune or ships_sourceless(options):
            raise BuildError(
                f"--prune and --sourceless need to run Python {target.python_dotted} "
                f"({target.machine}): install it, or use --builder docker"
            )

    kept_modules: list[str] | None = None
    reference: list[Any] | None = None
    if options.prune and python is not None:
        progress.message(f"tracing the sample model in {python.description}")
        trace = _run_sample(python, site, top_level, options, trace=True)
        reference = trace.predictions
        removed, saved = prune(site, trace.files)
        saved += strip_extensions(site, target.machine)
        kept_modules = sorted(trace.modules)
        progress.message(
            f"  pruned {removed} files, {saved / 1e6:.1f} MB; kept {len(trace.files)} files "
            f"({len(kept_modules)} modules)"
        )

    # 4. bytecode
    if options.bytecode and python is not None:
        progress.message(
            f"compiling unchecked-hash bytecode with {python.description}"
            + (" (sourceless)" if ships_sourceless(options) else "")
        )
        count, failed = compile_bytecode(python, site, sourceless=ships_sourceless(options))
        progress.detail(
            f"{count} modules compiled" + (f", {len(failed)} left as source" if failed else "")
        )

    # What the layer holds now, not what pip installed (read by importlib.metadata).
    rewrite_records(site, target.cache_tag)

    # 5. verify
    if python is not None:
        progress.message(
            f"verifying: importing {', '.join(top_level)} in a fresh {python.description}"
        )
        verify_imports(python, site, top_level, keep_note=keep_note)
        if reference is not None:
            pruned = _run_sample(python, site, top_level, options, trace=False)
            if pruned.predictions != reference:
                raise BuildError(
                    "verification failed: the pruned layer predicts differently from the full "
                    f"one on {options.sample_event}{keep_note}"
                )
            progress.message(f"  the pruned layer predicts the same {len(reference)} results")
    for warning in warnings:
        progress.warning(warning)

    # 6. budget, zip, manifest
    sizes = package_sizes(site, dists)
    unzipped = tree_size(site)
    over = budgets.LayerBudget(unzipped, 0, options.reserved_bytes)
    if not over.fits:
        raise BuildError(budgets.over_budget_message(over, sizes) + keep_note.replace(";", ","))
    entries = directory_entries(staging)
    with progress.bar("zipping", unzipped) as update:
        # Built once, uploaded and extracted on every cold start: worth the best compression.
        summary = write_zip(entries, options.out / DEPS_ZIP_NAME, on_entry=update, compresslevel=9)
    layer_budget = budgets.LayerBudget(
        summary.unzipped_bytes, summary.zipped_bytes, options.reserved_bytes
    )
    manifest = _manifest(
        options, inputs, key, dists, sizes, summary, layer_budget, installed_bytes, kept_modules
    )
    write_manifest(options.out, manifest)
    shutil.rmtree(full, ignore_errors=True)
    return DepsBuild(summary, manifest, cached=False, slim=slim_report, warnings=warnings)


def _run_sample(
    python: Python, site: Path, top_level: list[str], options: BuildOptions, *, trace: bool
) -> Any:
    assert options.sample_event is not None
    result = probe(
        python,
        site,
        imports=top_level,
        models=options.sample_models,
        event=options.sample_event,
        text_field=options.text_field,
        text_is_json=options.text_is_json,
        trace=trace,
    )
    stage = "unpruned" if trace else "pruned"
    if result.failed:
        name, reason = next(iter(result.failed.items()))
        raise BuildError(f"the {stage} layer cannot import {name}: {reason}")
    if result.error or result.predictions is None:
        raise BuildError(
            f"the sample model failed on the {stage} layer: {result.error} "
            "(check --sample-model order, --sample-event, --text-field)"
        )
    return result


def _manifest(
    options: BuildOptions,
    inputs: dict[str, Any],
    key: str,
    dists: list[Distribution],
    sizes: dict[str, int],
    summary: ZipSummary,
    budget: budgets.LayerBudget,
    installed_bytes: int,
    kept_modules: list[str] | None,
) -> dict[str, Any]:
    target = options.target
    return {
        "cache_key": key,
        "inputs": inputs,
        "runtime": target.runtime,
        "arch": target.arch,
        "python": target.python_dotted,
        "glibc": target.glibc_dotted,
        "platform_tags": list(target.platform_tags),
        "packages": {
            d.name: {
                "version": d.version,
                "tags": list(d.tags),
                "top_level": list(d.top_level),
                "bytes": sizes.get(d.name, 0),
            }
            for d in dists
        },
        "versions": versions_of(dists),
        "sizes": {
            "installed": installed_bytes,
            "unzipped": summary.unzipped_bytes,
            "zipped": summary.zipped_bytes,
            "reserved": budget.reserved_bytes,
        },
        "upload": budget.upload,
        "sha256": summary.sha256,
        "entries": summary.entries,
        "modules": kept_modules,
    }
