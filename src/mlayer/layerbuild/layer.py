"""Build the dependency layer: install, check, slim, compile, verify, zip.

The layer's files sit under ``python/`` in the zip, which Lambda mounts at
/opt/python, a directory already on its ``sys.path``. The stages, in order:

1. install with pip (target tags) or in a Docker build image;
2. check every installed wheel's tags against the target (``dists``);
3. slim (``slim``), and with ``--prune`` keep only what a traced sample run used;
4. compile PEP 552 unchecked-hash bytecode with the target's Python, and with
   ``--defer-imports`` decide by a traced sample which modules the handler defers
   (``defer``);
5. verify in a fresh isolated interpreter (``verify``), and with ``--prune``
   compare the sample's predictions with the unpruned layer's;
6. check the size budget, zip reproducibly, write the build manifest.

An unchanged rebuild (same requirements, target, builder and options) reuses
the zip. This stage never calls AWS. The options and their checks are in
``build_options``; the manifest and the cache hit in ``manifest``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.descriptions import deps_description  # its owner; re-exported (__all__)
from mlayer.errors import BuildError
from mlayer.layerbuild import budget as budgets
from mlayer.layerbuild import defer as deferral
from mlayer.layerbuild.archive import ZipSummary, directory_entries, write_zip
from mlayer.layerbuild.build_options import (
    BuildOptions,
    Progress,
    cache_inputs,
    check_options,
    choose_builder,
    ships_sourceless,
)
from mlayer.layerbuild.dists import (
    check_wheel_tags,
    package_sizes,
    read_distributions,
    rewrite_records,
    tree_size,
)
from mlayer.layerbuild.manifest import (
    DEPS_ZIP_NAME,
    MANIFEST_FILE,
    cache_key,
    cached_zip,
    deps_manifest,
    write_manifest,
)
from mlayer.layerbuild.pip import pip_install
from mlayer.layerbuild.prune import prune, strip_extensions
from mlayer.layerbuild.requirements import pinned_versions
from mlayer.layerbuild.slim import SlimReport, slim
from mlayer.layerbuild.verify import Python, compile_bytecode, local_python, probe, verify_imports

if TYPE_CHECKING:
    from mlayer.layerbuild.docker import DockerBuilder

# Imported from here by the CLI and the operations (their owners are in ``build_options``
# and ``requirements``).
__all__ = [
    "BuildOptions",
    "DepsBuild",
    "Progress",
    "build_deps_layer",
    "deps_description",
    "pinned_versions",
]

_QUIET = Progress()  # reports nothing


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


def _cached(options: BuildOptions, key: str) -> DepsBuild | None:
    hit = cached_zip(options.out, key)
    if hit is None:
        return None
    summary, manifest = hit
    manifest["sizes"]["reserved"] = options.reserved_bytes  # this build's, not the last one's
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


def build_deps_layer(options: BuildOptions, progress: Progress = _QUIET) -> DepsBuild:
    """Install the requirements for the target, make them small and fast, verify, zip."""
    check_options(options)
    target = options.target
    builder = choose_builder(options.builder, progress)
    image = (options.image or target.build_image) if builder == "docker" else None
    inputs = cache_inputs(options, builder, image)
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

    docker = DockerBuilder(
        options.target,
        image or options.target.build_image,
        mounts=build_inputs(options.requirements, options.samples),
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
        if options.prune or ships_sourceless(options) or options.defer_imports:
            raise BuildError(
                f"--prune, --sourceless and --defer-imports need to run Python "
                f"{target.python_dotted} "
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

    deferred: deferral.Deferral | None = None
    if options.defer_imports and python is not None:
        progress.message(f"tracing the sample model's imports in {python.description}")
        deferred = _defer(python, site, options, progress)

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
    manifest = deps_manifest(
        target,
        inputs,
        key,
        dists,
        sizes,
        summary,
        layer_budget,
        installed_bytes,
        kept_modules,
        deferred.manifest() if deferred is not None else None,
    )
    write_manifest(options.out, manifest)
    shutil.rmtree(full, ignore_errors=True)
    return DepsBuild(summary, manifest, cached=False, slim=slim_report, warnings=warnings)


def _defer(
    python: Python, site: Path, options: BuildOptions, progress: Progress
) -> deferral.Deferral:
    """Decide what the handler defers, write it into the layer, say it."""
    assert options.sample_event is not None
    sample = deferral.Sample(
        options.sample_models, options.sample_event, options.text_field, options.text_is_json
    )
    found = deferral.find_deferral(python, site, sample, on_detail=progress.detail)
    if not found.modules:
        progress.message("  nothing to defer: the sample model uses every heavy module it imports")
        return found
    deferral.write_layer_file(site, found)
    for module in found.modules:
        progress.detail(f"  {module.name}: {module.saved_ms:.0f} ms of imports")
    progress.message(
        f"  deferring {', '.join(found.names)}: the sample's import + load + predict "
        f"{found.without_ms:.0f} -> {found.with_ms:.0f} ms, predictions unchanged"
    )
    return found


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
