"""The deploy and rollback planner: (request, ``RemoteState``) -> a ``Plan``, or a refusal.

Pure: no I/O, no boto3. Every question a deploy or rollback asks is answered
here from one snapshot of AWS (``mlayer.state.RemoteState``, read by
``mlayer.aws.snapshot``): which model version to link and whether it is
pinned, whether the deps layer can load it (the gate), whether the layers fit
Lambda's unzipped budget, which role, which triggers with which options, the
function's environment, what of the user's to keep, and what to tell the user.
A refusal is raised (``UsageError``, ``NotFound``, ``VersionMismatch``) before
anything changes; ``executor.apply`` carries out the plan returned.

``check_deploy_request`` holds the checks that need no snapshot at all; they
run before AWS is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from mlayer import gate
from mlayer.arns import layer_name_of, layer_version_of, short_arn
from mlayer.changes import Release, plan_deploy, plan_relink, relinked_layers
from mlayer.contract import (
    HANDLER,
    MODEL_VARIABLES,
    PINNED_ENV,
    SHADOW_MODEL_ENV,
    SINK_KEY,
    model_environment,
)
from mlayer.contract import handler_environment as environment_for
from mlayer.descriptions import (
    alias_fields,
    deps_fields,
    in_own_directory,
    is_mlayer_alias,
    model_fields,
    version_description,
)
from mlayer.errors import AwsError, NotFound, UsageError
from mlayer.gate import GateResult
from mlayer.layerbuild.budget import function_over_limit
from mlayer.policy import (
    ROLE_POLICY_NAME,
    SinkSpec,
    destination_actions,
    policy_json,
    role_policy,
    source_kind,
)
from mlayer.state import AliasState, FunctionState, LayerVersion, RemoteState
from mlayer.steps import (
    FunctionSpec,
    Outcome,
    Plan,
    PublishVersion,
    PutRole,
    Step,
    TriggerSpec,
    owned_environment,
)
from mlayer.targets import check_runtime_dates, snapstart_refusal
from mlayer.validate import account_mismatch, check_role_name, region_mismatch

__all__ = [
    "ROLE_POLICY_NAME",
    "DeployRequest",
    "RollbackRequest",
    "check_deploy_request",
    "plan_function",
    "plan_rollback",
    "short_arn",
]


@dataclass(frozen=True)
class DeployRequest:
    """What the user asked ``deploy`` for (from flags and mlayer.toml)."""

    function_name: str
    deps_layer: str
    model_layer: str
    runtime: str
    arch: str
    memory: int
    timeout: int
    code_sha256: str  # the function zip's, in Lambda's base64 form
    code_bytes: int  # the function zip's unzipped size
    # The options every stream trigger gets; its source_arn is left empty here
    # and set per source (given, or the triggers the function has).
    trigger: TriggerSpec
    text_field: str
    sink: SinkSpec
    text_is_json: bool = False
    role: str | None = None
    create_role: bool = False
    sources: tuple[tuple[str, str], ...] = ()  # (flag, ARN) given by flag or file
    allow_version_mismatch: bool = False
    model_version: int | None = None  # --model-version
    allow_deprecated_runtime: bool = False
    today: date = field(default_factory=date.today)  # for AWS's runtime dates; tests set it
    alias: str = "live"  # the alias the trigger targets, pointed at each published version
    snapstart: bool | None = None  # None: as the function has it
    provisioned_concurrency: int | None = None  # on the alias; None: as it is
    shadow_model: int | None = None  # --shadow-model N: a model layer version beside the live one
    no_shadow: bool = False  # --no-shadow

    @property
    def role_name(self) -> str:
        """The role ``--create-role`` creates and keeps up to date."""
        return f"{self.function_name}-mlayer"


@dataclass(frozen=True)
class RollbackRequest:
    """``rollback --version N`` (``version``) or ``--to-previous`` (None)."""

    function_name: str
    model_layer: str
    version: int | None
    allow_version_mismatch: bool = False
    deps_layer: str = ""


# --- checks that need no snapshot ---------------------------------------------------


def check_sources_region(sources: Sequence[tuple[str, str]], region: str) -> None:
    """Refuse a stream source in another region than the function's: Lambda reads
    streams in its own region only."""
    for flag, arn in sources:
        problem = region_mismatch(flag, arn, region)
        if problem:
            raise UsageError(problem)


def check_deploy_request(request: DeployRequest, region: str) -> None:
    """The refusals that need nothing from AWS: a failure destination that is not
    SQS, SNS or S3, a source in another region, a role both given and to create,
    a function name too long for the role ``--create-role`` names after it."""
    if request.trigger.on_failure:
        destination_actions(request.trigger.on_failure)
    if request.snapstart:
        refusal = snapstart_refusal(request.runtime)
        if refusal:
            raise UsageError(refusal)
    check_sources_region(request.sources, region)
    if request.create_role:
        if request.role:
            raise UsageError("pass either --role ARN or --create-role, not both")
        try:
            check_role_name(request.role_name)  # IAM allows 64 characters, Lambda's names 64 too
        except ValueError as exc:
            raise UsageError(
                f"--create-role would name the role {request.role_name!r}, which {exc}: pass "
                "--role ARN of a role you made, or use a function name of at most 57 characters"
            ) from None


# --- the model: which version, pinned or not, and the gate --------------------------------


def newest(versions: Sequence[LayerVersion], layer_name: str, hint: str) -> LayerVersion:
    if not versions:
        raise NotFound(f"layer {layer_name} has no version yet: run {hint} first")
    return versions[0]


def find_model_version(
    versions: Sequence[LayerVersion], layer_name: str, version: int
) -> LayerVersion:
    """Version ``version`` of the model layer, or a refusal listing those that exist."""
    found = next((v for v in versions if v.version == version), None)
    if found is None:
        listed = ", ".join(str(v.version) for v in sorted(versions, key=lambda v: v.version))
        raise NotFound(
            f"model layer {layer_name} has no version {version} (existing: {listed or 'none'}; "
            "deleted versions cannot come back: publish the model again)"
        )
    return found


def pinned_version(alias: AliasState | None, function: FunctionState | None) -> int | None:
    """The model version pinned (by rollback or --model-version), if any: on the
    alias, or, deployed before versions, in the function's environment."""
    if alias is not None:
        value = alias_fields(alias.description).get("pinned", "")
    else:
        value = function.environment.get(PINNED_ENV, "") if function else ""
    return int(value) if value.isdigit() else None


def check_alias_is_ours(alias: AliasState | None, function_name: str) -> None:
    """Refuse to move an alias mlayer did not create (its description is not mlayer's)."""
    if alias is not None and not is_mlayer_alias(alias.description):
        raise UsageError(
            f"alias {function_name}:{alias.name} was not created by mlayer, which will not "
            "move it: pass --alias NAME (or set alias in mlayer.toml) for mlayer's own"
        )


def choose_model(
    versions: Sequence[LayerVersion],
    layer_name: str,
    requested: int | None,
    pinned: int | None,
) -> tuple[LayerVersion, int | None, list[str]]:
    """The model version to link, the pin to record, and what to tell the user.

    An explicit version (``--model-version``, ``rollback``) wins, and is pinned
    when older than the newest. Otherwise a pinned version stays linked (a plain
    deploy, say for more memory, must not bring back the model rolled away from);
    else the newest.
    """
    latest = newest(versions, layer_name, "mlayer publish-model")
    if requested is None and pinned is not None and pinned != latest.version:
        model = next((v for v in versions if v.version == pinned), None)
        if model is None:
            raise NotFound(
                f"model {layer_name}:{pinned}, pinned on the function, no longer exists: "
                f"pass --model-version N (newest: {latest.version})"
            )
        note = (
            f"model {layer_name}:{pinned} stays linked: it was pinned (by rollback or "
            f"--model-version); pass --model-version {latest.version} to move to the newest"
        )
        return model, pinned, [note]
    model = latest if requested is None else find_model_version(versions, layer_name, requested)
    if model.version < latest.version:
        note = (
            f"pinned: plain deploys keep {layer_name}:{model.version}; "
            f"deploy --model-version {latest.version} moves to the newest"
        )
        return model, model.version, [note]
    return model, None, []


def gate_layers(model: LayerVersion, deps: LayerVersion, allow: bool) -> GateResult:
    """Refuse (``VersionMismatch``) a model the deps layer cannot load, unless ``allow``."""
    return gate.check(
        model_fields(model.description),
        deps_fields(deps.description),
        model_ref=short_arn(model.arn),
        deps_ref=short_arn(deps.arn),
        allow=allow,
    )


def check_function_size(
    deps: LayerVersion,
    model: LayerVersion,
    code_bytes: int = 0,
    shadow: LayerVersion | None = None,
) -> None:
    """Refuse layers and code over Lambda's unzipped limit (known when mlayer
    published the layers and recorded their unzipped sizes)."""
    sizes = [deps_fields(deps.description), model_fields(model.description)]
    if shadow is not None:
        sizes.append(model_fields(shadow.description))
    if not all(size.get("unzipped", "").isdigit() for size in sizes):
        return
    parts = {
        f"deps {short_arn(deps.arn)}": int(sizes[0]["unzipped"]),
        f"model {short_arn(model.arn)}": int(sizes[1]["unzipped"]),
    }
    if shadow is not None:
        parts[f"shadow model {short_arn(shadow.arn)}"] = int(sizes[2]["unzipped"])
    if code_bytes:
        parts["function code"] = code_bytes
    problem = function_over_limit(parts)
    if problem:
        raise UsageError(problem)


def model_variables(model: LayerVersion, checked: GateResult, pinned: int | None) -> dict[str, str]:
    """The variables that follow the linked model: its hash, an allowed mismatch, the pin."""
    mismatch = checked.summary() if checked.mismatches else None
    return model_environment(model_fields(model.description).get("sha256"), mismatch, pinned)


# --- the shadow model ---------------------------------------------------------------------


def linked_shadow(state: RemoteState, model_layer: str) -> LayerVersion | None:
    """The shadow model layer version that serves beside the live one, if any."""
    served = state.live or state.function
    shadow_id = served.environment.get(SHADOW_MODEL_ENV) if served else None
    if not served or not shadow_id:
        return None
    return next(
        (
            v
            for v in state.model_versions
            if v.arn in served.layers and model_fields(v.description).get("sha256") == shadow_id
        ),
        None,
    )


def choose_shadow(
    request: DeployRequest, state: RemoteState, live: LayerVersion
) -> tuple[LayerVersion | None, list[str]]:
    """The shadow model to link beside ``live``, and what to tell the user:
    ``--shadow-model N``; else the one linked now, unless ``--no-shadow`` or it
    was just promoted (``--model-version`` of the shadow's version)."""
    if request.no_shadow and request.shadow_model is not None:
        raise UsageError("pass either --shadow-model N or --no-shadow, not both")
    current = linked_shadow(state, request.model_layer)
    if request.no_shadow:
        return None, [f"shadow model {short_arn(current.arn)} removed"] if current else []
    if request.shadow_model is not None:
        shadow = find_model_version(state.model_versions, request.model_layer, request.shadow_model)
        if shadow.arn == live.arn:
            raise UsageError(
                f"--shadow-model {shadow.version} is the live model: pass another version, or "
                "--model-version M to serve another"
            )
    elif current is None:
        return None, []
    elif current.arn == live.arn:
        return None, [f"model {short_arn(live.arn)} promoted: it serves, the shadow is removed"]
    else:
        shadow = current
    _check_side_by_side(live, shadow)
    return shadow, [
        f"shadow model {short_arn(shadow.arn)} predicts every batch beside "
        f"{short_arn(live.arn)}: logged and counted, never returned or written "
        "(mlayer logs shows the agreement; deploy --no-shadow removes it)"
    ]


def _check_side_by_side(live: LayerVersion, shadow: LayerVersion) -> None:
    """Refuse two model layers of the layout before each had its own directory:
    under /opt they would overwrite each other's files."""
    if in_own_directory(live.description) or in_own_directory(shadow.description):
        return
    raise UsageError(
        f"model layers {short_arn(live.arn)} and {short_arn(shadow.arn)} were both published "
        "before model layers had their own directory, and would overwrite each other's files: "
        "publish one of them again (mlayer publish-model --force) and use that version"
    )


# --- deploy -------------------------------------------------------------------------------


def trigger_specs(request: DeployRequest, state: RemoteState) -> list[TriggerSpec]:
    """The stream triggers the function should have, each source checked to exist."""
    flags = {arn: flag for flag, arn in request.sources}
    sources = [arn for _flag, arn in request.sources] or [t.source_arn for t in state.triggers]
    if not sources:
        raise UsageError(
            "no stream to trigger from: pass --stream-arn ARN (a Kinesis stream) or "
            "--table-stream-arn ARN (a DynamoDB table stream)"
        )
    for arn in sources:
        kinesis = source_kind(arn) == "kinesis"
        default_flag = "--stream-arn" if kinesis else "--table-stream-arn"
        _check_source(state, flags.get(arn, default_flag), arn, kinesis)
    return [replace(request.trigger, source_arn=arn) for arn in sources]


def _check_source(state: RemoteState, flag: str, arn: str, kinesis: bool) -> None:
    """Refuse a source that cannot be read; one in another account says so."""
    source = state.source(arn)
    if source is None:
        raise ValueError(f"the snapshot did not read the source {arn}")
    other_account = account_mismatch(flag, arn, state.account_id) if state.account_id else None
    if source.error is not None and not other_account:
        raise AwsError(source.error)  # AWS's own refusal, as it said it
    if source.exists and source.error is None:
        return
    if other_account:
        raise UsageError(other_account)
    if kinesis:
        raise NotFound(f"Kinesis stream {arn} not found: create it or fix {flag}")
    raise NotFound(
        f"DynamoDB table stream {arn} not found: enable the table's stream "
        f"(NEW_IMAGE or NEW_AND_OLD_IMAGES) or fix {flag}"
    )


def check_sink(sink: SinkSpec, state: RemoteState) -> None:
    """Refuse a sink whose table or stream does not exist, or a table keyed otherwise."""
    if sink.kind == "dynamodb":
        key = state.sink.table_key
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
    elif sink.kind == "kinesis" and not state.sink.exists:
        raise NotFound(f"sink stream {sink.name} not found: create it or fix --sink")


def execution_role(
    request: DeployRequest, state: RemoteState, sources: list[str]
) -> tuple[str, PutRole | None]:
    """The role ARN for the function, and the step that creates or updates it."""
    if not request.create_role:
        role = request.role or (state.function.role if state.function else None)
        if not role:
            raise UsageError(
                f"function {request.function_name} does not exist yet: pass --role ARN "
                "(its execution role) or --create-role"
            )
        return role, None
    if state.role is None or state.account_id is None:
        raise ValueError("the snapshot did not read the role --create-role manages")
    policy = role_policy(
        function_name=request.function_name,
        region=state.region,
        account=state.account_id,
        sources=sources,
        sink=request.sink,
        on_failure=request.trigger.on_failure,
    )
    existing = state.role.arn
    arn = existing or f"arn:aws:iam::{state.account_id}:role/{request.role_name}"
    if existing and state.role.policy == policy:
        return arn, None
    return arn, PutRole(request.role_name, policy_json(policy), create=existing is None)


def plan_function(request: DeployRequest, state: RemoteState) -> tuple[Plan, FunctionSpec]:
    """Check every input against the snapshot and plan the deploy; refusals raise."""
    check_deploy_request(request, state.region)
    current = state.function
    # Lambda blocks creating functions on a deprecated runtime first, updating them later.
    deprecated = check_runtime_dates(
        request.runtime,
        request.today,
        allow_deprecated=request.allow_deprecated_runtime,
        creating=current is None,
    )
    if not request.create_role and not (request.role or current):
        execution_role(request, state, [])  # the one-line refusal, before the rest
    check_alias_is_ours(state.alias, request.function_name)
    wanted = trigger_specs(request, state)
    check_sink(request.sink, state)
    role, put_role = execution_role(request, state, [t.source_arn for t in wanted])

    deps = newest(state.deps_versions, request.deps_layer, "mlayer build-deps --publish")
    model, pinned, pin_notes = choose_model(
        state.model_versions,
        request.model_layer,
        request.model_version,
        pinned_version(state.alias, state.function),
    )
    checked = gate_layers(model, deps, request.allow_version_mismatch)
    shadow, shadow_notes = choose_shadow(request, state, model)
    if shadow is not None:
        gate_layers(shadow, deps, request.allow_version_mismatch)
    check_function_size(deps, model, request.code_bytes, shadow)
    environment = environment_for(
        text_field=request.text_field,
        text_is_json=request.text_is_json,
        sink=request.sink.env,
    )
    # The pin lives on the alias now: in the environment it would cost a
    # configuration update (and a new version) each time it moves.
    environment.update(model_variables(model, checked, None))
    if shadow is not None:
        environment[SHADOW_MODEL_ENV] = model_fields(shadow.description)["sha256"]
    spec = FunctionSpec(
        name=request.function_name,
        role=role,
        runtime=request.runtime,
        handler=HANDLER,
        arch=request.arch,
        memory=request.memory,
        timeout=request.timeout,
        code_sha256=request.code_sha256,
        layers=(deps.arn, model.arn, *([shadow.arn] if shadow else [])),
        environment=tuple(sorted(environment.items())),
        snapstart=request.snapstart,
    )
    if request.snapstart is None and current is not None and current.snapstart:
        refusal = snapstart_refusal(request.runtime)  # a runtime moved under SnapStart
        if refusal:
            raise UsageError(refusal.replace("drop --snapstart", "pass --no-snapstart"))
    release = Release(
        alias=request.alias,
        current=state.alias,
        versions=state.versions,
        description=version_description(
            short_arn(deps.arn), short_arn(model.arn), model_fields(model.description).get("label")
        ),
        pinned=pinned,
        provisioned=request.provisioned_concurrency,
        provisioned_now=state.provisioned or 0,
    )
    notes = (*([deprecated] if deprecated else []), *pin_notes, *shadow_notes, *checked.notes())
    plan = plan_deploy(
        spec, current, wanted, list(state.triggers), role=put_role, notes=notes, release=release
    )
    return plan, spec


# --- rollback -----------------------------------------------------------------------------


def previous_model_version(
    versions: Sequence[LayerVersion], layer_name: str, current: FunctionState
) -> int:
    """The newest existing model layer version older than the live one."""
    live = [layer_version_of(a) for a in current.layers if layer_name_of(a) == layer_name]
    if not live:
        raise UsageError(f"function {current.name} links no version of layer {layer_name}")
    older = [v.version for v in versions if v.version < live[0]]
    if not older:
        raise NotFound(
            f"no version of {layer_name} older than the live {live[0]} exists: "
            "pass --version N (mlayer versions lists them)"
        )
    return max(older)


def plan_rollback(request: RollbackRequest, state: RemoteState) -> tuple[Plan, LayerVersion]:
    """Plan the way back to model version ``request.version`` (None: ``--to-previous``),
    through the gate. Returns the plan and the model version it serves.

    Behind the alias, a rollback is one alias update to a version that already
    carries that model with the deps layer now live; only when none exists is
    one published. A function deployed before versions is relinked in place.
    """
    current = state.function
    if current is None:
        raise NotFound(f"function {request.function_name} does not exist: run mlayer deploy first")
    check_alias_is_ours(state.alias, current.name)
    if state.alias is None:
        plan, target = _relink_in_place(request, state, current)
        note = "deploy once to move the function onto versions: rollbacks then switch an alias"
        return replace(plan, notes=(*plan.notes, note)), target
    serving = state.live
    if serving is None:
        raise NotFound(
            f"alias {state.alias.name} points at version {state.alias.version} of "
            f"{current.name}, which does not exist: run mlayer deploy"
        )
    latest = newest(state.model_versions, request.model_layer, "mlayer publish-model")
    if request.version is None:
        return _to_previous(request, state, latest)
    target = find_model_version(state.model_versions, request.model_layer, request.version)
    pinned = target.version if target.version < latest.version else None
    deps = state.linked_deps
    checked = check_rollback_target(target, deps, request.allow_version_mismatch)
    release = Release(
        alias=state.alias.name,
        current=state.alias,
        versions=state.versions,
        description=version_description(
            short_arn(deps.arn) if deps else "-",
            short_arn(target.arn),
            model_fields(target.description).get("label"),
        ),
        pinned=pinned,
    )
    notes = [*checked.notes(), *_pin_notes(target, latest)]
    # What serves now, with only the model (its layer and variables) swapped: the
    # deps layer, the code, the user's layers and variables stay as they are live.
    environment = {k: v for k, v in serving.environment.items() if k not in MODEL_VARIABLES}
    environment.update(model_variables(target, checked, None))
    layers = relinked_layers(serving.layers, target.arn)
    wanted = replace(serving, layers=layers, environment=environment)
    carrying = [v for v in state.versions if v.same_configuration(wanted)]
    if carrying:
        version = carrying[0]
        step = release.pointing(current.name, version.version, f"model {short_arn(target.arn)}")
        if version.version == state.alias.version and step.description == state.alias.description:
            return Plan((), (f"{state.alias.name} already serves {short_arn(target.arn)}",)), target
        plan = _alias_plan(current, (step,), notes, version, state.alias.name, target.name)
        return plan, target
    # No version carries it: relink $LATEST, publish it, point the alias at it.
    try:
        relinked = plan_relink(current, target.arn, environment)
    except ValueError as exc:
        raise UsageError(f"{exc}: run mlayer deploy to link it") from exc
    publish = PublishVersion(current.name, current.code_sha256, release.description)
    pointing = release.pointing(current.name, None, f"model {short_arn(target.arn)}")
    steps = (*relinked.steps, publish, pointing)
    note = (
        f"no version carries {short_arn(target.arn)} with the deps layer, code and settings "
        "now live: one is published"
    )
    plan = _alias_plan(current, steps, (*notes, note), None, state.alias.name, target.name)
    outcome = relinked.outcome and replace(relinked.outcome, qualifier=state.alias.name)
    return replace(plan, outcome=outcome), target


def _to_previous(
    request: RollbackRequest, state: RemoteState, latest: LayerVersion
) -> tuple[Plan, LayerVersion]:
    """Point the alias back at the version it pointed at before."""
    assert state.alias is not None and state.function is not None
    previous = alias_fields(state.alias.description).get("previous")
    version = state.version(previous) if previous else None
    if version is None:
        what = f"version {previous}, which no longer exists" if previous else "no version"
        raise NotFound(
            f"alias {state.alias.name} records {what} before this one: pass --version N "
            "(mlayer versions lists them)"
        )
    model_arn = next((a for a in version.layers if layer_name_of(a) == request.model_layer), None)
    target = next((v for v in state.model_versions if v.arn == model_arn), None)
    if target is None:
        raise NotFound(
            f"version {version.version} links no existing version of {request.model_layer}: "
            "pass --version N (mlayer versions lists them)"
        )
    pinned = target.version if target.version < latest.version else None
    release = Release(state.alias.name, state.alias, state.versions, "", pinned)
    carries = f"model {short_arn(target.arn)}"
    step = release.pointing(state.function.name, version.version, carries)
    notes = _pin_notes(target, latest)
    plan = _alias_plan(
        state.function, (step,), notes, version, state.alias.name, request.model_layer
    )
    return plan, target


def check_rollback_target(
    target: LayerVersion, deps: LayerVersion | None, allow_mismatch: bool
) -> GateResult:
    """The gate and the size budget for serving ``target`` with the deps layer ``deps``
    (None: the function links no deps layer mlayer can read, so nothing to compare)."""
    if deps is None:
        return gate.compare({}, {}, model_ref=short_arn(target.arn), deps_ref="(no deps layer)")
    checked = gate_layers(target, deps, allow_mismatch)
    check_function_size(deps, target)
    return checked


def _pin_notes(target: LayerVersion, latest: LayerVersion) -> list[str]:
    """What a rollback to an older model than the newest tells: it is pinned."""
    if target.version >= latest.version:
        return []
    return [
        f"pinned: plain deploys keep {target.name}:{target.version}; "
        f"deploy --model-version {latest.version} moves to the newest"
    ]


def _alias_plan(
    current: FunctionState,
    steps: tuple[Step, ...],
    notes: Sequence[str],
    serves: FunctionState | None,
    alias: str,
    model_layer: str,
) -> Plan:
    """A plan that moves ``alias`` (to ``serves``, or to the version its steps
    publish); when ``serves`` is known, it is read back through the alias after."""
    served = f"version {serves.version}" if serves else "the new version"
    outcome = (
        Outcome(
            current.name,
            serves.layers,
            frozenset({model_layer}),
            tuple(sorted(owned_environment(serves.environment).items())),
            qualifier=alias,
        )
        if serves
        else None
    )
    return Plan(
        steps,
        (*notes, f"{current.name}'s trigger follows the alias: {served} serves the next batch"),
        revision_id=current.revision_id,
        outcome=outcome,
    )


def _relink_in_place(
    request: RollbackRequest, state: RemoteState, current: FunctionState
) -> tuple[Plan, LayerVersion]:
    """A function deployed before versions: relink ``$LATEST``'s model layer (and pin
    it in the environment, where such a function keeps its pin)."""
    layer_name, versions = request.model_layer, state.model_versions
    version = request.version
    if version is None:
        version = previous_model_version(versions, layer_name, current)
    target, pinned, pin_notes = choose_model(
        versions, layer_name, version, pinned_version(state.alias, state.function)
    )
    deps = state.linked_deps
    checked = check_rollback_target(target, deps, request.allow_version_mismatch)
    # Only the model's variables move; every other one (the user's too) is kept.
    environment = {k: v for k, v in current.environment.items() if k not in MODEL_VARIABLES}
    environment.update(model_variables(target, checked, pinned))
    try:
        plan = plan_relink(current, target.arn, environment)
    except ValueError as exc:
        raise UsageError(f"{exc}: run mlayer deploy to link it") from exc
    return replace(plan, notes=(*plan.notes, *pin_notes, *checked.notes())), target
