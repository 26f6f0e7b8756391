"""build-deps: build the deps layer zip for the runtime, and publish it if asked.

The build itself is ``mlayer.layerbuild`` (no AWS); this module chooses the
options from the settings, reserves room for the model and the code in
Lambda's size budget, and publishes through ``ops.layers``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mlayer.aws import Aws
from mlayer.descriptions import deps_description
from mlayer.errors import UsageError
from mlayer.layerbuild.archive import ZipSummary, lambda_sha256, summarize_zip
from mlayer.layerbuild.build_options import BuildOptions, Progress
from mlayer.layerbuild.layer import DepsBuild, build_deps_layer
from mlayer.layerbuild.manifest import deferred_modules
from mlayer.layerbuild.pins import Source, installed_metadata, pins_for_model, requirement_lines
from mlayer.model import inspect_model_file
from mlayer.ops.code import FUNCTION_ZIP_NAME, handler_dir
from mlayer.ops.layers import Published, publish_layer_zip
from mlayer.ops.model import MODEL_ZIP_NAME
from mlayer.settings import Settings
from mlayer.targets import Target, check_runtime_dates, resolve_target


@dataclass(frozen=True)
class LayerBuild:
    zip: ZipSummary
    published: Published | None
    build: DepsBuild | None = None
    pins: dict[str, str] | None = None  # --for-model: what was pinned from this environment


def build_deps(
    settings: Settings,
    *,
    publish: bool,
    aws: Callable[[], Aws],
    progress: Progress,
    use_cache: bool = True,
    dry_run: bool = False,
    today: date | None = None,
) -> LayerBuild:
    if settings.for_model and settings.requirements:
        raise UsageError(
            "--for-model and -r exclude each other: pin from the model files (--for-model) "
            "or from a requirements file (-r), not both"
        )
    if not settings.requirements and not settings.for_model:
        raise UsageError("no requirements file: pass -r requirements.txt (or --for-model FILE)")
    target = resolve_target(settings.runtime, settings.arch)
    # A layer is built for new functions: refused past AWS's block-create date.
    deprecated = check_runtime_dates(
        target.runtime,
        today or date.today(),
        allow_deprecated=settings.allow_deprecated_runtime,
    )
    if deprecated:
        progress.warning(deprecated)
    layer_name = settings.deps_layer if publish else None
    pins = _pin_for_model(settings, target, progress) if settings.for_model else None
    requirements = Path(settings.out) / FOR_MODEL_REQUIREMENTS if pins else settings.requirements
    assert requirements is not None
    built = build_deps_layer(
        BuildOptions(
            Path(requirements),
            target,
            Path(settings.out),
            builder=settings.builder,
            image=settings.image,
            host_network=settings.host_network,
            ca_bundle=settings.ca_bundle,
            slim=settings.slim,
            bytecode=settings.bytecode,
            sourceless=settings.sourceless,
            keep_sources=settings.keep_sources,
            no_deps=settings.no_deps,
            prune=settings.prune,
            defer_imports=settings.defer_imports,
            sample_models=tuple(Path(p) for p in settings.sample_models),
            sample_event=Path(settings.sample_event) if settings.sample_event else None,
            text_field=settings.text_field,
            text_is_json=settings.text_is_json,
            reserved_bytes=_reserved_bytes(settings),
            use_cache=use_cache,
        ),
        progress,
    )
    published = None
    if publish and layer_name:
        client = aws()
        summary = built.zip
        # Lambda keeps every version; an unchanged rebuild (a byte-identical zip) is not one.
        newest = next(iter(client.layer_versions(layer_name)), None)
        if newest and newest.code_sha256 == lambda_sha256(summary.sha256):
            progress.message(f"{layer_name}:{newest.version} already has this zip; not publishing")
            unchanged = Published(newest.version, newest.arn, new=False)
            return LayerBuild(summary, unchanged, built, pins)
        published = publish_layer_zip(
            client,
            settings,
            layer_name,
            summary,
            description=deps_description(
                target,
                built.versions,
                summary,
                pruned=built.manifest.get("modules") is not None,
                deferred=deferred_modules(built.manifest),
                saved_ms=(built.manifest.get("deferred") or {}).get("saved_ms"),
            ),
            announce=f"publishing {summary.path} ({summary.zipped_bytes / 1e6:.1f} MB) "
            f"as {layer_name}",
            progress=progress,
            dry_run=dry_run,
        )
    return LayerBuild(built.zip, published, built, pins)


# What --for-model writes in --out and builds, as if it were passed with -r.
FOR_MODEL_REQUIREMENTS = "for-model-requirements.txt"


def _pin_for_model(settings: Settings, target: Target, progress: Progress) -> dict[str, str]:
    """Pin what the model files need from this environment, write it, say it."""
    sources = [Source(f, inspect_model_file(Path(f)).modules) for f in settings.for_model]
    pins = pins_for_model(sources, installed_metadata(), target)
    path = Path(settings.out) / FOR_MODEL_REQUIREMENTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(requirement_lines(pins, settings.for_model, target)) + "\n")
    progress.message(f"pinned from this environment for the model, written to {path}:")
    for name, version in sorted(pins.items()):
        progress.message(f"  {name}=={version}")
    return pins


def _reserved_bytes(settings: Settings) -> int:
    """What the model layer and the function take of Lambda's 262 MB (measured when
    they were built, else the sample models and the handler's files), plus --reserve-mb."""
    out = Path(settings.out)
    model_zip = out / MODEL_ZIP_NAME
    if model_zip.is_file():
        model = summarize_zip(model_zip).unzipped_bytes
    else:
        model = sum(Path(p).stat().st_size for p in settings.sample_models if Path(p).is_file())
    code_zip = out / FUNCTION_ZIP_NAME
    if code_zip.is_file():
        code = summarize_zip(code_zip).unzipped_bytes
    else:
        try:
            code = sum(p.stat().st_size for p in handler_dir(settings).glob("*.py"))
        except UsageError:
            code = 0
    return model + code + settings.reserve_mb * 1_000_000
