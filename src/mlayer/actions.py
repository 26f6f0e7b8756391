"""What each command does, wired from the stages: settings -> build or plan -> AWS.

Rules of the stages: ``build`` makes no AWS calls; ``plan`` makes no calls at
all; only ``aws`` talks to AWS and only ``executor`` changes anything there.
Every check that can refuse a command runs before the first change, so a
refusal leaves AWS as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlayer import executor, gate, local, lock
from mlayer.aws import (
    Aws,
    FunctionState,
    LayerVersion,
    TriggerState,
    layer_name_of,
    layer_version_of,
    upload_route,
)
from mlayer.errors import AwsError, MlayerError, NotFound, UsageError
from mlayer.gate import MISMATCH_ENV, GateResult
from mlayer.layerbuild.archive import (
    ZipSummary,
    directory_entries,
    lambda_sha256,
    summarize_zip,
    write_zip,
)
from mlayer.layerbuild.budget import function_over_limit
from mlayer.layerbuild.layer import (
    BuildOptions,
    DepsBuild,
    Progress,
    build_deps_layer,
    deps_description,
    pinned_versions,
)
from mlayer.layerbuild.manifest import MANIFEST_FILE, check_model_modules, read_manifest
from mlayer.model import MANIFEST_NAME, MODEL_DIR, ModelManifest, build_manifest, parse_description
from mlayer.plan import (
    FunctionSpec,
    Kept,
    Plan,
    PutRole,
    TriggerSpec,
    plan_cleanup,
    plan_deploy,
    plan_relink,
    short_arn,
)
from mlayer.policy import (
    SinkSpec,
    destination_actions,
    parse_sink,
    policy_json,
    role_policy,
    source_kind,
)
from mlayer.settings import Settings
from mlayer.store import ArtifactStore, fetch_layer_zip
from mlayer.targets import resolve_target
from mlayer.validate import account_mismatch, check_role_name, region_mismatch

HANDLER = "mlayer_handler.lambda_handler"
# The deployed model's content hash (prefix), which the handler checks at init.
MODEL_SHA_ENV = "MLAYER_MODEL_SHA256"
# Set when the linked model is older than the newest, by rollback or --model-version:
# a later plain deploy keeps that model instead of bringing back the one rolled away from.
PINNED_ENV = "MLAYER_PINNED_MODEL_VERSION"
SINK_KEY = "id"  # the sink table's partition key (handler/mlayer_sinks.py)
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
    build: DepsBuild | None = None


@dataclass(frozen=True)
class DeployResult:
    function_arn: str
    layers: tuple[str, ...]
    plan: Plan
    applied: bool


# --- build-deps ------------------------------------------------------------------


def build_deps(
    settings: Settings,
    *,
    publish: bool,
    aws: Callable[[], Aws],
    progress: Progress,
    use_cache: bool = True,
    dry_run: bool = False,
) -> LayerBuild:
    if not settings.requirements:
        raise UsageError("no requirements file: pass -r requirements.txt")
    target = resolve_target(settings.runtime, settings.arch)
    layer_name = settings.deps_layer if publish else None
    built = build_deps_layer(
        BuildOptions(
            Path(settings.requirements),
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
        published = _publish_zip(
            aws(),
            layer_name,
            built.zip,
            settings,
            deps_description(
                target, built.versions, built.zip, pruned=built.manifest.get("modules") is not None
            ),
            progress,
            dry_run=dry_run,
        )
    return LayerBuild(built.zip, published, built)


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


def _publish_zip(
    aws: Aws,
    layer_name: str,
    summary: ZipSummary,
    settings: Settings,
    description: str,
    progress: Progress,
    *,
    dry_run: bool = False,
) -> Published | None:
    """Publish a layer zip unless the newest version already has exactly these bytes;
    None on a dry run, which checks everything but publishes nothing."""
    newest = next(iter(aws.layer_versions(layer_name)), None)
    if newest and newest.code_sha256 == lambda_sha256(summary.sha256):
        progress.message(f"{layer_name}:{newest.version} already has this zip; not publishing")
        return Published(newest.version, newest.arn, new=False)
    if dry_run:
        _say_would_publish(aws, progress, layer_name, summary, settings.bucket)
        return None
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


def _say_would_publish(
    aws: Aws, progress: Progress, layer_name: str, summary: ZipSummary, bucket: str | None
) -> None:
    route = upload_route(summary.path, bucket)  # refuses a large zip without a bucket
    if route == "s3":
        assert bucket is not None
        aws.check_layer_bucket(bucket)
    via = f"through s3://{bucket}" if route == "s3" else "directly"
    progress.message(
        f"dry run: would publish {summary.path} ({summary.zipped_bytes / 1e6:.1f} MB) "
        f"{via} as a new version of {layer_name}; nothing changed"
    )


# --- publish-model ---------------------------------------------------------------


def package_model(
    files: list[Path],
    label: str | None,
    out: Path,
    *,
    trust_globals: tuple[str, ...] = (),
    allow_version_mismatch: bool = False,
) -> tuple[ModelManifest, ZipSummary]:
    """Check the joblib files and zip them with their manifest under mlayer-model/.

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
        staging = work / MODEL_DIR
        staging.mkdir()
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
    check_modules(settings, deps, files)
    checked = gate_publish(settings, manifest, deps)  # refuses before anything is published
    for note in checked.notes() if checked else ("no deps layer to check the versions against",):
        progress.message(note)
    newest = next(iter(aws.layer_versions(layer_name)), None)
    newest_sha = parse_description(newest.description).get("sha256") if newest else None
    if newest and not force and newest_sha == manifest.content_sha256[:16]:
        progress.message(
            f"{layer_name}:{newest.version} already holds these model files; not publishing "
            "(--force publishes anyway)"
        )
        return manifest, summary, Published(newest.version, newest.arn, new=False)
    if dry_run:
        _say_would_publish(aws, progress, layer_name, summary, settings.bucket)
        return manifest, summary, None
    progress.message(f"publishing {len(files)} model file(s) as a new version of {layer_name}")
    version = aws.publish_layer(
        layer_name,
        summary.path,
        runtime=settings.runtime,
        arch=settings.arch,
        description=manifest.description(summary.unzipped_bytes),
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


def handler_environment(
    settings: Settings,
    *,
    model: LayerVersion | None = None,
    gate: GateResult | None = None,
    pinned: int | None = None,
) -> dict[str, str]:
    """The function's environment: how to read records, where predictions go,
    which model it must find, any version mismatch the deploy allowed, and the
    pinned model version."""
    environment = {
        "MLAYER_TEXT_FIELD": settings.text_field,
        "MLAYER_TEXT_IS_JSON": "1" if settings.text_is_json else "0",
        "MLAYER_SINK": parse_sink(settings.sink).env,
    }
    model_sha = parse_description(model.description).get("sha256") if model else None
    if model_sha:
        environment[MODEL_SHA_ENV] = model_sha
    if gate is not None and gate.mismatches:
        environment[MISMATCH_ENV] = gate.summary()
    if pinned is not None:
        environment[PINNED_ENV] = str(pinned)
    return environment


# --- the compatibility gate ------------------------------------------------------


def deps_versions_of(layer: LayerVersion) -> dict[str, str]:
    return parse_description(layer.description, "mlayer-deps")


def model_versions_of(layer: LayerVersion) -> dict[str, str]:
    return parse_description(layer.description)


def gate_layers(model: LayerVersion, deps: LayerVersion, allow: bool) -> GateResult:
    """Refuse (``VersionMismatch``) a model the deps layer cannot load, unless ``allow``."""
    return gate.check(
        model_versions_of(model),
        deps_versions_of(deps),
        model_ref=short_arn(model.arn),
        deps_ref=short_arn(deps.arn),
        allow=allow,
    )


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


def check_modules(settings: Settings, deps: LayerVersion | None, files: list[Path]) -> None:
    """Refuse a model whose pickle names a module the deps layer lacks, before publishing.

    A pruned deps layer holds only the modules its sample model used. The local
    build manifest lists what a layer holds; a pruned layer published from another
    build cannot be checked, so it is refused rather than trusted.
    """
    out = Path(settings.out)
    described = deps_versions_of(deps) if deps else {}
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
    if newest is not None and deps_versions_of(newest):
        deps, deps_ref = deps_versions_of(newest), short_arn(newest.arn)
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
            f"model layer {layer_name} has no version {version} (existing: {listed}; "
            "deleted versions cannot come back: publish the model again)"
        ) from None


def pinned_version(current: FunctionState | None) -> int | None:
    """The model version pinned on the function (by rollback or --model-version), if any."""
    value = current.environment.get(PINNED_ENV, "") if current else ""
    return int(value) if value.isdigit() else None


def choose_model(
    aws: Aws, layer_name: str, requested: int | None, current: FunctionState | None
) -> tuple[LayerVersion, int | None, list[str]]:
    """The model version to link, the pin to record, and what to tell the user.

    An explicit version (``--model-version``, ``rollback``) wins, and is pinned
    when older than the newest. Otherwise a pinned version stays linked (a plain
    deploy, say for more memory, must not bring back the model rolled away from);
    else the newest.
    """
    newest = _newest(aws, layer_name, "mlayer publish-model")
    pinned = pinned_version(current)
    if requested is None and pinned is not None and pinned != newest.version:
        try:
            model = aws.layer_version(layer_name, pinned)
        except NotFound:
            raise NotFound(
                f"model {layer_name}:{pinned}, pinned on the function, no longer exists: "
                f"pass --model-version N (newest: {newest.version})"
            ) from None
        note = (
            f"model {layer_name}:{pinned} stays linked: it was pinned (by rollback or "
            f"--model-version); pass --model-version {newest.version} to move to the newest"
        )
        return model, pinned, [note]
    model = newest if requested is None else model_version(aws, layer_name, requested)
    if model.version < newest.version:
        note = (
            f"pinned: plain deploys keep {layer_name}:{model.version}; "
            f"deploy --model-version {newest.version} moves to the newest"
        )
        return model, model.version, [note]
    return model, None, []


def check_function_size(deps: LayerVersion, model: LayerVersion, code_bytes: int = 0) -> None:
    """Refuse, before any change, layers and code over Lambda's unzipped limit (known
    when mlayer published both layers and recorded their unzipped sizes)."""
    sizes = [deps_versions_of(deps), model_versions_of(model)]
    if not all(size.get("unzipped", "").isdigit() for size in sizes):
        return
    parts = {
        f"deps {short_arn(deps.arn)}": int(sizes[0]["unzipped"]),
        f"model {short_arn(model.arn)}": int(sizes[1]["unzipped"]),
    }
    if code_bytes:
        parts["function code"] = code_bytes
    problem = function_over_limit(parts)
    if problem:
        raise UsageError(problem)


def given_sources(settings: Settings, aws: Aws) -> list[tuple[str, str]]:
    """(flag, ARN) of the stream sources given by flag or file, refused (no call) when
    in another region than the function's: Lambda reads streams in its own region only.
    The ranges of the mapping's options are the flags' types (cli), file values included."""
    given = [
        (flag, arn)
        for flag, arn in (
            ("--stream-arn", settings.stream_arn),
            ("--table-stream-arn", settings.table_stream_arn),
        )
        if arn
    ]
    for flag, arn in given:
        problem = region_mismatch(flag, arn, aws.region)
        if problem:
            raise UsageError(problem)
    return given


def _check_source_exists(aws: Aws, flag: str, arn: str) -> None:
    """Refuse a source that cannot be read; one in another account says so (asked of
    STS only then, so a deploy makes no extra call when the stream is there)."""
    kinesis = source_kind(arn) == "kinesis"
    try:
        exists = aws.stream_exists(arn) if kinesis else aws.table_stream_exists(arn)
    except AwsError:
        exists = False  # AccessDenied, as AWS answers for another account's stream
        if not account_mismatch(flag, arn, aws.account_id()):
            raise
    if exists:
        return
    other_account = account_mismatch(flag, arn, aws.account_id())
    if other_account:
        raise UsageError(other_account)
    if kinesis:
        raise NotFound(f"Kinesis stream {arn} not found: create it or fix {flag}")
    raise NotFound(
        f"DynamoDB table stream {arn} not found: enable the table's stream "
        f"(NEW_IMAGE or NEW_AND_OLD_IMAGES) or fix {flag}"
    )


def trigger_specs(settings: Settings, aws: Aws, triggers: list[TriggerState]) -> list[TriggerSpec]:
    """The stream triggers the function should have, each checked to exist."""
    retries, age = settings.maximum_retries, settings.maximum_record_age
    factor = settings.parallelization_factor
    if settings.on_failure:
        destination_actions(settings.on_failure)  # refuses what is not SQS, SNS or S3

    given = given_sources(settings, aws)
    sources = [arn for _flag, arn in given] or [t.source_arn for t in triggers]
    if not sources:
        raise UsageError(
            "no stream to trigger from: pass --stream-arn ARN (a Kinesis stream) or "
            "--table-stream-arn ARN (a DynamoDB table stream)"
        )
    flags = {arn: flag for flag, arn in given}
    for arn in sources:
        default_flag = "--stream-arn" if source_kind(arn) == "kinesis" else "--table-stream-arn"
        _check_source_exists(aws, flags.get(arn, default_flag), arn)
    return [
        TriggerSpec(
            arn,
            settings.batch_size,
            settings.starting_position,
            bisect_on_error=settings.bisect_on_error,
            maximum_retries=retries,
            maximum_record_age=age,
            parallelization_factor=factor,
            on_failure=settings.on_failure,
        )
        for arn in sources
    ]


def check_sink(settings: Settings, aws: Aws) -> SinkSpec:
    """The sink, refused when its table or stream does not exist."""
    sink = parse_sink(settings.sink)
    if sink.kind == "dynamodb":
        key = aws.table_key(sink.name)
        if key is None:
            raise NotFound(
                f"sink table {sink.name} not found: create it (partition key {SINK_KEY}, "
                "a string) or fix --sink"
            )
        if key != (SINK_KEY, "S"):
            raise UsageError(
                f"sink table {sink.name} is keyed by {key[0]} ({key[1]}): predictions are "
                f"written keyed by {SINK_KEY} (a string); use a table with that partition key"
            )
    elif sink.kind == "kinesis" and not aws.stream_name_exists(sink.name):
        raise NotFound(f"sink stream {sink.name} not found: create it or fix --sink")
    return sink


def execution_role(
    settings: Settings, aws: Aws, sources: list[str], sink: SinkSpec, current: FunctionState | None
) -> tuple[str, PutRole | None]:
    """The role ARN for the function, and the step that creates or updates it."""
    name = settings.require_function_name()
    if settings.create_role:
        if settings.role:
            raise UsageError("pass either --role ARN or --create-role, not both")
        role_name = f"{name}-mlayer"
        try:
            check_role_name(role_name)  # IAM allows 64 characters, Lambda's names 64 too
        except ValueError as exc:
            raise UsageError(
                f"--create-role would name the role {role_name!r}, which {exc}: pass "
                "--role ARN of a role you made, or use a function name of at most 57 characters"
            ) from None
        policy = iam_policy(settings, aws, sources=sources, sink=sink)
        existing = aws.role_arn(role_name)
        arn = existing or f"arn:aws:iam::{aws.account_id()}:role/{role_name}"
        if existing and aws.role_policy(role_name, executor.ROLE_POLICY_NAME) == policy:
            return arn, None
        return arn, PutRole(role_name, policy_json(policy), create=existing is None)
    role = settings.role or (current.role if current else None)
    if not role:
        raise UsageError(
            f"function {name} does not exist yet: pass --role ARN (its execution role) "
            "or --create-role"
        )
    return role, None


def plan_function(
    settings: Settings, aws: Aws, requested_model_version: int | None
) -> tuple[Plan, FunctionSpec, FunctionState | None]:
    """Read what exists, check every input, and plan the deploy (no changes)."""
    name = settings.require_function_name()
    target = resolve_target(settings.runtime, settings.arch)
    current = aws.function(name)
    triggers: list[TriggerState] = aws.triggers(name) if current else []

    if not settings.create_role and not (settings.role or current):
        execution_role(settings, aws, [], SinkSpec("log"), current)  # the one-line refusal
    wanted = trigger_specs(settings, aws, triggers)
    sink = check_sink(settings, aws)
    role, put_role = execution_role(settings, aws, [t.source_arn for t in wanted], sink, current)

    deps = _newest(aws, settings.deps_layer, "mlayer build-deps --publish")
    model, pinned, pin_notes = choose_model(
        aws, settings.model_layer, requested_model_version, current
    )
    checked = gate_layers(model, deps, settings.allow_version_mismatch)
    code = function_zip(settings)
    check_function_size(deps, model, code.unzipped_bytes)
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
        environment=tuple(
            sorted(handler_environment(settings, model=model, gate=checked, pinned=pinned).items())
        ),
    )
    notes = (*pin_notes, *checked.notes())
    plan = plan_deploy(spec, current, wanted, triggers, role=put_role, notes=notes)
    return plan, spec, current


def deploy(
    settings: Settings,
    aws: Aws,
    *,
    model_version: int | None,
    dry_run: bool,
    on_step: Callable[[str], None],
) -> DeployResult:
    """Plan the deploy and, unless ``dry_run``, apply it: the plan is read while
    holding this machine's lock on the function, so two deploys run one after
    the other, the second planned from what the first left."""
    if dry_run:
        plan, spec, current = plan_function(settings, aws, model_version)
    else:
        with function_lock(aws, settings.require_function_name(), on_step):
            plan, spec, current = plan_function(settings, aws, model_version)
            code_path = Path(settings.out) / FUNCTION_ZIP_NAME
            executor.apply(plan, aws, code=code_path.read_bytes, on_step=on_step)
    arn = current.arn if current else _function_arn(aws, spec.name, dry_run)
    layers = plan.outcome.layers if plan.outcome else spec.layers
    return DeployResult(arn, layers, plan, applied=not dry_run)


def function_lock(
    aws: Aws, function_name: str, on_wait: Callable[[str], None]
) -> AbstractContextManager[None]:
    """This machine's lock on deploying or rolling back ``function_name``."""
    return lock.function_lock(aws.endpoint, aws.region, function_name, on_wait=on_wait)


def _function_arn(aws: Aws, name: str, dry_run: bool) -> str:
    state = None if dry_run else aws.function(name)
    return state.arn if state else f"(new) {name}"


def linked_deps_layer(settings: Settings, aws: Aws, current: FunctionState) -> LayerVersion | None:
    """The deps layer version the function links: by name, else by its description."""
    others = [a for a in current.layers if layer_name_of(a) != settings.model_layer]
    named = [a for a in others if layer_name_of(a) == settings.deps_layer]
    for arn in named or others:
        layer = aws.layer_version(layer_name_of(arn), layer_version_of(arn))
        if named or deps_versions_of(layer):
            return layer
    return None


def previous_model_version(aws: Aws, layer_name: str, current: FunctionState) -> int:
    """The newest existing model layer version older than the live one."""
    live = [layer_version_of(a) for a in current.layers if layer_name_of(a) == layer_name]
    if not live:
        raise UsageError(f"function {current.name} links no version of layer {layer_name}")
    older = [v.version for v in aws.layer_versions(layer_name) if v.version < live[0]]
    if not older:
        raise NotFound(
            f"no version of {layer_name} older than the live {live[0]} exists: "
            "pass --version N (mlayer versions lists them)"
        )
    return max(older)


def rollback(
    settings: Settings,
    aws: Aws,
    *,
    version: int | None,
    to_previous: bool = False,
    dry_run: bool,
    on_step: Callable[[str], None],
) -> DeployResult:
    """Relink the model layer to ``version`` (or the previous one), through the gate;
    planned and applied holding this machine's lock on the function, as deploy."""
    name = settings.require_function_name()
    if (version is None) == (not to_previous):
        raise UsageError("pass one of --version N or --to-previous")
    if dry_run:
        plan, current, target = plan_rollback(settings, aws, version)
    else:
        with function_lock(aws, name, on_step):
            plan, current, target = plan_rollback(settings, aws, version)
            rerun = f"mlayer rollback --version {target.version}"
            executor.apply(plan, aws, code=lambda: b"", on_step=on_step, rerun=rerun)
    layers = tuple(target.arn if layer_name_of(a) == target.name else a for a in current.layers)
    return DeployResult(current.arn, layers, plan, applied=not dry_run)


def plan_rollback(
    settings: Settings, aws: Aws, version: int | None
) -> tuple[Plan, FunctionState, LayerVersion]:
    """Read what exists, check the model, and plan the relink to ``version``
    (None: the previous one); no changes."""
    name = settings.require_function_name()
    current = aws.function(name)
    if current is None:
        raise NotFound(f"function {name} does not exist: run mlayer deploy first")
    if version is None:
        version = previous_model_version(aws, settings.model_layer, current)
    target, pinned, pin_notes = choose_model(aws, settings.model_layer, version, current)
    deps = linked_deps_layer(settings, aws, current)
    checked = (
        gate_layers(target, deps, settings.allow_version_mismatch)
        if deps is not None
        else gate.compare({}, {}, model_ref=short_arn(target.arn), deps_ref="(no deps layer)")
    )
    if deps is not None:
        check_function_size(deps, target)
    # Only the model's variables move; every other one (the user's too) is kept.
    environment = {
        k: v
        for k, v in current.environment.items()
        if k not in (MODEL_SHA_ENV, MISMATCH_ENV, PINNED_ENV)
    }
    if pinned is not None:
        environment[PINNED_ENV] = str(pinned)
    model_sha = model_versions_of(target).get("sha256")
    if model_sha:
        environment[MODEL_SHA_ENV] = model_sha
    if checked.mismatches:
        environment[MISMATCH_ENV] = checked.summary()
    try:
        plan = plan_relink(current, target.arn, environment)
    except ValueError as exc:
        raise UsageError(f"{exc}: run mlayer deploy to link it") from exc
    plan = replace(plan, notes=(*plan.notes, *pin_notes, *checked.notes()))
    return plan, current, target


# --- status and versions ---------------------------------------------------------


@dataclass(frozen=True)
class Status:
    function: FunctionState | None
    triggers: list[TriggerState] = field(default_factory=list)
    model: dict[str, str] = field(default_factory=dict)  # the live model's description
    sink: str = "log"
    version_mismatch_allowed: str | None = None
    pinned_model_version: int | None = None
    # linked layer (NAME:V) -> unzipped bytes, for those whose description records it
    layer_unzipped_bytes: dict[str, int] = field(default_factory=dict)


def status(settings: Settings, aws: Aws) -> Status:
    name = settings.require_function_name()
    current = aws.function(name)
    if current is None:
        return Status(None)
    model: dict[str, str] = {}
    unzipped: dict[str, int] = {}
    for arn in current.layers:
        layer = aws.layer_version(layer_name_of(arn), layer_version_of(arn))
        described = model_versions_of(layer) or deps_versions_of(layer)
        if described.get("unzipped", "").isdigit():
            unzipped[short_arn(arn)] = int(described["unzipped"])
        if layer.name == settings.model_layer:
            model = {"version": str(layer.version), **model_versions_of(layer)}
    return Status(
        current,
        aws.triggers(name),
        model=model,
        sink=current.environment.get("MLAYER_SINK", "log"),
        version_mismatch_allowed=current.environment.get(MISMATCH_ENV) or None,
        pinned_model_version=pinned_version(current),
        layer_unzipped_bytes=unzipped,
    )


@dataclass(frozen=True)
class ModelVersionInfo:
    version: int
    arn: str
    created: str
    label: str
    sha256: str
    live: bool
    details: dict[str, str]
    trained_with: dict[str, str] = field(default_factory=dict)
    linked_by: tuple[str, ...] = ()


def linked_by(aws: Aws, function_name: str) -> dict[str, list[str]]:
    """Layer version ARN -> what links it: ``$LATEST``, ``version 3``, ``alias prod``,
    or another function, across every version of every function in the region."""
    found: dict[str, list[str]] = {}
    for row in aws.linked_layers():
        if row.function == function_name:
            who = ["$LATEST"] if row.version == "$LATEST" else [f"version {row.version}"]
        else:
            who = [f"function {row.function}:{row.version}"]
        who += [f"alias {alias}" for alias in row.aliases]
        for arn in row.layers:
            for item in who:
                if item not in found.setdefault(arn, []):
                    found[arn].append(item)
    return found


def versions(settings: Settings, aws: Aws) -> list[ModelVersionInfo]:
    layer_name = settings.model_layer
    name = settings.require_function_name()
    links = linked_by(aws, name)
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
                live="$LATEST" in links.get(item.arn, []),
                details=details,
                trained_with={
                    k: details[k]
                    for k in ("python", "sklearn", "numpy", "scipy", "joblib")
                    if k in details
                },
                linked_by=tuple(links.get(item.arn, [])),
            )
        )
    return rows


# --- cleanup and the role policy ---------------------------------------------------


@dataclass(frozen=True)
class CleanupResult:
    plan: Plan
    kept: tuple[Kept, ...]
    applied: bool


def cleanup(
    settings: Settings,
    aws: Aws,
    *,
    keep: int | None,
    delete: tuple[int, ...] = (),
    dry_run: bool,
    on_step: Callable[[str], None],
) -> CleanupResult:
    """Delete old model layer versions: all but the ``keep`` newest, or exactly
    ``delete``; never one that any function version or alias links."""
    if (keep is None) == (not delete):
        raise UsageError("pass --keep K (keep the K newest) or --version N (delete these)")
    layer_name = settings.model_layer
    existing = aws.layer_versions(layer_name)
    if not existing:
        raise NotFound(f"layer {layer_name} has no versions (run mlayer publish-model)")
    links = linked_by(aws, settings.require_function_name())
    by_number = {v.version: v.arn for v in existing}
    if delete:
        missing = sorted(set(delete) - set(by_number))
        if missing:
            listed = ", ".join(map(str, sorted(by_number)))
            raise NotFound(
                f"model layer {layer_name} has no version {missing[0]} (existing: {listed})"
            )
        for number in sorted(delete):
            who = links.get(by_number[number])
            if who:
                raise UsageError(
                    f"{layer_name}:{number} is linked by {', '.join(who)}: relink or "
                    "roll back first; nothing was deleted"
                )
        # Keep everything not named; the plan then deletes only what was named.
        arns = [by_number[n] for n in sorted(delete, reverse=True)]
        plan, kept = plan_cleanup(arns, 0, links)
    else:
        assert keep is not None
        if keep < 1:
            raise UsageError("--keep must be at least 1")
        plan, kept = plan_cleanup([v.arn for v in existing], keep, links)
    if not dry_run:
        executor.apply(plan, aws, code=lambda: b"", on_step=on_step)
    return CleanupResult(plan, kept, applied=not dry_run)


def iam_policy(
    settings: Settings,
    aws: Aws,
    *,
    sources: list[str] | None = None,
    sink: SinkSpec | None = None,
) -> dict[str, Any]:
    """The least-privilege policy for the configured triggers, sink and failure destination.

    It refuses what deploy refuses before asking AWS anything: a malformed or
    wildcard ARN (the option types), a sink name that is not one, a stream in
    another region.
    """
    name = settings.require_function_name()
    sink = sink or parse_sink(settings.sink)
    if settings.on_failure:
        destination_actions(settings.on_failure)
    if sources is None:
        sources = [arn for _flag, arn in given_sources(settings, aws)]
        if not sources:
            current = aws.function(name)
            sources = [t.source_arn for t in aws.triggers(name)] if current else []
    return role_policy(
        function_name=name,
        region=aws.region,
        account=aws.account_id(),
        sources=sources,
        sink=sink,
        on_failure=settings.on_failure,
    )


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
            allow_http=settings.endpoint_url is not None,  # an emulator serves plain http
        )
        linked_note = " (linked by the function)" if version is None else ""
        layers.append(
            LocalLayer(
                fetched.path, f"{layer_name}:{published.version}{linked_note} from {fetched.source}"
            )
        )
    return layers


def run_local(
    settings: Settings,
    events: list[Any],
    layer_zips: list[Path],
    *,
    repeat: int = 1,
    on_log: Callable[[str], None] | None = None,
) -> local.Invocation:
    """Run the handler on ``events`` in the local Lambda sandbox with these layers."""
    return local.invoke_local(
        target=resolve_target(settings.runtime, settings.arch),
        events=events,
        layer_zips=layer_zips,
        function_zip=function_zip(settings).path,
        handler=HANDLER,
        environment=handler_environment(settings),
        memory_mb=settings.memory,
        timeout_s=settings.timeout,
        repeat=repeat,
        function_name=settings.function_name or "local",
        region=settings.region or "us-east-1",
        on_log=on_log,
    )


def measure_durations(
    settings: Settings,
    texts: Path,
    batch_sizes: tuple[int, ...],
    on_message: Callable[[str], None],
) -> dict[int, float]:
    """The warm duration of one invocation per batch size, from the local build's layers."""
    lines = local.read_texts(texts)
    on_message(
        "measuring on this machine's CPU: Lambda gives a function a share of a vCPU in "
        f"proportion to memory (one at 1,769 MB), so at {settings.memory} MB expect longer; "
        "the cold start's init (billed since August 2025) is not in the per-invocation cost"
    )
    layers = local_zips(settings, on_message=on_message)
    durations = {}
    for size in batch_sizes:
        local.check_batch_size(size)
        # Enough records for one full batch, reusing the lines as needed.
        batch = [lines[i % len(lines)] for i in range(size)]
        events = local.kinesis_events(
            batch,
            batch_size=size,
            text_field=settings.text_field,
            text_is_json=settings.text_is_json,
        )
        invocation = run_local(settings, events, [layer.path for layer in layers], repeat=4)
        warm = [run["duration_ms"] for run in invocation.runs[1:]]
        durations[size] = sum(warm) / len(warm)
        on_message(
            f"batch {size}: warm {durations[size]:.1f} ms per invocation "
            f"(cold: init {invocation.init_ms:.0f} ms, first call "
            f"{invocation.runs[0]['duration_ms']:.0f} ms)"
        )
    return durations
