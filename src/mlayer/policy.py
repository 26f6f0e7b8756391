"""Where predictions go (``--sink``) and the least-privilege role policy (pure, no I/O).

A sink is written ``log`` (the function's log, one JSON line per batch; the
default), ``dynamodb:TABLE`` or ``kinesis:STREAM`` (an ARN of either works too).
The handler receives it as ``MLAYER_SINK`` in the normalised ``kind:name`` form
(see handler/mlayer_sinks.py); the table or stream is in the function's region.

``role_policy`` is what ``mlayer iam-policy`` prints and ``deploy --create-role``
attaches: the function's own log group, read access to exactly its trigger
streams, write access to exactly its sink and failure destination, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlayer.errors import UsageError
from mlayer.validate import check_resource_name

SINK_KINDS = ("log", "dynamodb", "kinesis")
# The name of the inline policy ``deploy --create-role`` puts on the role it manages.
ROLE_POLICY_NAME = "mlayer-least-privilege"

# The managed policies AWSLambdaKinesisExecutionRole / AWSLambdaDynamoDBExecutionRole
# grant these on "*"; here they are scoped to the one stream.
KINESIS_READ = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:ListStreams",
]
DYNAMODB_STREAM_READ = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
]

LAMBDA_TRUST_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class SinkSpec:
    kind: str  # one of SINK_KINDS
    name: str = ""  # table or stream name; empty for the log

    @property
    def env(self) -> str:
        """The ``MLAYER_SINK`` value the handler reads (``contract.SINK_ENV``)."""
        return self.kind if self.kind == "log" else f"{self.kind}:{self.name}"

    def arn(self, region: str, account: str) -> str:
        if self.kind == "dynamodb":
            return f"arn:aws:dynamodb:{region}:{account}:table/{self.name}"
        if self.kind == "kinesis":
            return f"arn:aws:kinesis:{region}:{account}:stream/{self.name}"
        raise ValueError("the log sink has no ARN")

    def describe(self) -> str:
        return "the function log" if self.kind == "log" else f"{self.kind} {self.name}"


def parse_sink(value: str) -> SinkSpec:
    """``log`` | ``dynamodb:TABLE`` | ``kinesis:STREAM`` | a table or stream ARN."""
    value = value.strip()
    if value == "log":
        return SinkSpec("log")
    spec = None
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) == 6 and parts[2] == "dynamodb" and parts[5].startswith("table/"):
            spec = SinkSpec("dynamodb", parts[5].split("/")[1])
        if len(parts) == 6 and parts[2] == "kinesis" and parts[5].startswith("stream/"):
            spec = SinkSpec("kinesis", parts[5].split("/")[1])
    else:
        kind, _, name = value.partition(":")
        if kind in SINK_KINDS and kind != "log" and name and "/" not in name:
            spec = SinkSpec(kind, name)
    if spec is not None:
        try:
            check_resource_name(spec.name)  # no wildcard reaches the role's policy
        except ValueError as exc:
            raise UsageError(f"--sink {value!r}: {spec.name!r} {exc}") from None
        return spec
    raise UsageError(
        f"--sink {value!r} is not a sink: use log, dynamodb:TABLE, kinesis:STREAM "
        "or the table's or stream's ARN"
    )


def source_kind(arn: str) -> str:
    """``kinesis`` or ``dynamodb`` for a trigger's source ARN."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service == "kinesis" and ":stream/" in arn:
        return "kinesis"
    if service == "dynamodb" and "/stream/" in arn:
        return "dynamodb"
    raise UsageError(
        f"{arn} is neither a Kinesis stream ARN nor a DynamoDB table stream ARN "
        "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)"
    )


def _statement(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def destination_grants(arn: str) -> list[tuple[str, list[str], list[str]]]:
    """What the role needs to send a failed batch to an on-failure destination, as
    (statement id, actions, resources).

    Lambda's documented needs (the "Retain discarded batch records" pages): SQS
    ``sqs:SendMessage`` and SNS ``sns:Publish`` on the queue or topic; S3
    ``s3:PutObject`` on the bucket's objects and ``s3:ListBucket`` on the bucket
    itself: two statements, since one would grant each action on both resources.
    """
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service == "sqs":
        return [("SendFailedBatches", ["sqs:SendMessage"], [arn])]
    if service == "sns":
        return [("SendFailedBatches", ["sns:Publish"], [arn])]
    if service == "s3":
        return [
            ("SendFailedBatches", ["s3:PutObject"], [f"{arn}/*"]),
            ("ListFailedBatchBucket", ["s3:ListBucket"], [arn]),
        ]
    raise UsageError(f"--on-failure {arn} is not an SQS queue, SNS topic or S3 bucket ARN")


def destination_actions(arn: str) -> list[str]:
    """Every action the role needs on an on-failure destination (refuses any other ARN)."""
    return [action for _, actions, _ in destination_grants(arn) for action in actions]


def role_policy(
    *,
    function_name: str,
    region: str,
    account: str,
    sources: Sequence[str],
    sink: SinkSpec,
    on_failure: str | None = None,
) -> dict[str, Any]:
    """The minimal inline policy for the function's execution role.

    Every resource is exactly one: a wildcard ARN, which would grant the role every
    stream or queue it matches, is refused (``iam-policy`` and ``deploy
    --create-role`` both build the policy here).
    """
    for arn in [*sources, *([on_failure] if on_failure else [])]:
        if "*" in arn or "?" in arn:
            raise UsageError(f"{arn} has a wildcard: name exactly one stream, queue or topic")
    log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function_name}"
    statements = [
        _statement("CreateLogGroup", ["logs:CreateLogGroup"], [log_group]),
        _statement("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
    ]
    kinesis = sorted(a for a in sources if source_kind(a) == "kinesis")
    tables = sorted(a for a in sources if source_kind(a) == "dynamodb")
    if kinesis:
        statements.append(_statement("ReadKinesisTrigger", KINESIS_READ, kinesis))
    if tables:
        statements.append(_statement("ReadTableStreamTrigger", DYNAMODB_STREAM_READ, tables))
    if sink.kind == "dynamodb":
        statements.append(
            _statement(
                "WriteSinkTable",
                ["dynamodb:BatchWriteItem", "dynamodb:PutItem"],
                [sink.arn(region, account)],
            )
        )
    elif sink.kind == "kinesis":
        statements.append(
            _statement(
                "WriteSinkStream",
                ["kinesis:PutRecord", "kinesis:PutRecords"],
                [sink.arn(region, account)],
            )
        )
    if on_failure:
        for sid, actions, resources in destination_grants(on_failure):
            statements.append(_statement(sid, actions, resources))
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2, sort_keys=False)
