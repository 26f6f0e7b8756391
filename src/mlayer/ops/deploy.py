"""deploy and rollback: read AWS once, plan, apply.

Each is three stages: ``mlayer.aws.snapshot`` reads what exists into a frozen
``RemoteState``; ``mlayer.plan`` decides everything from it (the model and its
pin, the gate, the size budget, role, triggers, environment) and returns the
plan or refuses; ``mlayer.executor`` applies that plan. The snapshot is read
and the plan applied while holding this machine's lock on the function
(``mlayer.lock``), so two deploys run one after the other, the second planned
from what the first left. A dry run reads and plans, and applies nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from mlayer import executor, lock
from mlayer.arns import layer_name_of
from mlayer.aws import Aws
from mlayer.aws.snapshot import read_deploy_state, read_rollback_state
from mlayer.errors import AwsError, PartiallyApplied, UsageError
from mlayer.layerbuild.archive import lambda_sha256
from mlayer.ops.alarms import AlarmPlan, apply_alarms, check_alarms
from mlayer.ops.code import FUNCTION_ZIP_NAME, function_zip
from mlayer.plan import (
    DeployRequest,
    RollbackRequest,
    check_deploy_request,
    plan_function,
    plan_rollback,
)
from mlayer.policy import parse_sink
from mlayer.settings import Settings
from mlayer.state import FunctionState
from mlayer.steps import FunctionSpec, Plan, TriggerSpec
from mlayer.targets import resolve_target


@dataclass(frozen=True)
class DeployResult:
    function_arn: str
    layers: tuple[str, ...]
    plan: Plan
    applied: bool
    alarms: tuple[str, ...] = ()  # deploy --alarms: what was (or would be) put


def given_sources(settings: Settings) -> tuple[tuple[str, str], ...]:
    """(flag, ARN) of the stream sources given by flag or file."""
    return tuple(
        (flag, arn)
        for flag, arn in (
            ("--stream-arn", settings.stream_arn),
            ("--table-stream-arn", settings.table_stream_arn),
        )
        if arn
    )


@dataclass(frozen=True)
class ShadowChoice:
    """deploy's --shadow-model N and --no-shadow (neither: keep the shadow linked now)."""

    version: int | None = None
    remove: bool = False


def deploy_request(
    settings: Settings, model_version: int | None, shadow: ShadowChoice = ShadowChoice()
) -> DeployRequest:
    """What the settings ask of deploy. Zips the handler (a local file) to know
    its hash and size; refuses a sink that is not one."""
    target = resolve_target(settings.runtime, settings.arch)
    code = function_zip(settings)
    return DeployRequest(
        function_name=settings.require_function_name(),
        deps_layer=settings.deps_layer,
        model_layer=settings.model_layer,
        runtime=target.runtime,
        arch=target.arch,
        memory=settings.memory,
        timeout=settings.timeout,
        code_sha256=lambda_sha256(code.sha256),
        code_bytes=code.unzipped_bytes,
        # The ranges of the mapping's options are the flags' types (cli), file values included.
        trigger=TriggerSpec(
            "",  # set per source by the planner
            settings.batch_size,
            settings.starting_position,
            bisect_on_error=settings.bisect_on_error,
            maximum_retries=settings.maximum_retries,
            maximum_record_age=settings.maximum_record_age,
            parallelization_factor=settings.parallelization_factor,
            on_failure=settings.on_failure,
        ),
        text_field=settings.text_field,
        text_is_json=settings.text_is_json,
        sink=parse_sink(settings.sink),
        role=settings.role,
        create_role=settings.create_role,
        sources=given_sources(settings),
        allow_version_mismatch=settings.allow_version_mismatch,
        model_version=model_version,
        allow_deprecated_runtime=settings.allow_deprecated_runtime,
        alias=settings.alias,
        snapstart=settings.snapstart,
        provisioned_concurrency=settings.provisioned_concurrency,
        shadow_model=shadow.version,
        no_shadow=shadow.remove,
    )


def plan_deploy_now(
    aws: Aws, request: DeployRequest
) -> tuple[Plan, FunctionSpec, FunctionState | None]:
    """Check the request, read AWS once, and plan (no changes): the plan, the
    function as planned, and the function as it was."""
    check_deploy_request(request, aws.region)  # before any call
    state = read_deploy_state(
        aws,
        function_name=request.function_name,
        deps_layer=request.deps_layer,
        model_layer=request.model_layer,
        sources=[arn for _flag, arn in request.sources],
        sink=request.sink,
        role_name=request.role_name if request.create_role else None,
        alias=request.alias,
        provisioned=request.provisioned_concurrency is not None,
    )
    plan, spec = plan_function(request, state)
    return plan, spec, state.function


def deploy(
    settings: Settings,
    aws: Aws,
    *,
    model_version: int | None,
    dry_run: bool,
    on_step: Callable[[str], None],
    shadow: ShadowChoice = ShadowChoice(),
) -> DeployResult:
    """Plan the deploy and, unless ``dry_run``, apply it, holding the function's lock."""
    name = settings.require_function_name()
    if settings.alarm_topic and not settings.alarms:
        raise UsageError("--alarm-topic names where the alarms notify: pass --alarms with it")
    guard = nullcontext() if dry_run else function_lock(aws, name, on_step)
    with guard:
        # Under the lock: two deploys on this machine share --out's function.zip.
        request = deploy_request(settings, model_version, shadow)
        plan, spec, current = plan_deploy_now(aws, request)
        watch = (
            check_alarms(aws, name, settings.alias, settings.alarm_topic)
            if settings.alarms
            else None
        )  # read-only, and refusals, before the first change
        if not dry_run:
            code_path = Path(settings.out) / FUNCTION_ZIP_NAME
            executor.apply(plan, aws, code=code_path.read_bytes, on_step=on_step)
        alarms = _put_alarms(aws, plan, watch, dry_run) if watch else []
    arn = current.arn if current else _function_arn(aws, spec.name, dry_run)
    layers = plan.outcome.layers if plan.outcome else spec.layers
    return DeployResult(arn, layers, plan, applied=not dry_run, alarms=tuple(alarms))


def _put_alarms(aws: Aws, plan: Plan, watch: AlarmPlan, dry_run: bool) -> list[str]:
    """Put the alarms once the function is deployed; a failure says the deploy stands."""
    try:
        return apply_alarms(aws, watch, dry_run)
    except AwsError as exc:
        raise PartiallyApplied(
            str(exc),
            applied=plan.describe(),
            failed="put the CloudWatch alarms",
            not_applied=[],
            rerun="mlayer deploy --alarms",
        ) from exc


def _function_arn(aws: Aws, name: str, dry_run: bool) -> str:
    """A new function's ARN, read once created; ``(new) NAME`` on a dry run."""
    state = None if dry_run else aws.function(name)
    return state.arn if state else f"(new) {name}"


def function_lock(
    aws: Aws, function_name: str, on_wait: Callable[[str], None]
) -> AbstractContextManager[None]:
    """This machine's lock on deploying or rolling back ``function_name``."""
    return lock.function_lock(aws.endpoint, aws.region, function_name, on_wait=on_wait)


def rollback(
    settings: Settings,
    aws: Aws,
    *,
    version: int | None,
    to_previous: bool = False,
    dry_run: bool,
    on_step: Callable[[str], None],
) -> DeployResult:
    """Serve model ``version`` again (or, ``to_previous``, what the alias served
    before), through the gate: behind the alias, one alias update when a version
    already carries it. Planned and applied holding this machine's lock, as deploy."""
    name = settings.require_function_name()
    if (version is None) == (not to_previous):
        raise UsageError("pass one of --version N or --to-previous")
    request = RollbackRequest(
        name, settings.model_layer, version, settings.allow_version_mismatch, settings.deps_layer
    )
    guard = nullcontext() if dry_run else function_lock(aws, name, on_step)
    with guard:
        state = read_rollback_state(
            aws,
            function_name=name,
            deps_layer=settings.deps_layer,
            model_layer=request.model_layer,
            alias=settings.alias,
        )
        plan, target = plan_rollback(request, state)
        if not dry_run:
            rerun = f"mlayer rollback --version {target.version}"
            executor.apply(plan, aws, code=lambda: b"", on_step=on_step, rerun=rerun)
    assert state.function is not None  # plan_rollback refuses a missing function
    served = state.live or state.function
    layers = tuple(target.arn if layer_name_of(a) == target.name else a for a in served.layers)
    arn = state.alias.arn if state.alias else state.function.arn
    return DeployResult(arn, layers, plan, applied=not dry_run)
