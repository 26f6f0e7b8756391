"""status, versions and iam-policy: what is deployed, what is published, what the role needs.

Read only: nothing here changes AWS. ``linked_by`` (which function versions
and aliases link each layer version) is shared with ``cleanup``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlayer.arns import layer_name_of, layer_version_of, short_arn
from mlayer.aws import Aws
from mlayer.contract import DEFAULT_SINK, MISMATCH_ENV, SINK_ENV
from mlayer.descriptions import deferred_of, deps_fields, model_fields
from mlayer.ops.alarms import alarm_states
from mlayer.ops.deploy import given_sources
from mlayer.plan import check_sources_region, pinned_version
from mlayer.policy import SinkSpec, destination_actions, parse_sink, role_policy
from mlayer.settings import Settings
from mlayer.state import AlarmState, AliasState, FunctionState, TriggerState

# The trained-with versions ``versions`` shows, by their description names.
TRAINED_WITH = ("python", "sklearn", "numpy", "scipy", "joblib")


@dataclass(frozen=True)
class Status:
    function: FunctionState | None  # what serves: the alias's version, else $LATEST
    triggers: list[TriggerState] = field(default_factory=list)
    alias: AliasState | None = None
    model: dict[str, str] = field(default_factory=dict)  # the live model's description
    shadow: dict[str, str] = field(default_factory=dict)  # the shadow model's, if any
    sink: str = DEFAULT_SINK
    version_mismatch_allowed: str | None = None
    pinned_model_version: int | None = None
    # linked layer (NAME:V) -> unzipped bytes, for those whose description records it
    layer_unzipped_bytes: dict[str, int] = field(default_factory=dict)
    alarms: list[AlarmState] = field(default_factory=list)  # deploy --alarms
    # build-deps --defer-imports: {"layer", "modules", "more", "saved_ms"}, else empty
    deferred: dict[str, Any] = field(default_factory=dict)


def status(settings: Settings, aws: Aws) -> Status:
    """What serves the trigger: the version the alias points at (else, deployed
    before versions, the function itself), its layers, model and triggers."""
    name = settings.require_function_name()
    latest = aws.function(name)
    if latest is None:
        return Status(None)
    alias = aws.alias(name, settings.alias)
    current = (aws.function(name, alias.version) if alias else None) or latest
    model: dict[str, str] = {}
    shadow: dict[str, str] = {}
    unzipped: dict[str, int] = {}
    deferred: dict[str, Any] = {}
    for arn in current.layers:
        layer = aws.layer_version(layer_name_of(arn), layer_version_of(arn))
        described = model_fields(layer.description) or deps_fields(layer.description)
        if described.get("unzipped", "").isdigit():
            unzipped[short_arn(arn)] = int(described["unzipped"])
        named, more = deferred_of(deps_fields(layer.description))
        if named or more:
            saved = deps_fields(layer.description).get("saved-ms", "")
            deferred = {
                "layer": short_arn(arn),
                "modules": named,
                "more": more,
                "saved_ms": int(saved) if saved.isdigit() else None,
            }
        if layer.name == settings.model_layer:
            described = {"version": str(layer.version), **model_fields(layer.description)}
            # The first model layer serves; a second is the shadow (deploy --shadow-model).
            if model:
                shadow = described
            else:
                model = described
    return Status(
        current,
        aws.triggers(name, *([alias.arn] if alias else [])),
        alias=alias,
        model=model,
        shadow=shadow,
        sink=current.environment.get(SINK_ENV, DEFAULT_SINK),
        version_mismatch_allowed=current.environment.get(MISMATCH_ENV) or None,
        pinned_model_version=pinned_version(alias, latest),
        layer_unzipped_bytes=unzipped,
        alarms=alarm_states(aws, name),
        deferred=deferred,
    )


@dataclass(frozen=True)
class ModelVersionInfo:
    version: int
    arn: str
    created: str
    label: str
    sha256: str
    live: bool  # served: linked by the alias's version (or $LATEST, before versions)
    details: dict[str, str]
    trained_with: dict[str, str] = field(default_factory=dict)
    linked_by: tuple[str, ...] = ()
    function_versions: tuple[str, ...] = ()  # the function's versions that carry it


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
    alias = aws.alias(name, settings.alias) if aws.function(name) else None
    serving = f"alias {alias.name}" if alias else "$LATEST"
    rows = []
    for item in aws.layer_versions(layer_name):
        carried_by = [w.removeprefix("version ") for w in links.get(item.arn, [])]
        details = model_fields(item.description)
        rows.append(
            ModelVersionInfo(
                version=item.version,
                arn=item.arn,
                created=item.created,
                label=details.get("label", "-"),
                sha256=details.get("sha256", "-"),
                live=serving in links.get(item.arn, []),
                details=details,
                trained_with={k: details[k] for k in TRAINED_WITH if k in details},
                linked_by=tuple(links.get(item.arn, [])),
                function_versions=tuple(v for v in carried_by if v.isdigit()),
            )
        )
    return rows


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
        given = given_sources(settings)
        check_sources_region(given, aws.region)
        sources = [arn for _flag, arn in given]
        if not sources:
            current = aws.function(name)
            alias = aws.alias(name, settings.alias) if current else None
            triggers = aws.triggers(name, *([alias.arn] if alias else [])) if current else []
            sources = [t.source_arn for t in triggers]
    return role_policy(
        function_name=name,
        region=aws.region,
        account=aws.account_id(),
        sources=sources,
        sink=sink,
        on_failure=settings.on_failure,
    )
