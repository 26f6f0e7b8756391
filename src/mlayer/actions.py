"""What each command does, wired from the stages: settings -> build or plan -> AWS.

Rules of the stages: ``build`` makes no AWS calls; ``plan`` makes no calls at
all; only ``aws`` talks to AWS and only ``executor`` changes anything there.
Every check that can refuse a command runs before the first change, so a
refusal leaves AWS as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlayer import executor
from mlayer.aws import Aws, FunctionState, LayerVersion, TriggerState, layer_name_of
from mlayer.build.archive import (
    ZipSummary,
    directory_entries,
    lambda_sha256,
    write_zip,
)
from mlayer.build.layer import (
    BuildOptions,
    Progress,
    build_deps_layer,
    deps_description,
    pinned_versions,
)
from mlayer.errors import MlayerError, NotFound, UsageError
from mlayer.model import MANIFEST_NAME, MODEL_DIR, ModelManifest, build_manifest, parse_description
from mlayer.plan import FunctionSpec, Plan, TriggerSpec, plan_deploy, plan_relink
from mlayer.settings import Settings
from mlayer.store import ArtifactStore, fetch_layer_zip
from mlayer.targets import resolve_target

HANDLER = "mlayer_handler.lambda_handler"
MODEL_ZIP_NAME = "model-layer.zip"
FUNCTION_ZIP_NAME = "function.zip"


@dataclass(frozen=True)
class Published:
    version: int
    arn: str
    new: bool = True  # False when an identical version already existed


@dataclass(frozen=True)
class LayerBuild:
    zip: ZipSummary
    published: Published | None


@dataclass(frozen=True)
class DeployResult:
    function_arn: str
    layers: tuple[str, ...]
    plan: Plan
    applied: bool


# --- build-deps ------------------------------------------------------------------


def build_deps(
    settings: Settings, *, publish: bool, aws: Callable[[], Aws], progress: Progress
) -> LayerBuild:
    if not settings.requirements:
        raise UsageError("no requirements file: pass -r requirements.txt")
    target = resolve_target(settings.runtime, settings.arch)
    layer_name = settings.deps_layer if publish else None
    summary = build_deps_layer(
        BuildOptions(Path(settings.requirements), target, Path(settings.out), settings.builder),
        progress,
    )
    published = None
    if publish and layer_name:
        published = _publish_zip(
            aws(),
            layer_name,
            summary,
            settings,
            deps_description(target, pinned_versions(Path(settings.requirements)), summary.sha256),
            progress,
        )
    return LayerBuild(summary, published)


def _publish_zip(
    aws: Aws,
    layer_name: str,
    summary: ZipSummary,
    settings: Settings,
    description: str,
    progress: Progress,
) -> Published:
    """Publish a layer zip unless the newest version already has exactly these bytes."""
    newest = next(iter(aws.layer_versions(layer_name)), None)
    if newest and newest.code_sha256 == lambda_sha256(summary.sha256):
        progress.message(f"{layer_name}:{newest.version} already has this zip; not publishing")
        return Published(newest.version, newest.arn, new=False)
    progress.message(
        f"publishing {summary.path} ({summary.zipped_bytes / 1e6:.1f} MB) as {layer_name}"
    )
    version = aws.publish_layer(
        layer_name,
        summary.path,
        runtime=settings.runtime,
        arch=settings.arch,
        description=description,
        bucket=settings.bucket,
        key=f"mlayer/{layer_name}/{summary.sha256}.zip",
    )
    artifact_store(settings).put(summary.path, summary.sha256)  # for invoke --local
    return Published(version.version, version.arn)


# --- publish-model ---------------------------------------------------------------


def package_model(
    files: list[Path], label: str | None, out: Path
) -> tuple[ModelManifest, ZipSummary]:
    """Check the joblib files and zip them with their manifest under mlayer-model/."""
    manifest = build_manifest(files, label)
    staging = out / "model" / MODEL_DIR
    shutil.rmtree(staging.parent, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in files:
        shutil.copyfile(path, staging / path.name)
    (staging / MANIFEST_NAME).write_text(manifest.to_json())
    summary = write_zip(directory_entries(staging.parent), out / MODEL_ZIP_NAME)
    return manifest, summary


def publish_model(
    settings: Settings, files: list[Path], *, aws: Aws, force: bool, progress: Progress
) -> tuple[ModelManifest, ZipSummary, Published]:
    layer_name = settings.model_layer
    manifest, summary = package_model(files, settings.label, Path(settings.out))
    newest = next(iter(aws.layer_versions(layer_name)), None)
    newest_sha = parse_description(newest.description).get("sha256") if newest else None
    if newest and not force and newest_sha == manifest.content_sha256[:16]:
        progress.message(
            f"{layer_name}:{newest.version} already holds these model files; not publishing "
            "(--force publishes anyway)"
        )
        return manifest, summary, Published(newest.version, newest.arn, new=False)
    progress.message(f"publishing {len(files)} model file(s) as a new version of {layer_name}")
    version = aws.publish_layer(
        layer_name,
        summary.path,
        runtime=settings.runtime,
        arch=settings.arch,
        description=manifest.description(),
        bucket=settings.bucket,
        key=f"mlayer/{layer_name}/{summary.sha256}.zip",
    )
    artifact_store(settings).put(summary.path, summary.sha256)  # for invoke --local
    return manifest, summary, Published(version.version, version.arn)


# --- the function's code ---------------------------------------------------------


def handler_dir(settings: Settings) -> Path:
    """handler/ of the checkout, or the copy shipped inside the installed package."""
    if settings.handler_dir:
        path = Path(settings.handler_dir)
        if not (path / "mlayer_handler.py").is_file():
            raise UsageError(f"--handler-dir {path} holds no mlayer_handler.py")
        return path
    packaged = Path(__file__).with_name("_handler")
    checkout = Path(__file__).resolve().parents[2] / "handler"
    for path in (checkout, packaged):
        if (path / "mlayer_handler.py").is_file():
            return path
    raise UsageError("cannot find the handler code: pass --handler-dir")


def function_zip(settings: Settings) -> ZipSummary:
    """Zip the handler's .py files reproducibly, so an unchanged handler is not redeployed."""
    source = handler_dir(settings)
    entries = [(name, path) for name, path in directory_entries(source) if name.endswith(".py")]
    return write_zip(entries, Path(settings.out) / FUNCTION_ZIP_NAME)


def handler_environment(settings: Settings) -> dict[str, str]:
    return {
        "MLAYER_TEXT_FIELD": settings.text_field,
        "MLAYER_TEXT_IS_JSON": "1" if settings.text_is_json else "0",
    }


# --- deploy and rollback ---------------------------------------------------------


def _newest(aws: Aws, layer_name: str, hint: str) -> LayerVersion:
    versions = aws.layer_versions(layer_name)
    if not versions:
        raise NotFound(f"layer {layer_name} has no version yet: run {hint} first")
    return versions[0]


def model_version(aws: Aws, layer_name: str, version: int) -> LayerVersion:
    """Version ``version`` of the model layer, or a refusal listing those that exist."""
    try:
        return aws.layer_version(layer_name, version)
    except NotFound:
        existing = sorted(v.version for v in aws.layer_versions(layer_name))
        listed = ", ".join(map(str, existing)) or "none"
        raise NotFound(
            f"model layer {layer_name} has no version {version} (existing: {listed})"
        ) from None


def plan_function(
    settings: Settings, aws: Aws, requested_model_version: int | None
) -> tuple[Plan, FunctionSpec, FunctionState | None]:
    """Read what exists, check every input, and plan the deploy (no changes)."""
    name = settings.require_function_name()
    target = resolve_target(settings.runtime, settings.arch)
    current = aws.function(name)
    triggers: list[TriggerState] = aws.triggers(name) if current else []

    role = settings.role or (current.role if current else None)
    if not role:
        raise UsageError(
            f"function {name} does not exist yet: pass --role ARN (its execution role)"
        )
    stream_arn = settings.stream_arn or (triggers[0].source_arn if len(triggers) == 1 else None)
    if not stream_arn:
        raise UsageError("no stream to trigger from: pass --stream-arn ARN (a Kinesis stream)")
    if ":kinesis:" in stream_arn and not aws.stream_exists(stream_arn):
        raise NotFound(f"Kinesis stream {stream_arn} not found: create it or fix --stream-arn")

    deps = _newest(aws, settings.deps_layer, "mlayer build-deps --publish")
    model = (
        model_version(aws, settings.model_layer, requested_model_version)
        if requested_model_version is not None
        else _newest(aws, settings.model_layer, "mlayer publish-model")
    )
    code = function_zip(settings)
    spec = FunctionSpec(
        name=name,
        role=role,
        runtime=target.runtime,
        handler=HANDLER,
        arch=target.arch,
        memory=settings.memory,
        timeout=settings.timeout,
        code_sha256=lambda_sha256(code.sha256),
        layers=(deps.arn, model.arn),
        environment=tuple(sorted(handler_environment(settings).items())),
    )
    trigger = TriggerSpec(stream_arn, settings.batch_size, settings.starting_position)
    return plan_deploy(spec, current, trigger, triggers), spec, current


def deploy(
    settings: Settings,
    aws: Aws,
    *,
    model_version: int | None,
    dry_run: bool,
    on_step: Callable[[str], None],
) -> DeployResult:
    plan, spec, current = plan_function(settings, aws, model_version)
    code_path = Path(settings.out) / FUNCTION_ZIP_NAME
    if not dry_run:
        executor.apply(plan, aws, code=code_path.read_bytes, on_step=on_step)
    arn = current.arn if current else _function_arn(aws, spec.name, dry_run)
    return DeployResult(arn, spec.layers, plan, applied=not dry_run)


def _function_arn(aws: Aws, name: str, dry_run: bool) -> str:
    state = None if dry_run else aws.function(name)
    return state.arn if state else f"(new) {name}"


def rollback(
    settings: Settings, aws: Aws, *, version: int, dry_run: bool, on_step: Callable[[str], None]
) -> DeployResult:
    name = settings.require_function_name()
    current = aws.function(name)
    if current is None:
        raise NotFound(f"function {name} does not exist: run mlayer deploy first")
    target = model_version(aws, settings.model_layer, version)
    try:
        plan = plan_relink(current, target.arn)
    except ValueError as exc:
        raise UsageError(f"{exc}: run mlayer deploy to link it") from exc
    if not dry_run:
        executor.apply(plan, aws, code=lambda: b"", on_step=on_step)
    layers = tuple(target.arn if layer_name_of(a) == target.name else a for a in current.layers)
    return DeployResult(current.arn, layers, plan, applied=not dry_run)


# --- status and versions ---------------------------------------------------------


@dataclass(frozen=True)
class Status:
    function: FunctionState | None
    triggers: list[TriggerState] = field(default_factory=list)


def status(settings: Settings, aws: Aws) -> Status:
    name = settings.require_function_name()
    current = aws.function(name)
    return Status(current, aws.triggers(name) if current else [])


@dataclass(frozen=True)
class ModelVersionInfo:
    version: int
    arn: str
    created: str
    label: str
    sha256: str
    live: bool
    details: dict[str, str]


def versions(settings: Settings, aws: Aws) -> list[ModelVersionInfo]:
    layer_name = settings.model_layer
    current = aws.function(settings.require_function_name())
    linked = set(current.layers) if current else set()
    rows = []
    for item in aws.layer_versions(layer_name):
        details = parse_description(item.description)
        rows.append(
            ModelVersionInfo(
                version=item.version,
                arn=item.arn,
                created=item.created,
                label=details.get("label", "-"),
                sha256=details.get("sha256", "-"),
                live=item.arn in linked,
                details=details,
            )
        )
    return rows


# --- invoke --local ---------------------------------------------------------------


def artifact_store(settings: Settings) -> ArtifactStore:
    return ArtifactStore(Path(settings.store) if settings.store else None)


@dataclass(frozen=True)
class LocalLayer:
    path: Path
    origin: str  # said to the user: where these bytes came from


def local_zips(
    settings: Settings,
    *,
    deps_zip: str | None = None,
    model_zip: str | None = None,
    deps_version: int | None = None,
    model_version: int | None = None,
    aws: Callable[[], Aws] | None = None,
    on_message: Callable[[str], None] = lambda _: None,
) -> list[LocalLayer]:
    """The deps and model layer zips for invoke --local, in Lambda's layer order.

    Per layer: a zip given by path; else a published version given by number;
    else the version the deployed function links; else the local build output.
    A published version's bytes come from the local store, S3 or its URL.
    """
    out = Path(settings.out)
    wanted = {
        "deps": (deps_zip, deps_version, out / "deps-layer.zip"),
        "model": (model_zip, model_version, out / MODEL_ZIP_NAME),
    }
    client: list[Aws] = []

    def connect() -> Aws:
        if aws is None:
            raise UsageError("a published layer version needs AWS: pass --deps-zip/--model-zip")
        if not client:
            client.append(aws())
        return client[0]

    linked: dict[str, str] = {}
    undecided = any(path is None and version is None for path, version, _ in wanted.values())
    if undecided and settings.function_name and aws is not None:
        try:
            function = connect().function(settings.function_name)
        except MlayerError as exc:  # no credentials or no endpoint: still runnable locally
            on_message(f"not asking AWS which layers {settings.function_name} links ({exc})")
            function = None
        linked = {layer_name_of(arn): arn for arn in function.layers} if function else {}

    layers = []
    for kind, (path, version, built) in wanted.items():
        if path is not None:
            layers.append(LocalLayer(Path(path), f"--{kind}-zip"))
            continue
        # Only a published layer needs its name (which may need --function-name).
        layer_name = (
            (settings.deps_layer if kind == "deps" else settings.model_layer)
            if version is not None or linked
            else ""
        )
        if version is not None:
            published = connect().layer_version(layer_name, version)
        elif layer_name in linked:
            published = connect().layer_version_by_arn(linked[layer_name])
        else:
            layers.append(LocalLayer(built, "local build output"))
            continue
        fetched = fetch_layer_zip(
            connect(),
            artifact_store(settings),
            layer_name=layer_name,
            version=published.version,
            code_sha256=published.code_sha256,
            location=published.location,
            bucket=settings.bucket,
        )
        linked_note = " (linked by the function)" if version is None else ""
        layers.append(
            LocalLayer(
                fetched.path, f"{layer_name}:{published.version}{linked_note} from {fetched.source}"
            )
        )
    return layers
