"""Lambda functions and their event source mappings (the triggers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlayer.aws._client import AwsClient
from mlayer.errors import NotFound
from mlayer.state import (
    LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE,
    LAMBDA_DEFAULT_MAXIMUM_RETRIES,
    LAMBDA_DEFAULT_PARALLELIZATION,
    AliasState,
    FunctionState,
    LinkedLayers,
    TriggerState,
)


class FunctionCalls(AwsClient):
    def function(self, name: str, qualifier: str | None = None) -> FunctionState | None:
        """The function's current configuration (``$LATEST``, or the version an
        alias or number ``qualifier`` names), or None if it does not exist."""
        what = f"function {name}:{qualifier}" if qualifier else f"function {name}"
        try:
            with self._translate(what):
                config = self._lambda.get_function_configuration(
                    FunctionName=name, **({"Qualifier": qualifier} if qualifier else {})
                )
        except NotFound:
            return None
        return _function_state(config)

    def function_versions(self, name: str) -> list[FunctionState]:
        """The function's published versions, newest first (``$LATEST`` left out)."""
        with self._translate(f"versions of function {name}"):
            pages = self._lambda.get_paginator("list_versions_by_function").paginate(
                FunctionName=name
            )
            found = [_function_state(item) for page in pages for item in page["Versions"]]
        published = [v for v in found if v.version.isdigit()]
        return sorted(published, key=lambda v: int(v.version), reverse=True)

    def publish_version(
        self, name: str, *, code_sha256: str, revision_id: str, description: str
    ) -> str:
        """Publish ``$LATEST`` as a version, only if it still has ``code_sha256`` and
        (when given) ``revision_id``; the new version's number once it is active."""
        with self._translate(f"function {name}"):
            reply = self._lambda.publish_version(
                FunctionName=name,
                CodeSha256=code_sha256,
                Description=description,
                **_revision(revision_id),
            )
            version = str(reply["Version"])
            # SnapStart: a version is usable only once its snapshot is made.
            self._lambda.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
        return version

    def alias(self, name: str, alias: str) -> AliasState | None:
        try:
            with self._translate(f"alias {name}:{alias}"):
                reply = self._lambda.get_alias(FunctionName=name, Name=alias)
        except NotFound:
            return None
        return AliasState(
            name=reply["Name"],
            arn=reply["AliasArn"],
            version=str(reply["FunctionVersion"]),
            description=reply.get("Description", ""),
            revision_id=reply.get("RevisionId", ""),
        )

    def point_alias(
        self,
        name: str,
        alias: str,
        version: str,
        description: str,
        *,
        create: bool,
        revision_id: str = "",
    ) -> AliasState:
        """Create the alias, or move it to ``version`` (only if it is still at
        ``revision_id``, when given): one call, the switch a rollback is."""
        with self._translate(f"alias {name}:{alias}"):
            if create:
                reply = self._lambda.create_alias(
                    FunctionName=name, Name=alias, FunctionVersion=version, Description=description
                )
            else:
                reply = self._lambda.update_alias(
                    FunctionName=name,
                    Name=alias,
                    FunctionVersion=version,
                    Description=description,
                    **_revision(revision_id),
                )
        return AliasState(
            reply["Name"], reply["AliasArn"], str(reply["FunctionVersion"]), description
        )

    def delete_function_version(self, name: str, version: str) -> None:
        if not version.isdigit():  # never $LATEST nor an alias: the function itself
            raise ValueError(f"not a published version: {version!r}")
        with self._translate(f"function {name}:{version}"):
            self._lambda.delete_function(FunctionName=name, Qualifier=version)

    # --- provisioned concurrency (on the alias) ---------------------------------

    def provisioned_concurrency(self, name: str, alias: str) -> int:
        """The provisioned concurrency requested on the alias, 0 when none."""
        try:
            with self._translate(f"provisioned concurrency of {name}:{alias}"):
                reply = self._lambda.get_provisioned_concurrency_config(
                    FunctionName=name, Qualifier=alias
                )
        except NotFound:
            return 0
        return int(reply.get("RequestedProvisionedConcurrentExecutions", 0))

    def set_provisioned_concurrency(self, name: str, alias: str, count: int) -> None:
        """Ask for ``count`` warm environments on the alias; 0 removes the setting."""
        with self._translate(f"provisioned concurrency of {name}:{alias}"):
            if count:
                self._lambda.put_provisioned_concurrency_config(
                    FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=count
                )
            else:
                self._lambda.delete_provisioned_concurrency_config(
                    FunctionName=name, Qualifier=alias
                )

    def create_function(
        self, spec: dict[str, Any], code: bytes, *, on_wait: Callable[[str], None] | None = None
    ) -> str:
        with self._translate(f"function {spec['FunctionName']}"):
            reply = self._while_iam_propagates(
                lambda: self._lambda.create_function(**spec, Code={"ZipFile": code}), on_wait
            )
            self._lambda.get_waiter("function_active_v2").wait(FunctionName=spec["FunctionName"])
        return str(reply["FunctionArn"])

    def update_function_code(
        self, name: str, code: bytes, arch: str, *, revision_id: str = ""
    ) -> str:
        """Replace the code; with ``revision_id``, only if the function is still at
        that revision. Returns the revision once the update has completed."""
        with self._translate(f"function {name}"):
            self._lambda.update_function_code(
                FunctionName=name, ZipFile=code, Architectures=[arch], **_revision(revision_id)
            )
            return self._wait_updated(name)

    def update_function_configuration(
        self,
        name: str,
        changes: dict[str, Any],
        *,
        revision_id: str = "",
        on_wait: Callable[[str], None] | None = None,
    ) -> str:
        """Change the configuration; with ``revision_id``, only if the function is
        still at that revision. Returns the revision once the update has completed."""
        with self._translate(f"function {name}"):
            self._while_iam_propagates(
                lambda: self._lambda.update_function_configuration(
                    FunctionName=name, **changes, **_revision(revision_id)
                ),
                on_wait,
            )
            return self._wait_updated(name)

    def linked_layers(self) -> list[LinkedLayers]:
        """Every version of every function in the region with the layers it links,
        and the aliases that point at each version (to keep what is in use)."""
        rows: list[LinkedLayers] = []
        with self._translate("functions"):
            pages = self._lambda.get_paginator("list_functions").paginate(FunctionVersion="ALL")
            functions = [item for page in pages for item in page["Functions"]]
            aliases: dict[tuple[str, str], list[str]] = {}
            for name in sorted({item["FunctionName"] for item in functions}):
                alias_pages = self._lambda.get_paginator("list_aliases").paginate(FunctionName=name)
                for page in alias_pages:
                    for alias in page["Aliases"]:
                        targets = [alias["FunctionVersion"]]
                        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
                        targets += list(weights or {})
                        for version in targets:
                            aliases.setdefault((name, version), []).append(alias["Name"])
        for item in functions:
            key = (item["FunctionName"], item.get("Version", "$LATEST"))
            rows.append(
                LinkedLayers(
                    function=key[0],
                    version=key[1],
                    layers=tuple(layer["Arn"] for layer in item.get("Layers", [])),
                    aliases=tuple(sorted(aliases.get(key, []))),
                )
            )
        return rows

    def _wait_updated(self, name: str) -> str:
        """Wait for the update to complete; the function's revision then."""
        # Lambda refuses a second update while the first is in progress. The
        # RevisionId an update returns changes again when the update completes
        # (aws/aws-sdk#377), so the next update must carry the one read after.
        self._lambda.get_waiter("function_updated_v2").wait(FunctionName=name)
        config = self._lambda.get_function_configuration(FunctionName=name)
        return str(config.get("RevisionId", ""))  # moto reports none

    # --- the trigger ----------------------------------------------------------

    def triggers(self, function_name: str, *targets: str) -> list[TriggerState]:
        """The event source mappings of the function and of ``targets`` (its alias's
        ARN, say), once each."""
        mappings: list[TriggerState] = []
        for target in dict.fromkeys([function_name, *targets]):
            seen = {m.uuid for m in mappings}
            mappings += [m for m in self._mappings(target) if m.uuid not in seen]
        return mappings

    def _mappings(self, function_name: str) -> list[TriggerState]:
        mappings: list[TriggerState] = []
        with self._translate(f"event source mappings of {function_name}"):
            pages = self._lambda.get_paginator("list_event_source_mappings").paginate(
                FunctionName=function_name
            )
            for page in pages:
                mappings += [
                    TriggerState(
                        uuid=item["UUID"],
                        function_arn=item.get("FunctionArn", ""),
                        metrics=tuple((item.get("MetricsConfig") or {}).get("Metrics", [])),
                        source_arn=item["EventSourceArn"],
                        batch_size=item.get("BatchSize", 0),
                        starting_position=item.get("StartingPosition"),
                        response_types=tuple(item.get("FunctionResponseTypes", [])),
                        state=item.get("State", ""),
                        bisect_on_error=bool(item.get("BisectBatchOnFunctionError", False)),
                        maximum_retries=_int_or(
                            item.get("MaximumRetryAttempts"), LAMBDA_DEFAULT_MAXIMUM_RETRIES
                        ),
                        maximum_record_age=_int_or(
                            item.get("MaximumRecordAgeInSeconds"),
                            LAMBDA_DEFAULT_MAXIMUM_RECORD_AGE,
                        ),
                        parallelization_factor=_int_or(
                            item.get("ParallelizationFactor"), LAMBDA_DEFAULT_PARALLELIZATION
                        ),
                        on_failure=(item.get("DestinationConfig") or {})
                        .get("OnFailure", {})
                        .get("Destination")
                        or None,
                    )
                    for item in page["EventSourceMappings"]
                ]
        return mappings

    def create_trigger(
        self,
        function_name: str,
        spec: dict[str, Any],
        *,
        on_wait: Callable[[str], None] | None = None,
    ) -> str:
        with self._translate(f"event source {spec['EventSourceArn']}"):
            reply = self._while_iam_propagates(
                lambda: self._lambda.create_event_source_mapping(
                    FunctionName=function_name, **spec
                ),
                on_wait,
            )
        return str(reply["UUID"])

    def update_trigger(self, uuid: str, changes: dict[str, Any]) -> None:
        with self._translate(f"event source mapping {uuid}"):
            self._lambda.update_event_source_mapping(UUID=uuid, **changes)


def _function_state(config: dict[str, Any]) -> FunctionState:
    """A GetFunctionConfiguration (or version list) item as a ``FunctionState``."""
    return FunctionState(
        name=config["FunctionName"],
        arn=config["FunctionArn"],
        role=config["Role"],
        runtime=config.get("Runtime", ""),
        handler=config.get("Handler", ""),
        architecture=(config.get("Architectures") or ["x86_64"])[0],
        memory=config["MemorySize"],
        timeout=config["Timeout"],
        code_sha256=config["CodeSha256"],
        layers=tuple(layer["Arn"] for layer in config.get("Layers", [])),
        environment=dict(config.get("Environment", {}).get("Variables", {})),
        state=config.get("State", "Active"),
        revision_id=config.get("RevisionId", ""),
        version=str(config.get("Version", "$LATEST")),
        description=config.get("Description", ""),
        snapstart=(config.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions",
    )


def _revision(revision_id: str) -> dict[str, str]:
    return {"RevisionId": revision_id} if revision_id else {}


def _int_or(value: Any, default: int) -> int:
    return default if value is None else int(value)
