"""The session, the clients and the error translation every AWS call goes through.

``AwsClient`` is the base of ``mlayer.aws.Aws``: the per-service modules add
the calls. Clients are made on first use; every call is counted; botocore's
exceptions become ``mlayer.errors`` naming the resource and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from mlayer.errors import AwsError, Conflict, NotFound, UsageError

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


class AwsClient:
    """The session and its clients; ``mlayer.aws.Aws`` adds the calls."""

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
            if code.isdigit() and message.lstrip().lower().startswith("<!doctype html"):
                # An endpoint that is not AWS (moto, LocalStack) without this call.
                where = self._endpoint_url or "the endpoint"
                operation = exc.operation_name
                raise AwsError(
                    f"{where} does not serve {operation} (for {resource}): HTTP {code}; AWS does"
                ) from exc
            raise AwsError(f"AWS refused the call on {resource}: {code}: {message}") from exc
