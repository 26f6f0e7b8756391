"""What Lambda delivers -> (id, text) records, in the order they came. Stdlib only.

Three shapes are understood:

* Kinesis (``eventSource`` ``aws:kinesis``): ``kinesis.data`` is base64 of a JSON
  object whose ``MLAYER_TEXT_FIELD`` holds the text; the id is the record's
  ``sequenceNumber`` (what ``batchItemFailures`` must name).
* DynamoDB Streams (``aws:dynamodb``): the text is the string attribute
  ``MLAYER_TEXT_FIELD`` of ``NewImage`` (``{"S": "..."}``); ``REMOVE`` events have
  no new image and are skipped; the id is ``dynamodb.SequenceNumber``.
* A direct invocation (Step Functions, ``aws lambda invoke``):
  ``{"texts": ["...", ...]}`` (ids are the positions ``"0"``, ``"1"``, ...) or
  ``{"records": [{"id": "...", "<text field>" or "text": "..."}, ...]}``.

A record that cannot be decoded for any reason (not base64, not JSON, JSON
nested past the interpreter's recursion limit, a field of the wrong shape, a
text that is not a string) is reported as failed by its id instead of failing
the whole batch: with a stream trigger, a failed batch is retried and blocks its
shard, so one poison record must never fail the others.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

DYNAMODB = "aws:dynamodb"


class EventError(ValueError):
    """The event is none of the shapes above; nothing in it can be attributed to a record."""


class Record(NamedTuple):
    # A NamedTuple, not a frozen dataclass: one is built per record on the hot
    # path, and a tuple is several times cheaper to create.
    id: str
    text: str
    position: int  # index in the event, to keep the output in the input's order


@dataclass
class Batch:
    source: str  # "kinesis", "dynamodb", "direct"
    records: list[Record] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (position, id)
    skipped: list[str] = field(default_factory=list)  # ids of REMOVE events


class _Malformed(Exception):
    pass


def _field(value: Any, key: str) -> Any:
    """``value[key]`` when ``value`` is a JSON object, else None: a record's parts
    may have any shape, and reading its id must never raise."""
    return value.get(key) if isinstance(value, dict) else None


def _text(value: Any, text_is_json: bool) -> str:
    if text_is_json:
        try:
            value = json.loads(value)
        except (TypeError, ValueError) as exc:
            raise _Malformed from exc
    if not isinstance(value, str):
        raise _Malformed
    return value


def _kinesis_text(record: dict[str, Any], text_field: str, text_is_json: bool) -> str:
    try:
        payload = json.loads(base64.b64decode(record["kinesis"]["data"], validate=True))
        return _text(payload[text_field], text_is_json)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise _Malformed from exc


def _dynamodb_text(record: dict[str, Any], text_field: str, text_is_json: bool) -> str:
    try:
        attribute = record["dynamodb"]["NewImage"][text_field]
        return _text(attribute["S"], text_is_json)
    except (KeyError, TypeError) as exc:
        raise _Malformed from exc


def _record_id(record: dict[str, Any]) -> str:
    """The id Lambda expects back in ``batchItemFailures``; "" if there is none."""
    if record.get("eventSource") == DYNAMODB:
        value = _field(record.get("dynamodb"), "SequenceNumber")
    else:
        value = _field(record.get("kinesis"), "sequenceNumber")
    value = value or record.get("eventID")
    return value if isinstance(value, str) else ""


def decode_event(event: Any, text_field: str, text_is_json: bool) -> Batch:
    """Decode every record of ``event``; raises ``EventError`` for an unknown shape."""
    if not isinstance(event, dict):
        raise EventError("the event is not a JSON object")
    if isinstance(event.get("Records"), list):
        return _decode_stream(event["Records"], text_field, text_is_json)
    if isinstance(event.get("texts"), list):
        return _decode_direct(
            [{"id": str(i), "text": t} for i, t in enumerate(event["texts"])], "text", False
        )
    if isinstance(event.get("records"), list):
        return _decode_direct(event["records"], text_field, text_is_json)
    raise EventError(
        "the event has no Records (Kinesis, DynamoDB Streams), texts or records "
        '(direct invocation: {"texts": ["..."]} or {"records": [{"id": "...", "text": "..."}]})'
    )


def _decode_stream(records: list[Any], text_field: str, text_is_json: bool) -> Batch:
    sources = {str(_field(r, "eventSource")) for r in records}
    batch = Batch("dynamodb" if sources == {DYNAMODB} else "kinesis")
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            batch.failed.append((position, ""))
            continue
        record_id = _record_id(record)
        try:
            if record.get("eventSource") == DYNAMODB:
                if record.get("eventName") == "REMOVE":
                    batch.skipped.append(record_id)
                    continue
                text = _dynamodb_text(record, text_field, text_is_json)
            else:
                text = _kinesis_text(record, text_field, text_is_json)
        except Exception:  # RecursionError, wrong shapes: this record alone fails
            batch.failed.append((position, record_id))
            continue
        batch.records.append(Record(record_id, text, position))
    return batch


def _decode_direct(records: list[Any], text_field: str, text_is_json: bool) -> Batch:
    batch = Batch("direct")
    for position, record in enumerate(records):
        record_id = str(position)
        try:
            if not isinstance(record, dict):
                raise _Malformed
            record_id = str(record.get("id", position))
            if text_field in record:
                text = _text(record[text_field], text_is_json)
            elif "text" in record:
                text = _text(record["text"], False)
            else:
                raise _Malformed
        except Exception:  # whatever is wrong, it is this record's alone
            batch.failed.append((position, record_id))
            continue
        batch.records.append(Record(record_id, text, position))
    return batch
