"""Decoding the event shapes, in-process (a narrow unit: no model is loaded)."""

from __future__ import annotations

import base64
import json
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "handler"))
from mlayer_batch import predict_records
from mlayer_events import EventError, Record, decode_event
from mlayer_sinks import DynamoDBSink, KinesisSink, attribute


def kinesis(seq: str, payload: object) -> dict:  # type: ignore[type-arg]
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "eventSource": "aws:kinesis",
        "kinesis": {"sequenceNumber": seq, "data": base64.b64encode(data).decode()},
    }


def test_kinesis_malformed_records_are_reported_by_sequence_number() -> None:
    batch = decode_event(
        {
            "Records": [
                kinesis("1", {"textblob": "a"}),
                kinesis("2", b"not json"),
                kinesis("3", {"other": "field"}),
                kinesis("4", {"textblob": 7}),  # not a string: the vectoriser would fail the batch
                {"eventSource": "aws:kinesis", "kinesis": {"sequenceNumber": "5", "data": "%%%"}},
                kinesis("6", {"textblob": "b"}),
            ]
        },
        "textblob",
        False,
    )
    assert [(r.id, r.text) for r in batch.records] == [("1", "a"), ("6", "b")]
    assert [rid for _, rid in batch.failed] == ["2", "3", "4", "5"]
    assert batch.source == "kinesis"


def deeply_nested(depth: int) -> bytes:
    """A 2 kB record whose JSON nests past the interpreter's recursion limit."""
    return b'{"textblob": ' + b"[" * depth + b"]" * depth + b"}"


def test_poison_records_fail_alone_whatever_their_shape() -> None:
    """Each of these once raised out of decode_event and failed the whole batch,
    which a stream trigger retries until the records expire, blocking the shard."""
    batch = decode_event(
        {
            "Records": [
                kinesis("1", {"textblob": "a"}),
                kinesis("2", deeply_nested(1_100)),  # RecursionError in json.loads
                {"eventSource": "aws:kinesis", "kinesis": "not an object"},
                {"eventSource": ["aws:kinesis"], "kinesis": {"sequenceNumber": "4"}},
                {"eventSource": "aws:kinesis", "kinesis": {"sequenceNumber": "5", "data": 7}},
                {"eventSource": "aws:dynamodb", "dynamodb": ["x"], "eventID": "6"},
                "not a record",
                kinesis("8", {"textblob": "b"}),
            ]
        },
        "textblob",
        False,
    )
    assert [(r.id, r.text) for r in batch.records] == [("1", "a"), ("8", "b")]
    assert batch.failed == [(1, "2"), (2, ""), (3, "4"), (4, "5"), (5, "6"), (6, "")]


def test_a_record_the_model_cannot_predict_is_reported_alone() -> None:
    def predict(texts: list[str]) -> list[str]:
        if "poison" in texts:
            raise ValueError("cannot vectorise")
        return [t.upper() for t in texts]

    records = [Record("a", "x", 0), Record("b", "poison", 1), Record("c", "y", 2)]
    predicted, failed = predict_records(predict, records)
    assert [(r.id, value) for r, value in predicted] == [("a", "X"), ("c", "Y")]
    assert failed == [(1, "b")]


def test_a_model_that_fails_on_every_record_fails_the_batch() -> None:
    def predict(texts: list[str]) -> list[str]:
        raise RuntimeError("the model is broken")

    with pytest.raises(RuntimeError, match="the model is broken"):
        predict_records(predict, [Record("a", "x", 0), Record("b", "y", 1)])


def test_text_is_json_decodes_the_seed_format() -> None:
    batch = decode_event(
        {
            "Records": [
                kinesis("1", {"textblob": json.dumps("hello")}),
                kinesis("2", {"textblob": "not json"}),
            ]
        },
        "textblob",
        True,
    )
    assert [r.text for r in batch.records] == ["hello"]
    assert [rid for _, rid in batch.failed] == ["2"]


def test_dynamodb_insert_modify_remove(tmp_path: object) -> None:
    from test_handler_lifecycle import event

    batch = decode_event(event("dynamodb.json"), "textblob", False)
    assert batch.source == "dynamodb"
    assert [r.text for r in batch.records] == [
        "terrible, faulty and late",
        "perfect, happy, would recommend",
        "disappointed, broken box, refund",
    ]
    assert batch.skipped == ["111000000000000000002"]
    assert batch.failed == [(3, "111000000000000000003")]


@pytest.mark.parametrize("bad", [[], "x", {"Records": "nope"}, {"body": "x"}])
def test_unknown_shapes_raise(bad: object) -> None:
    with pytest.raises(EventError):
        decode_event(bad, "textblob", False)


def test_dynamodb_attribute_values() -> None:
    assert attribute("positive") == {"S": "positive"}
    assert attribute(1) == {"N": "1"}
    assert attribute(0.25) == {"N": "0.25"}
    assert attribute(True) == {"BOOL": True}
    assert attribute(float("nan")) == {"S": "NaN"}


class FlakyTable:
    """Leaves item b unprocessed for some calls, as DynamoDB does under throttling."""

    def __init__(self, unprocessed_rounds: int) -> None:
        self.rounds = unprocessed_rounds
        self.written: list[str] = []

    def batch_write_item(self, RequestItems: dict) -> dict:  # type: ignore[type-arg]
        (requests,) = RequestItems.values()
        left = []
        for request in requests:
            key = request["PutRequest"]["Item"]["id"]["S"]
            if key == "b" and self.rounds:
                left.append(request)
            else:
                self.written.append(key)
        self.rounds = max(0, self.rounds - 1)
        return {"UnprocessedItems": {"t": left} if left else {}}


def test_dynamodb_sink_retries_unprocessed_then_reports_what_is_left() -> None:
    rows = [{"id": "a", "prediction": "x"}, {"id": "b", "prediction": "y"}]
    table = FlakyTable(unprocessed_rounds=1)
    assert DynamoDBSink("t", table, {}, sleep=lambda _: None).write(rows, "kinesis") == []
    assert table.written == ["a", "b"]
    stuck = FlakyTable(unprocessed_rounds=99)
    assert DynamoDBSink("t", stuck, {}, sleep=lambda _: None).write(rows, "kinesis") == ["b"]


def test_kinesis_sink_reports_records_with_an_error_code() -> None:
    class Stream:
        def put_records(self, StreamName: str, Records: list) -> dict:  # type: ignore[type-arg]
            return {
                "Records": [
                    {"ErrorCode": "InternalFailure"}
                    if b'"b"' in r["Data"]
                    else {"SequenceNumber": "1"}
                    for r in Records
                ]
            }

    rows = [{"id": "a", "prediction": 1}, {"id": "b", "prediction": 2}]
    assert KinesisSink("s", Stream(), {}, sleep=lambda _: None).write(rows, "direct") == ["b"]
