"""Read, once, what a deploy or rollback must know: a frozen ``RemoteState``.

Describe and list calls only; nothing here changes AWS or decides anything:
every refusal is the planner's (``mlayer.plan``), from the snapshot. AWS's
own refusal to answer about a trigger's source (AccessDenied, as AWS answers
for another account's stream) is recorded, not raised, so the planner can
say which account the stream is in.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlayer.arns import layer_name_of, layer_version_of
from mlayer.aws import Aws
from mlayer.descriptions import deps_fields
from mlayer.errors import AwsError, UsageError
from mlayer.policy import ROLE_POLICY_NAME, SinkSpec, source_kind
from mlayer.state import (
    AliasState,
    FunctionState,
    LayerVersion,
    RemoteState,
    RoleState,
    SinkState,
    SourceState,
    TriggerState,
)


def read_deploy_state(
    aws: Aws,
    *,
    function_name: str,
    deps_layer: str,
    model_layer: str,
    sources: Sequence[str],
    sink: SinkSpec,
    role_name: str | None,
    alias: str,
    provisioned: bool = False,
) -> RemoteState:
    """The function, its alias and published versions, its triggers, both layers'
    versions, whether each source (``sources`` and the existing triggers') and the
    sink exist, the role ``--create-role`` manages (``role_name``), and, when
    ``provisioned``, the alias's provisioned concurrency."""
    function = aws.function(function_name)
    alias_state = aws.alias(function_name, alias) if function else None
    triggers = _triggers(aws, function_name, alias_state) if function else ()
    arns = list(dict.fromkeys([*sources, *(t.source_arn for t in triggers)]))
    read = [_read_source(aws, arn) for arn in arns]
    source_states = tuple(s for s in read if s is not None)
    role = None
    if role_name:
        role_arn = aws.role_arn(role_name)
        policy = aws.role_policy(role_name, ROLE_POLICY_NAME) if role_arn else None
        role = RoleState(role_name, role_arn, policy)
    # STS is asked only when the answer is needed: a role's ARN, or which
    # account a missing source is in.
    needs_account = role_name is not None or any(not s.exists for s in source_states)
    return RemoteState(
        region=aws.region,
        function_name=function_name,
        function=function,
        triggers=triggers,
        deps_versions=tuple(aws.layer_versions(deps_layer)),
        model_versions=tuple(aws.layer_versions(model_layer)),
        sources=source_states,
        sink=_read_sink(aws, sink),
        role=role,
        account_id=aws.account_id() if needs_account else None,
        alias=alias_state,
        versions=tuple(aws.function_versions(function_name)) if function else (),
        provisioned=(
            aws.provisioned_concurrency(function_name, alias)
            if provisioned and alias_state
            else None
        ),
    )


def read_rollback_state(
    aws: Aws, *, function_name: str, deps_layer: str, model_layer: str, alias: str
) -> RemoteState:
    """The function, its alias and versions, the model layer's versions and the
    deps layer version that serves (the alias's version's, else ``$LATEST``'s)."""
    function = aws.function(function_name)
    if function is None:
        return RemoteState(region=aws.region, function_name=function_name)
    alias_state = aws.alias(function_name, alias)
    versions = tuple(aws.function_versions(function_name)) if alias_state else ()
    serving = next((v for v in versions if alias_state and v.version == alias_state.version), None)
    return RemoteState(
        region=aws.region,
        function_name=function_name,
        function=function,
        model_versions=tuple(aws.layer_versions(model_layer)),
        linked_deps=_linked_deps(aws, serving or function, deps_layer, model_layer),
        alias=alias_state,
        versions=versions,
    )


def _triggers(aws: Aws, function_name: str, alias: AliasState | None) -> tuple[TriggerState, ...]:
    """The mappings on the function and on its alias."""
    return tuple(aws.triggers(function_name, *([alias.arn] if alias else [])))


def _read_source(aws: Aws, arn: str) -> SourceState | None:
    """Whether a trigger's source exists; None for an ARN that is no stream (the
    planner refuses it)."""
    try:
        kinesis = source_kind(arn) == "kinesis"
    except UsageError:
        return None
    try:
        exists = aws.stream_exists(arn) if kinesis else aws.table_stream_exists(arn)
    except AwsError as exc:
        return SourceState(arn, exists=False, error=str(exc))
    return SourceState(arn, exists)


def _read_sink(aws: Aws, sink: SinkSpec) -> SinkState:
    if sink.kind == "dynamodb":
        return SinkState(table_key=aws.table_key(sink.name))
    if sink.kind == "kinesis":
        return SinkState(exists=aws.stream_name_exists(sink.name))
    return SinkState()


def _linked_deps(
    aws: Aws, function: FunctionState, deps_layer: str, model_layer: str
) -> LayerVersion | None:
    """The deps layer version the function links: by name, else the first other
    linked layer whose description is a deps layer's (read one by one until found)."""
    others = [a for a in function.layers if layer_name_of(a) != model_layer]
    named = [a for a in others if layer_name_of(a) == deps_layer]
    for arn in named or others:
        layer = aws.layer_version(layer_name_of(arn), layer_version_of(arn))
        if named or deps_fields(layer.description):
            return layer
    return None
