"""The local rules for names, regions, buckets and ARNs (pure: no AWS)."""

from __future__ import annotations

import pytest

from mlayer import validate

ACCOUNT = "123456789012"


@pytest.mark.parametrize("name", ["fn", "My_Model-Inference2", "a" * 64])
def test_function_names_lambda_accepts(name: str) -> None:
    assert validate.check_function_name(name) == name


@pytest.mark.parametrize("name", ["my fn", "a" * 65, "fn.v2", "fn:1", "", "é"])
def test_function_names_lambda_refuses(name: str) -> None:
    with pytest.raises(ValueError, match="1-64 letters, digits, hyphens or underscores"):
        validate.check_function_name(name)


def test_layer_names_allow_140_characters() -> None:
    assert validate.check_layer_name("a" * 140)
    with pytest.raises(ValueError, match="layer name"):
        validate.check_layer_name("a" * 141)
    with pytest.raises(ValueError, match="layer name"):
        validate.check_layer_name("my layer")


@pytest.mark.parametrize("region", ["eu-west-1", "us-gov-west-1", "ap-southeast-4", "cn-north-1"])
def test_regions_accepted(region: str) -> None:
    assert validate.check_region(region) == region


@pytest.mark.parametrize("region", ["eu west 1", "eu-west", "EU-WEST-1", "europe", "eu-west-1a"])
def test_regions_refused(region: str) -> None:
    with pytest.raises(ValueError, match="not an AWS region"):
        validate.check_region(region)


@pytest.mark.parametrize("bucket", ["mlayer-test", "my.artifacts.bucket", "abc", "a" * 63])
def test_bucket_names_accepted(bucket: str) -> None:
    assert validate.check_bucket(bucket) == bucket


@pytest.mark.parametrize(
    ("bucket", "reason"),
    [
        ("ab", "3-63"),
        ("a" * 64, "3-63"),
        ("My_Bucket", "lowercase"),
        ("-bucket", "starting and ending"),
        ("bucket.", "starting and ending"),
        ("my..bucket", "adjacent"),
        ("192.168.1.1", "IP address"),
        ("xn--bucket", "reserved"),
    ],
)
def test_bucket_names_refused_saying_which_rule(bucket: str, reason: str) -> None:
    with pytest.raises(ValueError, match="not an S3 bucket name") as refused:
        validate.check_bucket(bucket)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/reviews",
        f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/t/stream/2024-01-01T00:00:00.000",
        f"arn:aws-us-gov:kinesis:us-gov-west-1:{ACCOUNT}:stream/s",
    ],
)
def test_stream_sources_accepted(arn: str) -> None:
    assert validate.check_stream_source(arn) == arn


@pytest.mark.parametrize(
    ("arn", "reason"),
    [
        ("reviews", "not a Kinesis stream ARN"),
        (f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/*", "wildcard"),
        (f"arn:aws:kinesis:*:{ACCOUNT}:stream/reviews", "wildcard"),
        ("arn:aws:kinesis:eu-west-1:1234:stream/reviews", "not a Kinesis stream ARN"),
        (f"arn:aws:sqs:eu-west-1:{ACCOUNT}:queue", "not a Kinesis stream ARN"),
        (f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/t", "not a Kinesis stream ARN"),
    ],
)
def test_stream_sources_refused(arn: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate.check_stream_source(arn)


def test_role_arns() -> None:
    good = f"arn:aws:iam::{ACCOUNT}:role/service-role/MyModelInference_role"
    assert validate.check_role_arn(good) == good
    for bad in (
        "MyRole",
        f"arn:aws:iam::{ACCOUNT}:user/me",
        f"arn:aws:iam:eu-west-1:{ACCOUNT}:role/r",
        f"arn:aws:iam::{ACCOUNT}:role/*",
    ):
        with pytest.raises(ValueError):
            validate.check_role_arn(bad)


def test_on_failure_destinations() -> None:
    for good in (
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:dlq",
        f"arn:aws:sns:eu-west-1:{ACCOUNT}:failures.fifo",
        "arn:aws:s3:::failed-batches",
    ):
        assert validate.check_destination(good) == good
    for bad in (
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f",
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:*",
        "arn:aws:s3:::Bad_Bucket",
    ):
        with pytest.raises(ValueError):
            validate.check_destination(bad)


def test_a_stream_in_another_region_or_account_is_named_with_what_to_do() -> None:
    arn = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/reviews"
    assert validate.region_mismatch("--stream-arn", arn, "us-east-1") is None
    message = validate.region_mismatch("--stream-arn", arn, "eu-west-1")
    assert message == (
        f"--stream-arn {arn} is in region us-east-1 but the function is in eu-west-1: "
        "Lambda's stream triggers must be in the function's region; pass --region us-east-1 "
        "or a stream in eu-west-1"
    )
    assert validate.account_mismatch("--stream-arn", arn, ACCOUNT) is None
    other = validate.account_mismatch("--stream-arn", arn, "111122223333")
    assert other is not None and f"is in account {ACCOUNT}" in other and "111122223333" in other
