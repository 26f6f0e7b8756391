"""Sinks against the moto server, read back: the handler runs in its own
interpreter and reaches moto through AWS_ENDPOINT_URL, as it reaches AWS."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import REGION, Account
from test_handler_lifecycle import HANDLER, event, expected_predictions, model_layer

sys.path.insert(0, str(Path(__file__).parent / "events"))
from lambda_child import run_handler


def aws_env(aws: Account, sink: str) -> dict[str, str]:
    return {
        "MLAYER_SINK": sink,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "HOME": os.environ.get("HOME", "/tmp"),
    }


def create_table(aws: Account, name: str = "predictions") -> None:
    aws.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def dynamodb_texts() -> list[str]:
    return [
        "terrible, faulty and late",
        "perfect, happy, would recommend",
        "disappointed, broken box, refund",
    ]


def test_dynamodb_stream_event_predictions_land_in_a_table(
    aws: Account, tmp_path: Path, model_v1: list[Path]
) -> None:
    create_table(aws)
    records = event("dynamodb.json")["Records"]
    seq = [r["dynamodb"]["SequenceNumber"] for r in records]
    run = run_handler(
        HANDLER,
        model_layer(model_v1, tmp_path),
        event("dynamodb.json"),
        aws_env(aws, "dynamodb:predictions"),
    )
    assert run.error is None, run.error
    # INSERT and MODIFY predicted, REMOVE skipped, the numeric text attribute failed.
    assert run.result["batchItemFailures"] == [{"itemIdentifier": seq[3]}]
    values = expected_predictions(model_v1, dynamodb_texts())
    assert [p["id"] for p in run.result["predictions"]] == [seq[0], seq[1], seq[4]]
    items = aws.client("dynamodb").scan(TableName="predictions")["Items"]
    stored = {item["id"]["S"]: item for item in items}
    assert sorted(stored) == sorted([seq[0], seq[1], seq[4]])
    for record_id, value in zip([seq[0], seq[1], seq[4]], values, strict=True):
        assert stored[record_id]["prediction"] == {"S": value}
        assert stored[record_id]["source"] == {"S": "dynamodb"}
        assert stored[record_id]["label"] == {"S": "v1"}
    print("dynamodb sink:", json.dumps(run.result))


def test_kinesis_event_predictions_land_in_a_stream_in_order(
    aws: Account, tmp_path: Path, model_v1: list[Path]
) -> None:
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="predictions", ShardCount=1)
    records = event("kinesis.json")["Records"]
    seq = [r["kinesis"]["sequenceNumber"] for r in records]
    run = run_handler(
        HANDLER,
        model_layer(model_v1, tmp_path),
        event("kinesis.json"),
        aws_env(aws, "kinesis:predictions"),
    )
    assert run.error is None, run.error
    assert run.result["batchItemFailures"] == [{"itemIdentifier": seq[2]}]
    shard = kinesis.list_shards(StreamName="predictions")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="predictions", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    written = [
        json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]
    ]
    texts = [
        "great product, love it, fast delivery",
        "broken and slow, I want a refund",
        "excellent and reliable, recommend",
    ]
    assert [(w["id"], w["prediction"]) for w in written] == list(
        zip([seq[0], seq[1], seq[3]], expected_predictions(model_v1, texts), strict=True)
    )
    print("kinesis sink:", json.dumps(run.result))


def test_a_failed_sink_write_reports_every_record_for_retry(
    aws: Account, tmp_path: Path, model_v1: list[Path]
) -> None:
    """The table is gone: nothing is lost silently, every decoded record is retried."""
    records = event("dynamodb.json")["Records"]
    seq = [r["dynamodb"]["SequenceNumber"] for r in records]
    run = run_handler(
        HANDLER,
        model_layer(model_v1, tmp_path),
        event("dynamodb.json"),
        aws_env(aws, "dynamodb:missing-table"),
    )
    assert run.error is None, run.error
    assert run.result["predictions"] == []
    assert run.result["batchItemFailures"] == [
        {"itemIdentifier": seq[i]}
        for i in (0, 1, 3, 4)  # record order, REMOVE not retried
    ]
