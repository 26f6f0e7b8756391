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
from mlayer.descriptions import deps_fields, model_fields
from mlayer.ops.deploy import given_sources
from mlayer.plan import check_sources_region, pinned_version
from mlayer.policy import SinkSpec, destination_actions, parse_sink, role_policy
from mlayer.settings import Settings
from mlayer.state import FunctionState, TriggerState

# The trained-with versions ``versions`` shows, by their description names.
TRAINED_WITH = ("python", "sklearn", "numpy", "scipy", "joblib")


@dataclass(frozen=True)
class Status:
    function: FunctionState | None
    triggers: list[TriggerState] = field(default_factory=list)
    model: dict[str, str] = field(default_factory=dict)  # the live model's description
    sink: str = DEFAULT_SINK
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
        described = model_fields(layer.description) or deps_fields(layer.description)
        if described.get("unzipped", "").isdigit():
            unzipped[short_arn(arn)] = int(described["unzipped"])
        if layer.name == settings.model_layer:
            model = {"version": str(layer.version), **model_fields(layer.description)}
    return Status(
        current,
        aws.triggers(name),
        model=model,
        sink=current.environment.get(SINK_ENV, DEFAULT_SINK),
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
        details = model_fields(item.description)
        rows.append(
            ModelVersionInfo(
                version=item.version,
                arn=item.arn,
                created=item.created,
                label=details.get("label", "-"),
                sha256=details.get("sha256", "-"),
                live="$LATEST" in links.get(item.arn, []),
                details=details,
                trained_with={k: details[k] for k in TRAINED_WITH if k in details},
                linked_by=tuple(links.get(item.arn, [])),
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
            sources = [t.source_arn for t in aws.triggers(name)] if current else []
    return role_policy(
        function_name=name,
        region=aws.region,
        account=aws.account_id(),
        sources=sources,
        sink=sink,
        on_failure=settings.on_failure,
    )
