"""publish-model: check the model files, zip them with their manifest, gate, publish.

Refusals come before anything is published: a file the pickle scan refuses
(``mlayer.model``), a module the deps layer lacks (``check_modules``), a
version the deps layer cannot load (``gate_publish``: against the newest
published deps layer, else the local build). Identical files are not
published again unless ``--force``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlayer import gate
from mlayer.arns import short_arn
from mlayer.aws import Aws
from mlayer.contract import MANIFEST_NAME, MODEL_DIR, content_id
from mlayer.descriptions import deferred_of, deps_fields, model_fields
from mlayer.errors import UsageError
from mlayer.gate import GateResult
from mlayer.layerbuild.archive import ZipSummary, directory_entries, write_zip
from mlayer.layerbuild.build_options import Progress
from mlayer.layerbuild.manifest import (
    MANIFEST_FILE,
    check_model_modules,
    deferred_modules,
    read_manifest,
)
from mlayer.layerbuild.requirements import pinned_versions
from mlayer.model import ModelManifest, build_manifest
from mlayer.ops.layers import Published, publish_layer_zip
from mlayer.settings import Settings
from mlayer.state import LayerVersion
from mlayer.targets import resolve_target

MODEL_ZIP_NAME = "model-layer.zip"


def package_model(
    files: list[Path],
    label: str | None,
    out: Path,
    *,
    trust_globals: tuple[str, ...] = (),
    allow_version_mismatch: bool = False,
) -> tuple[ModelManifest, ZipSummary]:
    """Check the joblib files and zip them with their manifest under
    mlayer-model/<content id>/, so that the layer can sit beside another model layer.

    Only ``out/model-layer.zip`` is written (atomically replaced); the files are
    staged in a fresh temporary directory removed afterwards, so nothing in
    ``out`` that mlayer did not create is touched (``--out .`` may hold the
    user's own ``model/``).
    """
    manifest = build_manifest(
        files,
        label,
        trust_globals=trust_globals,
        allow_version_mismatch=allow_version_mismatch,
    )
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".mlayer-model-", dir=out))
    try:
        staging = work / MODEL_DIR / content_id(manifest.content_sha256)
        staging.mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, staging / path.name)
        (staging / MANIFEST_NAME).write_text(manifest.to_json())
        summary = write_zip(directory_entries(work), out / MODEL_ZIP_NAME)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest, summary


def publish_model(
    settings: Settings,
    files: list[Path],
    *,
    aws: Aws,
    force: bool,
    progress: Progress,
    dry_run: bool = False,
) -> tuple[ModelManifest, ZipSummary, Published | None]:
    """Check, zip and publish the model files; no Published on a dry run."""
    layer_name = settings.model_layer
    manifest, summary = package_model(
        files,
        settings.label,
        Path(settings.out),
        trust_globals=settings.trust_global,
        allow_version_mismatch=settings.allow_version_mismatch,
    )
    deps_name = settings.deps_layer_name or settings.function_name
    deps = next(iter(aws.layer_versions(settings.deps_layer)), None) if deps_name else None
    check_modules(settings, deps, [(f, manifest.modules[f.name]) for f in files])
    warn_deferred(settings, deps, manifest, progress)
    checked = gate_publish(settings, manifest, deps)  # refuses before anything is published
    for note in checked.notes() if checked else ("no deps layer to check the versions against",):
        progress.message(note)
    newest = next(iter(aws.layer_versions(layer_name)), None)
    newest_sha = model_fields(newest.description).get("sha256") if newest else None
    if newest and not force and newest_sha == manifest.content_sha256[:16]:
        progress.message(
            f"{layer_name}:{newest.version} already holds these model files; not publishing "
            "(--force publishes anyway)"
        )
        return manifest, summary, Published(newest.version, newest.arn, new=False)
    published = publish_layer_zip(
        aws,
        settings,
        layer_name,
        summary,
        description=manifest.description(summary.unzipped_bytes),
        announce=f"publishing {len(files)} model file(s) as a new version of {layer_name}",
        progress=progress,
        dry_run=dry_run,
    )
    return manifest, summary, published


def local_deps_versions(settings: Settings) -> tuple[dict[str, str], str] | None:
    """The deps versions of the local build (its manifest, else the pinned
    requirements), for publish-model when no deps layer is published yet."""
    out = Path(settings.out)
    data = read_manifest(out)
    if data:
        versions = {
            name: str(info["version"])
            for name, info in (data.get("packages") or {}).items()
            if isinstance(info, dict) and info.get("version")
        }
        versions["python"] = str(data.get("runtime") or settings.runtime).removeprefix("python")
        if len(versions) > 1:
            return versions, str(out / MANIFEST_FILE)
    if settings.requirements and Path(settings.requirements).is_file():
        versions = pinned_versions(Path(settings.requirements))
        versions["python"] = resolve_target(settings.runtime, settings.arch).python_dotted
        return versions, settings.requirements
    return None


def check_modules(
    settings: Settings, deps: LayerVersion | None, files: list[tuple[Path, frozenset[str]]]
) -> None:
    """Refuse a model whose pickle names a module the deps layer lacks, before publishing.

    A pruned deps layer holds only the modules its sample model used. The local
    build manifest lists what a layer holds; a pruned layer published from another
    build cannot be checked, so it is refused rather than trusted.
    """
    out = Path(settings.out)
    described = deps_fields(deps.description) if deps else {}
    built = read_manifest(out)
    if described.get("pruned") and (built or {}).get("sha256", "")[:16] != described.get("sha256"):
        assert deps is not None
        raise UsageError(
            f"deps layer {short_arn(deps.arn)} is pruned to the modules of its sample model, "
            f"and {out / MANIFEST_FILE} is not its build manifest, so this model cannot be "
            "checked against it: pass --out with the build directory that published it, "
            "or rebuild and publish the deps layer with --prune --sample-model for this model"
        )
    check_model_modules(out, files)


def gate_publish(
    settings: Settings, manifest: ModelManifest, newest: LayerVersion | None
) -> GateResult | None:
    """publish-model's gate: against the newest published deps layer, else the local
    build's manifest or requirements; None when there is nothing to compare with."""
    if newest is not None and deps_fields(newest.description):
        deps, deps_ref = deps_fields(newest.description), short_arn(newest.arn)
    else:
        local = local_deps_versions(settings)
        if local is None:
            return None
        deps, deps_ref = local
    return gate.check(
        manifest.trained_with,
        deps,
        model_ref=f"{manifest.label or manifest.content_sha256[:16]} (being published)",
        deps_ref=deps_ref,
        allow=settings.allow_version_mismatch,
    )


def deferred_named(
    modules: Mapping[str, frozenset[str]], deferred: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(file, module its pickles name, the deferred module it is in or is) for each
    module of the model that a deps layer defers."""
    found = []
    for file, named in sorted(modules.items()):
        for module in sorted(named):
            for name in deferred:
                if module == name or module.startswith(name + "."):
                    found.append((file, module, name))
                    break
    return found


def warn_deferred(
    settings: Settings, deps: LayerVersion | None, manifest: ModelManifest, progress: Progress
) -> None:
    """Warn when the model's pickles name a module the deps layer defers (build-deps
    --defer-imports decided from another model): it still loads, at cold start."""
    if deps is not None and deps_fields(deps.description):
        named, _more = deferred_of(deps_fields(deps.description))
        layer = short_arn(deps.arn)
    else:
        named = deferred_modules(read_manifest(Path(settings.out)) or {})
        layer = f"the deps layer built in {settings.out}"
    hits = deferred_named(manifest.modules, named)
    if hits:
        file, module, deferred = hits[0]
        others = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
        progress.warning(
            f"{file} names {module}{others}, which {layer} defers ({deferred}): it loads when "
            "the model is loaded, so the cold start pays for it; rebuild the deps layer with "
            "--defer-imports --sample-model for this model to defer only what it never uses"
        )
