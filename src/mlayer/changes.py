"""What differs between the function, its triggers and layers as they are and
as they should be -> the steps that close the gap (pure, no I/O).

mlayer owns, on the function, its two layers (by layer name) and the
environment variables whose names start with ``MLAYER_``; these diffs change
only those and keep every other layer and variable as they find them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from mlayer.arns import layer_name_of, short_arn
from mlayer.contract import OWNED_ENV_PREFIX
from mlayer.errors import UsageError
from mlayer.settings import SAFE_BISECT_ON_ERROR, SAFE_MAXIMUM_RECORD_AGE, SAFE_MAXIMUM_RETRIES
from mlayer.state import (
    LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE,
    LAMBDA_DEFAULT_MAXIMUM_RETRIES,
    FunctionState,
    TriggerState,
)
from mlayer.steps import (
    REPORT_BATCH_ITEM_FAILURES,
    CreateFunction,
    CreateTrigger,
    DeleteLayerVersion,
    FunctionSpec,
    Kept,
    Outcome,
    Plan,
    PutRole,
    Step,
    TriggerSpec,
    UpdateCode,
    UpdateConfiguration,
    UpdateTrigger,
    owned_environment,
)

LAYER_LIMIT = 5  # Lambda links at most five layers to a function


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
) -> Plan:
    """The steps that take the function and its triggers from ``current`` to ``desired``.

    ``desired`` holds mlayer's layers and ``MLAYER_*`` variables only: what
    else the function has is kept (``keep_foreign``).
    """
    wanted = [trigger] if isinstance(trigger, TriggerSpec) else list(trigger)
    steps: list[Step] = [role] if role else []
    all_notes: list[str] = list(notes)
    owned_layers = frozenset(layer_name_of(arn) for arn in desired.layers)
    if current is None:
        steps.append(CreateFunction(desired))
    else:
        desired, kept = keep_foreign(desired, current)
        if kept:
            all_notes.append(kept)
        if current.code_sha256 != desired.code_sha256 or current.architecture != desired.arch:
            steps.append(UpdateCode(desired.name, desired.arch))
        changes = _configuration_changes(desired, current)
        if changes:
            steps.append(UpdateConfiguration(desired.name, changes))

    for spec in wanted:
        existing = next((t for t in triggers if t.source_arn == spec.source_arn), None)
        if existing is None:
            steps.append(CreateTrigger(desired.name, spec))
            continue
        trigger_changes = trigger_changes_of(spec, existing)
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
    )
    return Plan(
        tuple(steps),
        tuple(all_notes),
        revision_id=current.revision_id if current else "",
        outcome=outcome,
    )


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
    }
    return tuple(
        (name, observed[name], value)
        for name, value in desired.configuration().items()
        if observed[name] != value
    )


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
    layers = [
        model_layer_arn if layer_name_of(arn) == model_layer else arn for arn in current.layers
    ]
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
