"""What differs between the function, its triggers and layers as they are and
as they should be -> the steps that close the gap (pure, no I/O).

mlayer owns, on the function, its two layers (by layer name) and the
environment variables whose names start with ``MLAYER_``; these diffs change
only those and keep every other layer and variable as they find them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mlayer.arns import layer_name_of, short_arn
from mlayer.contract import OWNED_ENV_PREFIX
from mlayer.descriptions import alias_description, alias_fields, version_fields
from mlayer.errors import UsageError
from mlayer.settings import SAFE_BISECT_ON_ERROR, SAFE_MAXIMUM_RECORD_AGE, SAFE_MAXIMUM_RETRIES
from mlayer.state import (
    LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE,
    LAMBDA_DEFAULT_MAXIMUM_RETRIES,
    AliasState,
    FunctionState,
    TriggerState,
)
from mlayer.steps import (
    REPORT_BATCH_ITEM_FAILURES,
    CreateFunction,
    CreateTrigger,
    DeleteFunctionVersion,
    DeleteLayerVersion,
    FunctionSpec,
    Kept,
    Outcome,
    Plan,
    PointAlias,
    PublishVersion,
    PutRole,
    SetProvisionedConcurrency,
    Step,
    TriggerSpec,
    UpdateCode,
    UpdateConfiguration,
    UpdateTrigger,
    owned_environment,
    snapstart_field,
)

LAYER_LIMIT = 5  # Lambda links at most five layers to a function


@dataclass(frozen=True)
class Release:
    """How a deploy reaches the trigger: ``$LATEST`` published as an immutable
    version, and ``alias`` (which the trigger targets) pointed at it."""

    alias: str
    current: AliasState | None  # the alias as it is, None before the first release
    versions: tuple[FunctionState, ...]  # the published versions, newest first
    description: str  # the new version's (descriptions.version_description)
    pinned: int | None  # the model version to pin on the alias, if any
    provisioned: int | None = None  # wanted on the alias; None: leave as is
    provisioned_now: int = 0

    def alias_arn(self, function: FunctionState) -> str:
        return self.current.arn if self.current else f"{function.arn}:{self.alias}"

    def pointing(self, name: str, version: str | None, carries: str = "") -> PointAlias:
        """The step that points the alias at ``version`` (None: the one just
        published), recording the pin and the version it pointed at before."""
        before = self.current.version if self.current else None
        moving = version is None or version != before
        kept_previous = (
            alias_fields(self.current.description).get("previous") if self.current else None
        )
        previous = before if moving else kept_previous
        return PointAlias(
            name,
            self.alias,
            version,
            alias_description(self.pinned, previous),
            create=self.current is None,
            before=before,
            carries=carries,
            revision_id=self.current.revision_id if self.current else "",
        )


def keep_foreign(desired: FunctionSpec, current: FunctionState) -> tuple[FunctionSpec, str | None]:
    """``desired`` (mlayer's layers and variables only) with what the function
    has that mlayer does not own kept, and a note naming what is kept.

    Layers: mlayer's first, then the function's other layers in their order.
    Environment: the function's, its ``MLAYER_*`` variables replaced by mlayer's.
    Refuses (UsageError) more layers than Lambda links.
    """
    owned_names = {layer_name_of(arn) for arn in desired.layers}
    foreign_layers = [arn for arn in current.layers if layer_name_of(arn) not in owned_names]
    layers = (*desired.layers, *foreign_layers)
    if len(layers) > LAYER_LIMIT:
        raise UsageError(
            f"function {desired.name} would link {len(layers)} layers "
            f"({', '.join(short_arn(a) for a in layers)}), over Lambda's limit of "
            f"{LAYER_LIMIT}: remove {len(layers) - LAYER_LIMIT} of its other layers "
            "(aws lambda update-function-configuration --layers) and re-run"
        )
    foreign_env = {
        k: v for k, v in current.environment.items() if not k.startswith(OWNED_ENV_PREFIX)
    }
    environment = {**foreign_env, **dict(desired.environment)}
    kept = []
    if foreign_env:
        kept.append("environment " + ", ".join(sorted(foreign_env)))
    if foreign_layers:
        noun = "layer" if len(foreign_layers) == 1 else "layers"
        kept.append(f"{noun} " + ", ".join(short_arn(a) for a in foreign_layers))
    note = "keeps what mlayer does not own: " + "; ".join(kept) if kept else None
    merged = replace(desired, layers=layers, environment=tuple(sorted(environment.items())))
    return merged, note


def plan_deploy(
    desired: FunctionSpec,
    current: FunctionState | None,
    trigger: TriggerSpec | Sequence[TriggerSpec],
    triggers: list[TriggerState],
    *,
    role: PutRole | None = None,
    notes: Sequence[str] = (),
    release: Release | None = None,
) -> Plan:
    """The steps that take the function and its triggers from ``current`` to ``desired``.

    ``desired`` holds mlayer's layers and ``MLAYER_*`` variables only: what
    else the function has is kept (``keep_foreign``). With ``release``, the
    result is published as a version behind the alias, which the triggers
    target (``plan_release`` says when that takes no new version).
    """
    wanted = [trigger] if isinstance(trigger, TriggerSpec) else list(trigger)
    steps: list[Step] = [role] if role else []
    all_notes: list[str] = list(notes)
    owned_layers = frozenset(layer_name_of(arn) for arn in desired.layers)
    if current is None:
        steps.append(CreateFunction(desired))
        if release is not None:
            steps += [
                PublishVersion(desired.name, desired.code_sha256, release.description),
                release.pointing(desired.name, None),
            ]
    else:
        desired, kept = keep_foreign(desired, current)
        if kept:
            all_notes.append(kept)
        function_steps: list[Step] = []
        if current.code_sha256 != desired.code_sha256 or current.architecture != desired.arch:
            function_steps.append(UpdateCode(desired.name, desired.arch))
        changes = _configuration_changes(desired, current)
        if changes:
            function_steps.append(UpdateConfiguration(desired.name, changes))
        if release is None:
            steps += function_steps
        else:
            release_steps, release_notes = plan_release(desired, function_steps, release)
            steps += release_steps
            all_notes += release_notes
    if release is not None and release.provisioned not in (None, release.provisioned_now):
        assert release.provisioned is not None
        steps.append(
            SetProvisionedConcurrency(
                desired.name, release.alias, release.provisioned, release.provisioned_now
            )
        )

    alias = release.alias if release else None
    for spec in wanted:
        existing = next((t for t in triggers if t.source_arn == spec.source_arn), None)
        if existing is None:
            steps.append(CreateTrigger(desired.name, spec, alias))
            continue
        trigger_changes = trigger_changes_of(spec, existing)
        if release is not None and current is not None:
            target = release.alias_arn(current)
            if existing.function_arn != target:
                trigger_changes = (
                    ("FunctionName", existing.function_arn, target),
                    *trigger_changes,
                )
                all_notes.append(
                    f"the trigger from {existing.source_arn} moves to alias {release.alias} by "
                    "updating the mapping in place: its UUID and stream position are kept (a "
                    "new mapping would start from LATEST or TRIM_HORIZON, skipping or repeating "
                    "records)"
                )
        if trigger_changes:
            steps.append(UpdateTrigger(existing.uuid, existing.source_arn, trigger_changes))
            if _to_safe_defaults(trigger_changes):
                all_notes.append(
                    f"the trigger from {existing.source_arn} moves from Lambda's defaults "
                    "(retry a failing batch until its records expire) to mlayer's: "
                    f"{spec.describe_options()}"
                )
        if existing.starting_position and existing.starting_position != spec.starting_position:
            all_notes.append(
                f"the trigger keeps starting position {existing.starting_position}: "
                "Lambda cannot change it on an existing mapping"
            )
    if any(_drops_records(spec) for spec in wanted):
        all_notes.append(
            "records that exhaust their retries or outlive the record age are dropped: "
            "pass --on-failure ARN (SQS/SNS/S3) to keep them"
        )
    sources = {spec.source_arn for spec in wanted}
    others = [t.source_arn for t in triggers if t.source_arn not in sources]
    if others:
        all_notes.append("left untouched: other triggers from " + ", ".join(others))
    outcome = Outcome(
        desired.name,
        desired.layers,
        owned_layers,
        tuple(sorted(owned_environment(dict(desired.environment)).items())),
        qualifier=alias,
    )
    return Plan(
        tuple(steps),
        tuple(all_notes),
        revision_id=current.revision_id if current else "",
        outcome=outcome,
    )


def plan_release(
    desired: FunctionSpec, function_steps: Sequence[Step], release: Release
) -> tuple[list[Step], list[str]]:
    """The steps that put ``desired`` behind the alias, and notes.

    The alias already serving ``desired``: nothing (a pin change only rewrites the
    alias's description). A published version that is ``desired`` (after a
    rollback, or a deploy interrupted before the alias moved): the alias moves to
    it, ``$LATEST`` untouched. Otherwise ``$LATEST`` is updated, published, and
    the alias pointed at the new version.
    """
    serving = (
        next((v for v in release.versions if v.version == release.current.version), None)
        if release.current
        else None
    )
    if serving is not None and desired.matches(serving):
        step = release.pointing(desired.name, serving.version)
        assert release.current is not None
        if step.description == release.current.description:
            return [], []
        return [step], []
    match = next((v for v in release.versions if desired.matches(v)), None)
    if match is not None:
        return [release.pointing(desired.name, match.version)], [
            f"version {match.version} already holds this code and configuration: "
            f"alias {release.alias} moves to it, nothing is published"
        ]
    publish = PublishVersion(desired.name, desired.code_sha256, release.description)
    return [*function_steps, publish, release.pointing(desired.name, None)], []


def _drops_records(spec: TriggerSpec) -> bool:
    finite = (
        spec.maximum_retries != LAMBDA_DEFAULT_MAXIMUM_RETRIES
        or spec.maximum_record_age != LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE
    )
    return finite and not spec.on_failure


def _to_safe_defaults(changes: Sequence[tuple[str, object, object]]) -> bool:
    """Whether ``changes`` move a mapping from Lambda's defaults to mlayer's."""
    lambdas = {
        "BisectBatchOnFunctionError": (False, SAFE_BISECT_ON_ERROR),
        "MaximumRetryAttempts": (LAMBDA_DEFAULT_MAXIMUM_RETRIES, SAFE_MAXIMUM_RETRIES),
        "MaximumRecordAgeInSeconds": (LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE, SAFE_MAXIMUM_RECORD_AGE),
    }
    return any(lambdas.get(name) == (old, new) for name, old, new in changes)


def trigger_changes_of(
    spec: TriggerSpec, existing: TriggerState
) -> tuple[tuple[str, object, object], ...]:
    """The fields of ``existing`` to change so it matches ``spec``, as (field, old, new)."""
    observed: dict[str, object] = {
        "BatchSize": existing.batch_size,
        "BisectBatchOnFunctionError": existing.bisect_on_error,
        "MaximumRetryAttempts": existing.maximum_retries,
        "MaximumRecordAgeInSeconds": existing.maximum_record_age,
        "ParallelizationFactor": existing.parallelization_factor,
        "DestinationConfig": {"OnFailure": {"Destination": existing.on_failure}}
        if existing.on_failure
        else {"OnFailure": {}},
        "MetricsConfig": {"Metrics": list(existing.metrics)},
    }
    changes: list[tuple[str, object, object]] = [
        (name, observed[name], value)
        for name, value in spec.settings().items()
        if observed[name] != value
    ]
    if REPORT_BATCH_ITEM_FAILURES not in existing.response_types:
        changes.append(
            ("FunctionResponseTypes", list(existing.response_types), [REPORT_BATCH_ITEM_FAILURES])
        )
    return tuple(changes)


def _configuration_changes(
    desired: FunctionSpec, current: FunctionState
) -> tuple[tuple[str, object, object], ...]:
    observed: Mapping[str, object] = {
        "Role": current.role,
        "Runtime": current.runtime,
        "Handler": current.handler,
        "MemorySize": current.memory,
        "Timeout": current.timeout,
        "Layers": list(current.layers),
        "Environment": {"Variables": current.environment},
        "SnapStart": snapstart_field(current.snapstart),
    }
    return tuple(
        (name, observed[name], value)
        for name, value in desired.configuration().items()
        if observed[name] != value
    )


def relinked_layers(layers: Sequence[str], model_layer_arn: str) -> tuple[str, ...]:
    """``layers`` with the model layer's first version replaced by ``model_layer_arn``
    and any other version of it (a shadow model) dropped: one model serves."""
    model_layer = layer_name_of(model_layer_arn)
    relinked: list[str] = []
    for arn in layers:
        if layer_name_of(arn) != model_layer:
            relinked.append(arn)
        elif model_layer_arn not in relinked:
            relinked.append(model_layer_arn)
    return tuple(relinked)


def plan_relink(
    current: FunctionState, model_layer_arn: str, environment: Mapping[str, str] | None = None
) -> Plan:
    """Point the function's model layer at ``model_layer_arn``, every other layer kept.

    ``environment``, when given, is the function's whole new environment (the
    relink also moves the model's hash and any allowed version mismatch).
    Raises ValueError when the function links no version of that layer.
    """
    model_layer = layer_name_of(model_layer_arn)
    if not any(layer_name_of(arn) == model_layer for arn in current.layers):
        raise ValueError(f"function {current.name} links no version of layer {model_layer}")
    layers = list(relinked_layers(current.layers, model_layer_arn))
    changes: list[tuple[str, object, object]] = []
    if layers != list(current.layers):
        changes.append(("Layers", list(current.layers), layers))
    if environment is not None and dict(environment) != current.environment:
        changes.append(
            (
                "Environment",
                {"Variables": current.environment},
                {"Variables": dict(environment)},
            )
        )
    after = current.environment if environment is None else environment
    outcome = Outcome(
        current.name,
        tuple(layers),
        frozenset({model_layer}),
        tuple(sorted(owned_environment(after).items())),
    )
    if not changes:
        notes = (f"{current.name} already links {short_arn(model_layer_arn)}",)
        return Plan((), notes, revision_id=current.revision_id, outcome=outcome)
    steps = (UpdateConfiguration(current.name, tuple(changes)),)
    return Plan(steps, revision_id=current.revision_id, outcome=outcome)


def plan_cleanup(
    versions: Sequence[str], keep: int, linked_by: Mapping[str, Sequence[str]]
) -> tuple[Plan, tuple[Kept, ...]]:
    """Delete all but the ``keep`` newest model layer versions, never a linked one.

    ``versions`` are layer version ARNs newest first; ``linked_by`` maps an ARN
    to what links it (``$LATEST``, ``version 3``, ``alias prod``, another function).
    """
    kept: list[Kept] = []
    steps: list[Step] = []
    for index, arn in enumerate(versions):
        reasons = [f"linked by {who}" for who in linked_by.get(arn, ())]
        if index < keep:
            reasons.insert(0, f"one of the {keep} newest")
        if reasons:
            kept.append(Kept(arn, tuple(reasons)))
        else:
            steps.append(DeleteLayerVersion(arn))
    notes = tuple(k.describe() for k in kept)
    return Plan(tuple(steps), notes), tuple(kept)


def plan_version_cleanup(
    versions: Sequence[FunctionState], keep: int, aliased: Mapping[str, Sequence[str]]
) -> tuple[list[Step], list[Kept]]:
    """Delete all but the ``keep`` newest function versions mlayer published,
    never one an alias points at (``aliased``: version -> alias names) nor one
    mlayer did not publish. ``versions`` are newest first."""
    steps: list[Step] = []
    kept: list[Kept] = []
    ours = 0
    for version in versions:
        reasons = [f"alias {name} points at it" for name in aliased.get(version.version, ())]
        if not version_fields(version.description):
            reasons.append("not published by mlayer")
        else:
            ours += 1
            if ours <= keep:
                reasons.insert(0, f"one of the {keep} newest")
        if reasons:
            kept.append(Kept(f"{version.name}:{version.version}", tuple(reasons)))
        else:
            steps.append(DeleteFunctionVersion(version.name, version.version))
    return steps, kept
