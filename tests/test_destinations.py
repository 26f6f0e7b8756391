"""--on-failure: an S3 bucket beside SQS and SNS, and the role policy that grants
exactly what the chosen destination needs (pure, then against moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ACCOUNT, REGION, Account, run, run_json

from mlayer.errors import UsageError
from mlayer.policy import destination_actions, parse_sink, role_policy

BUCKET = "arn:aws:s3:::failed-batches"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:failures"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/reviews"


def failure_statements(on_failure: str) -> list[dict[str, object]]:
    """The statements ``role_policy`` adds for ``on_failure`` (those without it removed)."""
    common = {"function_name": "fn", "region": REGION, "account": ACCOUNT, "sources": [STREAM]}
    without = role_policy(**common, sink=parse_sink("log"))["Statement"]
    policy = role_policy(**common, sink=parse_sink("log"), on_failure=on_failure)
    return [s for s in policy["Statement"] if s not in without]


# --- the policy (pure) ------------------------------------------------------------


def test_an_s3_destination_gets_put_object_on_its_objects_and_list_on_the_bucket() -> None:
    assert failure_statements(BUCKET) == [
        {
            "Sid": "SendFailedBatches",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{BUCKET}/*"],
        },
        {
            "Sid": "ListFailedBatchBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [BUCKET],
        },
    ]


@pytest.mark.parametrize(("arn", "action"), [(QUEUE, "sqs:SendMessage"), (TOPIC, "sns:Publish")])
def test_a_queue_or_topic_gets_one_action_on_itself(arn: str, action: str) -> None:
    assert failure_statements(arn) == [
        {"Sid": "SendFailedBatches", "Effect": "Allow", "Action": [action], "Resource": [arn]}
    ]
    assert destination_actions(arn) == [action]


def test_no_destination_grants_nothing_to_send() -> None:
    policy = role_policy(
        function_name="fn", region=REGION, account=ACCOUNT, sources=[], sink=parse_sink("log")
    )
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert not any(a.startswith(("s3:", "sqs:", "sns:")) for a in actions)


def test_other_destinations_are_refused() -> None:
    with pytest.raises(UsageError, match="not an SQS queue, SNS topic or S3 bucket ARN"):
        destination_actions(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f")


# --- the commands, against moto ---------------------------------------------------


def test_iam_policy_for_an_s3_destination(aws: Account, project: Path) -> None:
    result = run(
        "iam-policy", "--function-name", "fn", "--stream-arn", aws.stream_arn,
        "--on-failure", BUCKET,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert statements["SendFailedBatches"]["Action"] == ["s3:PutObject"]
    assert statements["SendFailedBatches"]["Resource"] == [f"{BUCKET}/*"]
    assert statements["ListFailedBatchBucket"]["Action"] == ["s3:ListBucket"]
    assert statements["ListFailedBatchBucket"]["Resource"] == [BUCKET]


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("arn:aws:s3:::Bad_Bucket", "is not an S3 bucket name"),
        (f"arn:aws:s3:{REGION}:{ACCOUNT}:failed-batches", "arn:aws:s3:::BUCKET"),
        ("arn:aws:s3:::failed-*", "wildcard"),
    ],
)
def test_a_bad_bucket_arn_is_refused_by_the_option(project: Path, bad: str, fragment: str) -> None:
    result = run("iam-policy", "--function-name", "fn", "--on-failure", bad)
    assert result.exit_code == 2  # click's usage error, before any AWS call
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "--on-failure" in error and fragment in error, error


def test_deploy_wires_an_s3_destination(deployed: Account) -> None:
    dry = run_json("deploy", "--function-name", "fn", "--on-failure", BUCKET, "--dry-run")
    assert any(BUCKET in step for step in dry["steps"]), dry["steps"]
    run_json("deploy", "--function-name", "fn", "--on-failure", BUCKET)
    (mapping,) = deployed.mappings()
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == BUCKET
    assert f"on failure -> {BUCKET}" in run("status", "--function-name", "fn").stdout
    again = run_json("deploy", "--function-name", "fn", "--on-failure", BUCKET)
    assert again["steps"] == [] and not again["changed"]
