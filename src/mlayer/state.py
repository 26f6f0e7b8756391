"""What AWS holds, as frozen values (no I/O, no boto3).

``aws`` reads these; ``plan`` decides from them. ``RemoteState`` is one
snapshot of everything a deploy or rollback must know, read once
(``mlayer.aws.snapshot``) before planning, so every rule of the planner can
be tested with a snapshot built by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Lambda's own defaults for a stream event source mapping: what a mapping that
# does not report a field has (mlayer's chosen defaults are in settings.py).
LAMBDA_DEFAULT_MAXIMUM_RETRIES = -1  # retry until the record expires
LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE = -1  # until the stream's retention drops it
LAMBDA_DEFAULT_PARALLELIZATION = 1


@dataclass(frozen=True)
class LayerVersion:
    name: str
    version: int
    arn: str
    description: str = ""
    created: str = ""
    code_sha256: str = ""  # Lambda's form: base64 of the zip's sha256
    code_size: int = 0
    location: str = ""  # where Lambda offers the zip (a presigned URL; moto: s3://...)


@dataclass(frozen=True)
class FunctionState:
    """What Lambda says a function is now."""

    name: str
    arn: str
    role: str
    runtime: str
    handler: str
    architecture: str
    memory: int
    timeout: int
    code_sha256: str
    layers: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    state: str = "Active"
    # Lambda's RevisionId of this configuration: updates planned from it carry
    # it, so Lambda refuses them if the function changed in between.
    revision_id: str = ""
    version: str = "$LATEST"  # or the number of a published version
    description: str = ""  # a published version's (descriptions.version_description)
    snapstart: bool = False  # SnapStart ApplyOn PublishedVersions

    def same_configuration(self, other: FunctionState) -> bool:
        """Whether ``other`` runs the same code with the same configuration (as a
        published version of this one would): what a version freezes."""
        return _frozen(self) == _frozen(other)


def _frozen(state: FunctionState) -> tuple[object, ...]:
    return (
        state.code_sha256,
        state.architecture,
        state.role,
        state.runtime,
        state.handler,
        state.memory,
        state.timeout,
        state.layers,
        tuple(sorted(state.environment.items())),
    )


@dataclass(frozen=True)
class AliasState:
    """The alias the trigger targets (``live``): the version it points at, and its
    description, where mlayer keeps the pin and the version it pointed at before."""

    name: str
    arn: str
    version: str
    description: str = ""
    revision_id: str = ""


@dataclass(frozen=True)
class TriggerState:
    uuid: str
    source_arn: str
    batch_size: int
    starting_position: str | None
    response_types: tuple[str, ...]
    state: str
    # Lambda's defaults when a mapping does not report them.
    bisect_on_error: bool = False
    maximum_retries: int = LAMBDA_DEFAULT_MAXIMUM_RETRIES
    maximum_record_age: int = LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE
    parallelization_factor: int = LAMBDA_DEFAULT_PARALLELIZATION
    on_failure: str | None = None
    function_arn: str = ""  # what it invokes: the function, a version or an alias
    metrics: tuple[str, ...] = ()  # MetricsConfig: the ESM metrics Lambda publishes


@dataclass(frozen=True)
class AlarmState:
    """A CloudWatch metric alarm as DescribeAlarms reports it."""

    name: str
    state: str  # OK, ALARM or INSUFFICIENT_DATA
    reason: str = ""
    description: str = ""
    namespace: str = ""
    metric: str = ""
    statistic: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    period: int = 0
    evaluation_periods: int = 0
    threshold: float = 0.0
    comparison: str = ""
    treat_missing_data: str = ""
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkedLayers:
    """Which layer versions one version of a function (or an alias) links."""

    function: str
    version: str  # "$LATEST" or a number
    layers: tuple[str, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceState:
    """A trigger's source stream: whether it can be read. ``error`` is AWS's
    refusal to say (AccessDenied, as AWS answers for another account's stream)."""

    arn: str
    exists: bool
    error: str | None = None


@dataclass(frozen=True)
class SinkState:
    """The sink's table or stream: ``table_key`` is the table's partition key
    (name, type), None when there is no such table; ``exists`` for a stream."""

    exists: bool = True
    table_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class RoleState:
    """The role ``deploy --create-role`` manages: its ARN and mlayer's inline
    policy on it, each None when absent."""

    name: str
    arn: str | None = None
    policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class RemoteState:
    """One read of what a deploy or rollback must know, before planning it."""

    region: str
    function_name: str
    function: FunctionState | None = None
    triggers: tuple[TriggerState, ...] = ()
    deps_versions: tuple[LayerVersion, ...] = ()  # the deps layer's, newest first
    model_versions: tuple[LayerVersion, ...] = ()  # the model layer's, newest first
    # rollback: the deps layer version the function links (by name, else the
    # first linked layer whose description is a deps layer's)
    linked_deps: LayerVersion | None = None
    sources: tuple[SourceState, ...] = ()  # the trigger sources to check
    sink: SinkState = SinkState()
    role: RoleState | None = None  # with --create-role only
    account_id: str | None = None  # read only when needed (a missing source, --create-role)
    alias: AliasState | None = None  # the alias the trigger targets, when it exists
    versions: tuple[FunctionState, ...] = ()  # the published versions, newest first
    provisioned: int | None = None  # on the alias; None when not asked (moto has none)

    def source(self, arn: str) -> SourceState | None:
        return next((s for s in self.sources if s.arn == arn), None)

    def version(self, number: str) -> FunctionState | None:
        """The published version ``number``, when it exists."""
        return next((v for v in self.versions if v.version == number), None)

    @property
    def live(self) -> FunctionState | None:
        """What serves the trigger: the alias's version, else (deployed before
        versions) the function as it is."""
        if self.alias is not None:
            return self.version(self.alias.version)
        return self.function
