"""A ``Plan`` and its ``Steps``: what a deploy, rollback or cleanup would do (pure values).

Each step describes itself in one line, which is what ``--dry-run`` prints
and what a failed apply reports; ``executor.apply`` carries out the very same
objects. A plan with no steps means nothing would change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlayer.arns import layer_name_of, short_arn
from mlayer.contract import OWNED_ENV_PREFIX
from mlayer.descriptions import version_fields
from mlayer.settings import SAFE_BISECT_ON_ERROR, SAFE_MAXIMUM_RECORD_AGE, SAFE_MAXIMUM_RETRIES
from mlayer.state import (
    LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE,
    LAMBDA_DEFAULT_MAXIMUM_RETRIES,
    LAMBDA_DEFAULT_PARALLELIZATION,
    FunctionState,
)

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
MAPPING_METRICS = ("EventCount",)  # MetricsConfig: what Lambda accepts for a stream mapping


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
    snapstart: bool | None = None  # None: as the function has it

    def configuration(self) -> dict[str, object]:
        """The UpdateFunctionConfiguration fields this spec sets."""
        fields: dict[str, object] = {
            "Role": self.role,
            "Runtime": self.runtime,
            "Handler": self.handler,
            "MemorySize": self.memory,
            "Timeout": self.timeout,
            "Layers": list(self.layers),
            "Environment": {"Variables": dict(self.environment)},
        }
        if self.snapstart is not None:
            fields["SnapStart"] = snapstart_field(self.snapstart)
        return fields

    def matches(self, state: FunctionState) -> bool:
        """Whether ``state`` (a published version, say) is this spec: same code and
        configuration."""
        return (
            state.code_sha256 == self.code_sha256
            and state.architecture == self.arch
            and state.role == self.role
            and state.runtime == self.runtime
            and state.handler == self.handler
            and state.memory == self.memory
            and state.timeout == self.timeout
            and state.layers == self.layers
            and state.environment == dict(self.environment)
            and (self.snapstart is None or state.snapstart == self.snapstart)
        )


def snapstart_field(on: bool) -> dict[str, str]:
    """Lambda's SnapStart setting: snapshots of published versions, or none."""
    return {"ApplyOn": "PublishedVersions" if on else "None"}


def owned_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environment`` that mlayer owns (``MLAYER_*``)."""
    return {k: v for k, v in environment.items() if k.startswith(OWNED_ENV_PREFIX)}


@dataclass(frozen=True)
class Outcome:
    """What the function links once the plan is applied. Read back after
    applying, mlayer's part of it (``owned_layers``, ``MLAYER_*``) must match:
    otherwise someone else changed it while mlayer was deploying."""

    function_name: str
    layers: tuple[str, ...]  # every layer, in order
    owned_layers: frozenset[str]  # the names of mlayer's layers among them
    environment: tuple[tuple[str, str], ...]  # mlayer's variables only
    qualifier: str | None = None  # read back through the alias, when there is one

    def differs(self, state: FunctionState | None) -> bool:
        if state is None:
            return True
        linked = tuple(a for a in state.layers if layer_name_of(a) in self.owned_layers)
        planned = tuple(a for a in self.layers if layer_name_of(a) in self.owned_layers)
        return linked != planned or owned_environment(state.environment) != dict(self.environment)


@dataclass(frozen=True)
class TriggerSpec:
    """A stream event source mapping (Kinesis or DynamoDB Streams) as it should be.

    Defaults are mlayer's (settings.py says why), not Lambda's.
    """

    source_arn: str
    batch_size: int
    starting_position: str
    bisect_on_error: bool = SAFE_BISECT_ON_ERROR
    maximum_retries: int = SAFE_MAXIMUM_RETRIES
    maximum_record_age: int = SAFE_MAXIMUM_RECORD_AGE
    parallelization_factor: int = LAMBDA_DEFAULT_PARALLELIZATION
    on_failure: str | None = None  # SQS/SNS/S3 ARN for records that exhaust their retries

    def settings(self) -> dict[str, object]:
        """The fields a mapping update can change, in the API's names."""
        return {
            "BatchSize": self.batch_size,
            "BisectBatchOnFunctionError": self.bisect_on_error,
            "MaximumRetryAttempts": self.maximum_retries,
            "MaximumRecordAgeInSeconds": self.maximum_record_age,
            "ParallelizationFactor": self.parallelization_factor,
            "DestinationConfig": {"OnFailure": {"Destination": self.on_failure}}
            if self.on_failure
            else {"OnFailure": {}},
            # Lambda's own count of the events the mapping polled, filtered, dropped
            # and failed (the ESM metrics): the stream side that the handler cannot see.
            "MetricsConfig": {"Metrics": list(MAPPING_METRICS)},
        }

    def create_request(self) -> dict[str, object]:
        request = {
            "EventSourceArn": self.source_arn,
            "StartingPosition": self.starting_position,
            "FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES],
            **self.settings(),
        }
        if not self.on_failure:
            del request["DestinationConfig"]
        return request

    def describe_options(self) -> str:
        parts = [f"batch {self.batch_size}", self.starting_position]
        if self.bisect_on_error:
            parts.append("bisect on error")
        if self.maximum_retries != LAMBDA_DEFAULT_MAXIMUM_RETRIES:
            parts.append(f"{self.maximum_retries} retries")
        if self.maximum_record_age != LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE:
            parts.append(f"record age {self.maximum_record_age} s")
        if self.parallelization_factor != LAMBDA_DEFAULT_PARALLELIZATION:
            parts.append(f"{self.parallelization_factor} batches per shard")
        if self.on_failure:
            parts.append(f"on failure -> {self.on_failure}")
        return ", ".join([*parts, REPORT_BATCH_ITEM_FAILURES])


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
class PublishVersion:
    """Publish ``$LATEST`` as a new immutable version, only if it still has the
    code the deploy wrote (CodeSha256) and its revision (RevisionId)."""

    name: str
    code_sha256: str
    description: str  # descriptions.version_description

    def describe(self) -> str:
        carried = version_fields(self.description)
        what = f" (deps {carried['deps']}, model {carried['model']})" if carried else ""
        return f"publish a version of {self.name}{what}"


@dataclass(frozen=True)
class PointAlias:
    """Create or move the alias the trigger targets. ``version`` None: the version
    the plan's ``PublishVersion`` published."""

    name: str
    alias: str
    version: str | None
    description: str  # descriptions.alias_description: the pin, the version before
    create: bool = False
    before: str | None = None  # the version it pointed at
    carries: str = ""  # what that version serves, e.g. "model fn-model:1"
    # The alias's RevisionId when planned: Lambda refuses the move if it moved since.
    revision_id: str = ""

    def describe(self) -> str:
        target = f"version {self.version}" if self.version else "the new version"
        if self.carries:
            target += f" ({self.carries})"
        if self.create:
            return f"create alias {self.name}:{self.alias} -> {target}"
        if self.version == self.before:
            return f"update alias {self.name}:{self.alias} ({self.description})"
        return f"point alias {self.name}:{self.alias} at {target} (was version {self.before})"


@dataclass(frozen=True)
class SetProvisionedConcurrency:
    """Provisioned concurrency on the alias; 0 removes it."""

    name: str
    alias: str
    count: int
    before: int

    def describe(self) -> str:
        if self.count == 0:
            return f"remove provisioned concurrency from {self.name}:{self.alias}"
        return (
            f"provisioned concurrency on {self.name}:{self.alias}: {self.before} -> {self.count} "
            "warm environments"
        )


@dataclass(frozen=True)
class CreateTrigger:
    function_name: str
    spec: TriggerSpec
    alias: str | None = None  # the trigger targets this alias of the function

    @property
    def target(self) -> str:
        return f"{self.function_name}:{self.alias}" if self.alias else self.function_name

    def describe(self) -> str:
        return (
            f"create trigger {self.spec.source_arn} -> {self.target} "
            f"({self.spec.describe_options()})"
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


@dataclass(frozen=True)
class PutRole:
    """Create the execution role (when ``create``) and set its inline policy."""

    name: str
    policy: str  # JSON
    create: bool

    def describe(self) -> str:
        verb = "create role" if self.create else "update the policy of role"
        return f"{verb} {self.name} (least privilege: mlayer iam-policy shows it)"


@dataclass(frozen=True)
class DeleteLayerVersion:
    arn: str

    def describe(self) -> str:
        return f"delete {short_arn(self.arn)}"


@dataclass(frozen=True)
class DeleteFunctionVersion:
    name: str
    version: str

    def describe(self) -> str:
        return f"delete function version {self.name}:{self.version}"


Step = (
    PutRole
    | CreateFunction
    | UpdateCode
    | UpdateConfiguration
    | PublishVersion
    | PointAlias
    | SetProvisionedConcurrency
    | CreateTrigger
    | UpdateTrigger
    | DeleteLayerVersion
    | DeleteFunctionVersion
)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())
    # The RevisionId of the function the plan was made from: its first update
    # carries it, so Lambda refuses the update if the function changed since.
    revision_id: str = ""
    outcome: Outcome | None = None

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
    if name == "FunctionName":
        return (
            f"target {_qualified(old)} -> {_qualified(new)} (the same mapping, UUID and "
            "stream position kept)"
        )
    if name == "Environment":
        before, after = _variables(old), _variables(new)
        changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
        return "environment " + ", ".join(
            f"{k} {_short(before.get(k))} -> {_short(after.get(k))}" for k in changed
        )
    return f"{name} {old} -> {new}"


def _qualified(arn: object) -> str:
    """``arn:aws:lambda:…:function:NAME[:QUALIFIER]`` -> ``NAME[:QUALIFIER]``."""
    text = str(arn)
    return text.split(":function:", 1)[1] if ":function:" in text else text


def _variables(environment: object) -> dict[str, str]:
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    return dict(variables) if isinstance(variables, dict) else {}


def _short(value: str | None) -> str:
    if value is None:
        return "(unset)"
    return value if len(value) <= 24 else value[:16] + "…"


@dataclass(frozen=True)
class Kept:
    arn: str
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return f"keep {short_arn(self.arn)}: {', '.join(self.reasons)}"
