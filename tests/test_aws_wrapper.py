"""aws.Aws against a real moto server over HTTP: the calls mlayer relies on."""

from __future__ import annotations

import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from conftest import REGION, Account

from mlayer.aws import DIRECT_UPLOAD_LIMIT, Aws
from mlayer.errors import AwsError, Conflict, NotFound, UsageError


def make_zip(path: Path, payload: bytes = b"x") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/a.py", payload)
    return path


def test_publish_lists_newest_first(aws: Account, tmp_path: Path) -> None:
    client = Aws(REGION, endpoint_url=aws.endpoint)
    layer = make_zip(tmp_path / "a.zip")
    for description in ("one", "two"):
        client.publish_layer(
            "lay", layer, runtime="python3.11", arch="x86_64", description=description,
            bucket=None, key="k",
        )  # fmt: skip
    versions = client.layer_versions("lay")
    assert [(v.version, v.description) for v in versions] == [(2, "two"), (1, "one")]
    assert client.layer_version("lay", 1).arn.endswith(":layer:lay:1")


def test_large_zip_goes_through_s3(aws: Account, tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("python/blob.bin", b"\0" * (DIRECT_UPLOAD_LIMIT + 1024))
    client = Aws(REGION, endpoint_url=aws.endpoint)
    with pytest.raises(UsageError, match="--bucket"):
        client.publish_layer(
            "big", big, runtime="python3.11", arch="x86_64", description="", bucket=None, key="k"
        )
    assert client.layer_versions("big") == []  # refused before anything was published
    version = client.publish_layer(
        "big", big, runtime="python3.11", arch="x86_64", description="", bucket=aws.bucket,
        key="mlayer/big/abc.zip",
    )  # fmt: skip
    assert version.version == 1
    head = aws.client("s3").head_object(Bucket=aws.bucket, Key="mlayer/big/abc.zip")
    assert head["ContentLength"] == big.stat().st_size


def test_a_bucket_in_another_region_is_refused_before_uploading(
    aws: Account, tmp_path: Path
) -> None:
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("python/blob.bin", b"\0" * (DIRECT_UPLOAD_LIMIT + 1024))
    s3 = aws.client("s3")
    elsewhere = {"LocationConstraint": "us-west-2"}
    aws.client("s3", "us-west-2").create_bucket(
        Bucket="far-away", CreateBucketConfiguration=elsewhere
    )
    aws.client("s3", "us-east-1").create_bucket(Bucket="virginia")  # no constraint
    client = Aws(REGION, endpoint_url=aws.endpoint)
    publish = {"runtime": "python3.11", "arch": "x86_64", "description": "", "key": "k.zip"}
    for bucket, region in (("far-away", "us-west-2"), ("virginia", "us-east-1")):
        with pytest.raises(UsageError, match=f"bucket {bucket} is in {region}.*use a bucket in"):
            client.publish_layer("big", big, bucket=bucket, **publish)
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # nothing uploaded
    with pytest.raises(NotFound, match=f"bucket nope-bucket not found: create it in {REGION}"):
        client.publish_layer("big", big, bucket="nope-bucket", **publish)
    assert client.layer_versions("big") == []


def test_missing_things_are_not_found(aws: Account) -> None:
    client = Aws(REGION, endpoint_url=aws.endpoint)
    assert client.function("nope") is None
    assert client.layer_versions("nope") == []
    with pytest.raises(NotFound, match="layer nope version 3"):
        client.layer_version("nope", 3)


def test_unreachable_endpoint_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    from conftest import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(AwsError, match=f"cannot reach {endpoint}"):
        Aws(REGION, endpoint_url=endpoint).layer_versions("x")


# IAM propagation cannot be reproduced on moto (it is consistent at once), so these
# narrow tests stub Lambda's replies in-process with botocore's Stubber.
NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
FUNCTION = {
    "FunctionName": "fn",
    "Role": "arn:aws:iam::123456789012:role/r",
    "Runtime": "python3.11",
}


def stubbed_lambda() -> tuple[Aws, Stubber, list[float]]:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    lambda_client = session.client("lambda")
    slept: list[float] = []
    client = Aws(session=session, lambda_client=lambda_client, sleep=slept.append)
    return client, Stubber(lambda_client), slept


def test_create_function_waits_while_iam_propagates_a_new_role() -> None:
    client, stub, slept = stubbed_lambda()
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:fn"
    stub.add_client_error("create_function", "InvalidParameterValueException", NOT_ASSUMABLE)
    stub.add_client_error("create_function", "InvalidParameterValueException", NOT_ASSUMABLE)
    stub.add_response("create_function", {"FunctionArn": arn})
    stub.add_response("get_function", {"Configuration": {"State": "Active"}})
    waits: list[str] = []
    with stub:
        assert client.create_function(FUNCTION, b"zip", on_wait=waits.append) == arn
    stub.assert_no_pending_responses()
    assert slept == [2.0, 3.0] and len(waits) == 2 and "IAM" in waits[0]


def test_other_refusals_are_not_retried_and_a_role_that_never_works_is_reported() -> None:
    client, stub, slept = stubbed_lambda()
    stub.add_client_error(
        "create_function", "InvalidParameterValueException", "Unzipped size must be smaller"
    )
    with stub, pytest.raises(AwsError, match="Unzipped size"):
        client.create_function(FUNCTION, b"zip")
    assert slept == []

    client, stub, slept = stubbed_lambda()
    for _ in range(len(client.iam_retry_delays) + 1):
        stub.add_client_error("create_function", "InvalidParameterValueException", NOT_ASSUMABLE)
    with stub, pytest.raises(AwsError, match="cannot be assumed"):
        client.create_function(FUNCTION, b"zip")
    stub.assert_no_pending_responses()
    assert sum(slept) >= 25  # about half a minute before giving up


# moto keeps no RevisionId for a function (it neither reports nor checks one), so
# what mlayer sends and how it reads Lambda's refusal are checked on the exact
# requests with botocore's Stubber; nothing here claims moto enforced it.
CONFIGURATION = {
    "FunctionName": "fn",
    "FunctionArn": f"arn:aws:lambda:{REGION}:123456789012:function:fn",
    "Role": "arn:aws:iam::123456789012:role/r",
    "MemorySize": 192,
    "Timeout": 60,
    "CodeSha256": "abc",
}


def test_the_function_revision_is_read_and_updates_carry_it() -> None:
    """Stubbed (moto has no RevisionId): UpdateFunctionConfiguration carries the
    revision it was planned from, and the revision returned is the one read once
    the update completed (Lambda changes it again then: aws/aws-sdk#377)."""
    client, stub, _ = stubbed_lambda()
    stub.add_response(
        "get_function_configuration",
        {**CONFIGURATION, "RevisionId": "r1"},
        {"FunctionName": "fn"},
    )
    stub.add_response(
        "update_function_configuration",
        {"RevisionId": "r2"},
        {"FunctionName": "fn", "MemorySize": 256, "RevisionId": "r1"},
    )
    stub.add_response("get_function", {"Configuration": {"LastUpdateStatus": "Successful"}})
    stub.add_response("get_function_configuration", {**CONFIGURATION, "RevisionId": "r3"})
    stub.add_response(
        "update_function_code",
        {"RevisionId": "r4"},
        {"FunctionName": "fn", "ZipFile": b"zip", "Architectures": ["x86_64"], "RevisionId": "r3"},
    )
    stub.add_response("get_function", {"Configuration": {"LastUpdateStatus": "Successful"}})
    stub.add_response("get_function_configuration", {**CONFIGURATION, "RevisionId": "r5"})
    with stub:
        state = client.function("fn")
        assert state is not None and state.revision_id == "r1"
        after = client.update_function_configuration(
            "fn", {"MemorySize": 256}, revision_id=state.revision_id
        )
        assert after == "r3"
        assert client.update_function_code("fn", b"zip", "x86_64", revision_id=after) == "r5"
    stub.assert_no_pending_responses()


def test_a_stale_revision_is_a_one_line_conflict() -> None:
    """Stubbed: real Lambda answers a stale RevisionId with PreconditionFailedException."""
    client, stub, _ = stubbed_lambda()
    stub.add_client_error(
        "update_function_configuration",
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id.",
        http_status_code=412,
    )
    with stub, pytest.raises(Conflict) as refused:
        client.update_function_configuration("fn", {"MemorySize": 256}, revision_id="old")
    assert str(refused.value) == "function fn was changed by someone else since the plan"
