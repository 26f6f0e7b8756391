"""Desired state vs what AWS has -> a ``Plan`` of explicit steps (pure, no I/O).

``deploy``, a model relink and ``rollback`` are all plans. ``--dry-run`` prints
a plan; ``executor.apply`` carries out the very same object. A plan with no
steps means nothing would change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlayer.aws import FunctionState, TriggerState, layer_name_of

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def short_arn(arn: str) -> str:
    """``…:layer:NAME:7`` -> ``NAME:7`` for messages."""
    parts = arn.split(":")
    return ":".join(parts[-2:]) if ":layer:" in arn else arn


@dataclass(frozen=True)
class FunctionSpec:
    """The function as it should be."""

    name: str
    role: str
    runtime: str
    handler: str
    arch: str
    memory: int
    timeout: int
    code_sha256: str  # Lambda's base64 form
    layers: tuple[str, ...]
    environment: tuple[tuple[str, str], ...] = ()

    def configuration(self) -> dict[str, object]:
        """The UpdateFunctionConfiguration fields this spec sets."""
        return {
            "Role": self.role,
            "Runtime": self.runtime,
            "Handler": self.handler,
            "MemorySize": self.memory,
            "Timeout": self.timeout,
            "Layers": list(self.layers),
            "Environment": {"Variables": dict(self.environment)},
        }


@dataclass(frozen=True)
class TriggerSpec:
    """The Kinesis event source mapping as it should be."""

    source_arn: str
    batch_size: int
    starting_position: str

    def create_request(self) -> dict[str, object]:
        return {
            "EventSourceArn": self.source_arn,
            "BatchSize": self.batch_size,
            "StartingPosition": self.starting_position,
            "FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES],
        }


@dataclass(frozen=True)
class CreateFunction:
    spec: FunctionSpec

    def describe(self) -> str:
        layers = ", ".join(short_arn(arn) for arn in self.spec.layers)
        return (
            f"create function {self.spec.name} ({self.spec.runtime}/{self.spec.arch}, "
            f"{self.spec.memory} MB, {self.spec.timeout} s) with layers {layers}"
        )


@dataclass(frozen=True)
class UpdateCode:
    name: str
    arch: str

    def describe(self) -> str:
        return f"update the code of {self.name} (handler/ changed)"


@dataclass(frozen=True)
class UpdateConfiguration:
    name: str
    changes: tuple[tuple[str, object, object], ...]  # (field, old, new)

    def request(self) -> dict[str, object]:
        return {field_name: new for field_name, _old, new in self.changes}

    def describe(self) -> str:
        return f"update {self.name}: " + "; ".join(
            _describe_change(name, old, new) for name, old, new in self.changes
        )


@dataclass(frozen=True)
class CreateTrigger:
    function_name: str
    spec: TriggerSpec

    def describe(self) -> str:
        return (
            f"create trigger {self.spec.source_arn} -> {self.function_name} "
            f"(batch {self.spec.batch_size}, {self.spec.starting_position}, "
            f"{REPORT_BATCH_ITEM_FAILURES})"
        )


@dataclass(frozen=True)
class UpdateTrigger:
    uuid: str
    source_arn: str
    changes: tuple[tuple[str, object, object], ...]

    def request(self) -> dict[str, object]:
        return {field_name: new for field_name, _old, new in self.changes}

    def describe(self) -> str:
        return f"update trigger {self.source_arn}: " + "; ".join(
            _describe_change(name, old, new) for name, old, new in self.changes
        )


Step = CreateFunction | UpdateCode | UpdateConfiguration | CreateTrigger | UpdateTrigger


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.steps)

    def describe(self) -> list[str]:
        return [step.describe() for step in self.steps]


def _describe_change(name: str, old: object, new: object) -> str:
    if name == "Layers":
        old_layers = ", ".join(short_arn(a) for a in old) if isinstance(old, list | tuple) else ""
        new_layers = ", ".join(short_arn(a) for a in new) if isinstance(new, list | tuple) else ""
        return f"layers [{old_layers}] -> [{new_layers}]"
    if name == "Environment":
        return "environment variables"
    return f"{name} {old} -> {new}"


def plan_deploy(
    desired: FunctionSpec,
    current: FunctionState | None,
    trigger: TriggerSpec,
    triggers: list[TriggerState],
) -> Plan:
    """The steps that take the function and its trigger from ``current`` to ``desired``."""
    steps: list[Step] = []
    notes: list[str] = []
    if current is None:
        steps.append(CreateFunction(desired))
    else:
        if current.code_sha256 != desired.code_sha256 or current.architecture != desired.arch:
            steps.append(UpdateCode(desired.name, desired.arch))
        changes = _configuration_changes(desired, current)
        if changes:
            steps.append(UpdateConfiguration(desired.name, changes))

    existing = next((t for t in triggers if t.source_arn == trigger.source_arn), None)
    if existing is None:
        steps.append(CreateTrigger(desired.name, trigger))
    else:
        trigger_changes: list[tuple[str, object, object]] = []
        if existing.batch_size != trigger.batch_size:
            trigger_changes.append(("BatchSize", existing.batch_size, trigger.batch_size))
        if REPORT_BATCH_ITEM_FAILURES not in existing.response_types:
            trigger_changes.append(
                (
                    "FunctionResponseTypes",
                    list(existing.response_types),
                    [REPORT_BATCH_ITEM_FAILURES],
                )
            )
        if trigger_changes:
            steps.append(UpdateTrigger(existing.uuid, existing.source_arn, tuple(trigger_changes)))
        if existing.starting_position and existing.starting_position != trigger.starting_position:
            notes.append(
                f"the trigger keeps starting position {existing.starting_position}: "
                "Lambda cannot change it on an existing mapping"
            )
    others = [t.source_arn for t in triggers if t.source_arn != trigger.source_arn]
    if others:
        notes.append("left untouched: other triggers from " + ", ".join(others))
    return Plan(tuple(steps), tuple(notes))


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


def plan_relink(current: FunctionState, model_layer_arn: str) -> Plan:
    """Point the function's model layer at ``model_layer_arn``, every other layer kept.

    Raises ValueError when the function links no version of that layer.
    """
    model_layer = layer_name_of(model_layer_arn)
    if not any(layer_name_of(arn) == model_layer for arn in current.layers):
        raise ValueError(f"function {current.name} links no version of layer {model_layer}")
    layers = [
        model_layer_arn if layer_name_of(arn) == model_layer else arn for arn in current.layers
    ]
    if layers == list(current.layers):
        return Plan((), (f"{current.name} already links {short_arn(model_layer_arn)}",))
    return Plan((UpdateConfiguration(current.name, (("Layers", list(current.layers), layers),)),))
