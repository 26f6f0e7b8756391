"""The one module that talks to AWS: layers, the function, its trigger, S3.

Everything else sees plain dataclasses. botocore errors are turned into
``mlayer.errors`` with a message that names the resource and what to do.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from mlayer.errors import AwsError, Conflict, NotFound, UsageError
from mlayer.layerbuild.budget import DIRECT_UPLOAD_LIMIT

# IAM is eventually consistent: for some seconds after a role is created or its
# policy changes, Lambda refuses it with one of these messages. Such calls are
# retried, about half a minute in all, before the refusal is reported.
IAM_NOT_READY = (
    "cannot be assumed by lambda",
    "execution role does not have permissions",
    "please ensure the role can perform",
)
IAM_RETRY_DELAYS = (2.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0)

T = TypeVar("T")

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


@dataclass(frozen=True)
class LinkedLayers:
    """Which layer versions one version of a function (or an alias) links."""

    function: str
    version: str  # "$LATEST" or a number
    layers: tuple[str, ...]
    aliases: tuple[str, ...] = ()


def upload_route(zip_path: Path, bucket: str | None) -> str:
    """``direct`` (in the PublishLayerVersion request) or ``s3``; a large zip
    without a bucket is refused, naming the flag to pass."""
    size = zip_path.stat().st_size
    if size <= DIRECT_UPLOAD_LIMIT:
        return "direct"
    if not bucket:
        raise UsageError(
            f"{zip_path} is {size / 1e6:.1f} MB, over Lambda's 50 MB direct upload "
            "limit: pass --bucket (or set bucket in mlayer.toml) to publish through S3"
        )
    return "s3"


def layer_name_of(arn: str) -> str:
    """``arn:aws:lambda:R:A:layer:NAME:V`` -> ``NAME``."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 8 and parts[5] == "layer" else arn


def layer_version_of(arn: str) -> int:
    return int(arn.rsplit(":", 1)[1])


class Aws:
    """Thin, typed access to the AWS calls mlayer needs.

    Pass ``session`` (or clients through it) to point at any endpoint; tests
    point it at a local moto server exactly as a user points the CLI at one.
    ``lambda_client`` and ``sleep`` replace the defaults, for tests that stub
    replies moto cannot give (IAM propagation delays) without waiting.
    """

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.Session | None = None,
        *,
        lambda_client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            self._session = session or boto3.Session(profile_name=profile, region_name=region)
        except botocore.exceptions.ProfileNotFound as exc:
            raise UsageError(f"AWS profile {profile!r} not found in your AWS config") from exc
        if self._session.region_name is None:
            raise UsageError(
                "no AWS region: pass --region, set region in mlayer.toml or AWS_REGION"
            )
        self.region = self._session.region_name
        self._endpoint_url = endpoint_url
        self._config = botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"})
        self.calls = 0  # API calls made, for benchmarks and "changed nothing" checks
        self.iam_retry_delays = IAM_RETRY_DELAYS
        self._sleep = sleep
        self._lambda_client = lambda_client

    def _register(self, client: Any) -> Any:
        client.meta.events.register("before-call.*.*", self._count_call)
        return client

    # Clients are made on first use, so a command that needs only Lambda never
    # resolves an S3 endpoint.
    @cached_property
    def _lambda(self) -> Any:
        return self._register(
            self._lambda_client
            or self._session.client("lambda", endpoint_url=self._endpoint_url, config=self._config)
        )

    @cached_property
    def _s3(self) -> Any:
        return self._register(
            self._session.client("s3", endpoint_url=self._endpoint_url, config=self._config)
        )

    @cached_property
    def _kinesis(self) -> Any:
        return self._register(
            self._session.client("kinesis", endpoint_url=self._endpoint_url, config=self._config)
        )

    def _client(self, service: str) -> Any:
        # For the services a few commands need (DynamoDB, IAM, STS): made on use.
        client = self._session.client(  # type: ignore[call-overload]
            service, endpoint_url=self._endpoint_url, config=self._config
        )
        return self._register(client)

    def _count_call(self, **_: Any) -> None:
        self.calls += 1

    @property
    def endpoint(self) -> str:
        """The Lambda endpoint this talks to (resolved by botocore, no call made)."""
        return str(self._lambda.meta.endpoint_url)

    # --- layers ---------------------------------------------------------------

    def publish_layer(
        self,
        name: str,
        zip_path: Path,
        *,
        runtime: str,
        arch: str,
        description: str,
        bucket: str | None,
        key: str,
        on_upload: Callable[[int], None] | None = None,
    ) -> LayerVersion:
        """Publish ``zip_path`` as a new version of ``name``; through S3 when large."""
        size = zip_path.stat().st_size
        if upload_route(zip_path, bucket) == "s3":
            assert bucket is not None
            self.check_layer_bucket(bucket)
            self.upload(zip_path, bucket, key, on_upload=on_upload)
            content: dict[str, Any] = {"S3Bucket": bucket, "S3Key": key}
        else:
            content = {"ZipFile": zip_path.read_bytes()}
            if on_upload:
                on_upload(size)
        with self._translate(f"layer {name}"):
            reply = self._lambda.publish_layer_version(
                LayerName=name,
                Description=description,
                Content=content,
                CompatibleRuntimes=[runtime],
                CompatibleArchitectures=[arch],
            )
        return _layer_version(name, reply)

    def check_layer_bucket(self, bucket: str) -> None:
        """Refuse, before any upload, a bucket Lambda cannot publish a layer from.

        PublishLayerVersion reads the zip only from a bucket in the function's
        region; elsewhere it fails after the whole upload. A caller without
        s3:GetBucketLocation is not refused: publishing will say.
        """
        with self._translate(f"bucket {bucket}"):
            try:
                reply = self._s3.get_bucket_location(Bucket=bucket)
            except botocore.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in {"AccessDenied", "403"}:
                    return
                if code == "NoSuchBucket":
                    raise NotFound(
                        f"bucket {bucket} not found: create it in {self.region} or fix --bucket"
                    ) from exc
                raise
        # S3 reports us-east-1 as no constraint, and the oldest eu-west-1 buckets as "EU".
        location = reply.get("LocationConstraint") or "us-east-1"
        region = "eu-west-1" if location == "EU" else location
        if region != self.region:
            raise UsageError(
                f"bucket {bucket} is in {region}, but layers are published in {self.region}: "
                f"Lambda reads layer zips only from a bucket in its own region; use a bucket "
                f"in {self.region} (--bucket) or publish in {region} (--region)"
            )

    def upload(
        self, path: Path, bucket: str, key: str, on_upload: Callable[[int], None] | None = None
    ) -> None:
        """Upload with the transfer manager (multipart, parallel, resumable parts)."""
        config = TransferConfig(multipart_threshold=16 * 1024 * 1024)
        with self._translate(f"s3://{bucket}/{key}"):
            self._s3.upload_file(str(path), bucket, key, Config=config, Callback=on_upload)

    def layer_versions(self, name: str) -> list[LayerVersion]:
        """Every version of layer ``name``, newest first; empty when there is none."""
        versions: list[LayerVersion] = []
        with self._translate(f"layer {name}"):
            pages = self._lambda.get_paginator("list_layer_versions").paginate(LayerName=name)
            for page in pages:
                versions += [_layer_version(name, item) for item in page["LayerVersions"]]
        return sorted(versions, key=lambda v: v.version, reverse=True)

    def layer_version(self, name: str, version: int) -> LayerVersion:
        with self._translate(f"layer {name} version {version}"):
            reply = self._lambda.get_layer_version(LayerName=name, VersionNumber=version)
        return _layer_version(name, reply)

    def layer_version_by_arn(self, arn: str) -> LayerVersion:
        """A layer version by its ARN, with the content's sha256 and download location."""
        # GetLayerVersion takes the layer's ARN as its name (another account's
        # layer too); moto has no GetLayerVersionByArn.
        layer_arn, version = arn.rsplit(":", 1)
        with self._translate(f"layer version {arn}"):
            reply = self._lambda.get_layer_version(LayerName=layer_arn, VersionNumber=int(version))
        return _layer_version(layer_name_of(arn), reply)

    def download_object(self, bucket: str, key: str, dest: Path) -> bool:
        """Download s3://bucket/key with the transfer manager; False when it is not there."""
        try:
            with self._translate(f"s3://{bucket}/{key}"):
                self._s3.download_file(
                    bucket, key, str(dest), Config=TransferConfig(max_concurrency=4)
                )
        except NotFound:
            return False
        except AwsError as exc:
            # download_file reports a missing key as a bare HEAD "404".
            if "404" in str(exc) or "Not Found" in str(exc):
                return False
            raise
        return True

    def download_url(self, url: str, dest: Path) -> bool:
        """Download a layer's presigned URL into ``dest``; False when it cannot be fetched."""
        try:
            with urllib.request.urlopen(url, timeout=60) as reply, dest.open("wb") as handle:
                shutil.copyfileobj(reply, handle, 1 << 20)
        except (OSError, ValueError):
            return False
        return True

    def delete_layer_version(self, name: str, version: int) -> None:
        with self._translate(f"layer {name} version {version}"):
            self._lambda.delete_layer_version(LayerName=name, VersionNumber=version)

    # --- the function ---------------------------------------------------------

    def function(self, name: str) -> FunctionState | None:
        """The function's current configuration, or None if it does not exist."""
        try:
            with self._translate(f"function {name}"):
                config = self._lambda.get_function_configuration(FunctionName=name)
        except NotFound:
            return None
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

    def triggers(self, function_name: str) -> list[TriggerState]:
        mappings: list[TriggerState] = []
        with self._translate(f"event source mappings of {function_name}"):
            pages = self._lambda.get_paginator("list_event_source_mappings").paginate(
                FunctionName=function_name
            )
            for page in pages:
                mappings += [
                    TriggerState(
                        uuid=item["UUID"],
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

    def stream_exists(self, stream_arn: str) -> bool:
        """Whether the Kinesis stream ``stream_arn`` exists (read-only check)."""
        try:
            with self._translate(f"stream {stream_arn}"):
                self._kinesis.describe_stream_summary(StreamARN=stream_arn)
        except NotFound:
            return False
        return True

    def stream_name_exists(self, name: str) -> bool:
        """Whether the Kinesis stream called ``name`` exists in the region."""
        try:
            with self._translate(f"Kinesis stream {name}"):
                self._kinesis.describe_stream_summary(StreamName=name)
        except NotFound:
            return False
        return True

    def table_stream_exists(self, stream_arn: str) -> bool:
        """Whether the DynamoDB table stream ``stream_arn`` exists (read-only check)."""
        try:
            with self._translate(f"table stream {stream_arn}"):
                self._client("dynamodbstreams").describe_stream(StreamArn=stream_arn, Limit=1)
        except NotFound:
            return False
        return True

    def table_key(self, name: str) -> tuple[str, str] | None:
        """The table's partition key (name, type), or None when there is no such table."""
        try:
            with self._translate(f"DynamoDB table {name}"):
                table = self._client("dynamodb").describe_table(TableName=name)["Table"]
        except NotFound:
            return None
        key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        return key, types.get(key, "")

    # --- identity and the execution role -----------------------------------------

    def account_id(self) -> str:
        with self._translate("the caller's identity"):
            return str(self._client("sts").get_caller_identity()["Account"])

    def role_arn(self, name: str) -> str | None:
        """The role's ARN, or None when there is no role called ``name``."""
        try:
            with self._translate(f"role {name}"):
                return str(self._client("iam").get_role(RoleName=name)["Role"]["Arn"])
        except NotFound:
            return None

    def role_policy(self, role: str, policy_name: str) -> dict[str, Any] | None:
        """The role's inline policy ``policy_name`` (botocore decodes it), or None."""
        try:
            with self._translate(f"policy {policy_name} of role {role}"):
                reply = self._client("iam").get_role_policy(RoleName=role, PolicyName=policy_name)
        except NotFound:
            return None
        document = reply["PolicyDocument"]
        return json.loads(document) if isinstance(document, str) else dict(document)

    def put_role(
        self, name: str, trust_policy: str, policy_name: str, policy: str, *, create: bool
    ) -> str:
        """Create the role when asked, set its inline policy, and return its ARN."""
        iam = self._client("iam")
        with self._translate(f"role {name}"):
            if create:
                iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=trust_policy,
                    Description="Execution role made by mlayer deploy --create-role",
                )
                iam.get_waiter("role_exists").wait(RoleName=name)
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=policy)
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])

    def _while_iam_propagates(
        self, call: Callable[[], T], on_wait: Callable[[str], None] | None
    ) -> T:
        """``call()``, retried while Lambda refuses a role IAM has not propagated yet."""
        for delay in self.iam_retry_delays:
            try:
                return call()
            except botocore.exceptions.ClientError as exc:
                message = exc.response.get("Error", {}).get("Message", "").lower()
                if not any(sign in message for sign in IAM_NOT_READY):
                    raise
                if on_wait:
                    on_wait(f"  waiting {delay:.0f} s for IAM to propagate the role")
                self._sleep(delay)
        return call()  # the last try: its refusal is reported

    # --- errors ---------------------------------------------------------------

    @contextmanager
    def _translate(self, resource: str) -> Iterator[None]:
        """Turn botocore's exceptions into one-line mlayer errors naming ``resource``."""
        try:
            yield
        except botocore.exceptions.NoCredentialsError as exc:
            raise AwsError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or pass --profile"
            ) from exc
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
        ) as exc:
            where = self._endpoint_url or f"AWS in {self.region}"
            raise AwsError(
                f"cannot reach {where}: check --endpoint-url, --region and your network"
            ) from exc
        except botocore.exceptions.WaiterError as exc:
            raise AwsError(f"{resource} did not become ready: {exc}") from exc
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            if code in {
                "ResourceNotFoundException",
                "NoSuchBucket",
                "NoSuchKey",
                "NoSuchEntity",
                "ResourceNotFound",
            }:
                raise NotFound(f"{resource} not found ({message or code})") from exc
            if code == "PreconditionFailedException":  # a stale RevisionId
                raise Conflict(f"{resource} was changed by someone else since the plan") from exc
            if code == "ResourceConflictException":  # exists already, or another update runs
                raise Conflict(
                    f"{resource} was changed by someone else since the plan ({message or code})"
                ) from exc
            if code in {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"}:
                raise AwsError(f"AWS denied access to {resource}: {message or code}") from exc
            raise AwsError(f"AWS refused the call on {resource}: {code}: {message}") from exc


def _revision(revision_id: str) -> dict[str, str]:
    return {"RevisionId": revision_id} if revision_id else {}


def _int_or(value: Any, default: int) -> int:
    return default if value is None else int(value)


def _layer_version(name: str, item: dict[str, Any]) -> LayerVersion:
    content = item.get("Content", {})
    return LayerVersion(
        name=name,
        version=int(item["Version"]),
        arn=item["LayerVersionArn"],
        description=item.get("Description", ""),
        created=item.get("CreatedDate", ""),
        code_sha256=content.get("CodeSha256", ""),
        code_size=int(content.get("CodeSize", 0)),
        location=content.get("Location", ""),
    )
