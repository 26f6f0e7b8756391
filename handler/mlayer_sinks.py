"""Where the predictions of a batch go. Stdlib, plus boto3 (which Lambda provides).

``MLAYER_SINK`` (set by ``mlayer deploy --sink``; parsed in mlayer/policy.py):

* ``log`` (default): one JSON line per batch on stdout, i.e. the function's log.
* ``dynamodb:TABLE``: one item per record, keyed by the record id (attribute
  ``id``, a string), so a retried record overwrites instead of duplicating.
* ``kinesis:STREAM``: one record per prediction, partitioned by the record id.

Every sink returns the ids it could not write; the handler reports them in
``batchItemFailures`` so Lambda retries them: nothing is lost silently.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

# Service limits per call: BatchWriteItem takes 25 items, PutRecords 500 records.
DYNAMODB_BATCH = 25
KINESIS_BATCH = 500
ATTEMPTS = 3  # per chunk, for items the service left unprocessed (throttling)
KEY_ATTRIBUTE = "id"  # mlayer/contract.py SINK_KEY; tests/test_contract.py ties them


class Sink(Protocol):
    def write(self, rows: list[dict[str, Any]], source: str) -> list[str]:
        """Write ``rows`` ({"id", "prediction"}); return the ids that were not written."""


def _log_error(sink: str, ids: list[str], exc: BaseException) -> None:
    print(
        json.dumps(
            {
                "mlayer": "sink-error",
                "sink": sink,
                "error": f"{type(exc).__name__}: {exc}",
                "ids": ids,
            },
            separators=(",", ":"),
        ),
        file=sys.stderr,
    )


class LogSink:
    def __init__(self, model: dict[str, str]) -> None:
        self.model = model

    def write(self, rows: list[dict[str, Any]], source: str) -> list[str]:
        line = {
            "mlayer": "predictions",
            "source": source,
            **self.model,
            "count": len(rows),
            "predictions": rows,
        }
        print(json.dumps(line, separators=(",", ":"), default=str), flush=True)
        return []


def attribute(value: Any) -> dict[str, Any]:
    """A prediction as a DynamoDB attribute value (low-level client form)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float) and math.isfinite(value):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if value is None:
        return {"NULL": True}
    return {"S": json.dumps(value, default=str)}


class DynamoDBSink:
    def __init__(
        self,
        table: str,
        client: Any,
        model: dict[str, str],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table, self.client, self.model, self.sleep = table, client, model, sleep

    def _item(self, row: dict[str, Any], source: str, now: str) -> dict[str, Any]:
        item = {
            KEY_ATTRIBUTE: {"S": row["id"]},
            "prediction": attribute(row["prediction"]),
            "source": {"S": source},
            "predicted_at": {"S": now},
        }
        item.update({key: {"S": value} for key, value in self.model.items() if value})
        return item

    def write(self, rows: list[dict[str, Any]], source: str) -> list[str]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        failed: list[str] = []
        for start in range(0, len(rows), DYNAMODB_BATCH):
            chunk = rows[start : start + DYNAMODB_BATCH]
            pending = [{"PutRequest": {"Item": self._item(r, source, now)}} for r in chunk]
            try:
                for attempt in range(ATTEMPTS):
                    reply = self.client.batch_write_item(RequestItems={self.table: pending})
                    pending = reply.get("UnprocessedItems", {}).get(self.table, [])
                    if not pending:
                        break
                    self.sleep(0.05 * 2**attempt)
            except Exception as exc:  # botocore's ClientError/BotoCoreError: the chunk failed
                ids = [r["id"] for r in chunk]
                _log_error(f"dynamodb:{self.table}", ids, exc)
                failed += ids
                continue
            failed += [p["PutRequest"]["Item"][KEY_ATTRIBUTE]["S"] for p in pending]
        return failed


class KinesisSink:
    def __init__(
        self,
        stream: str,
        client: Any,
        model: dict[str, str],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stream, self.client, self.model, self.sleep = stream, client, model, sleep

    def write(self, rows: list[dict[str, Any]], source: str) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(rows), KINESIS_BATCH):
            pending = rows[start : start + KINESIS_BATCH]
            try:
                for attempt in range(ATTEMPTS):
                    reply = self.client.put_records(
                        StreamName=self.stream,
                        Records=[
                            {
                                "Data": json.dumps(
                                    {**r, "source": source, **self.model}, default=str
                                ).encode(),
                                "PartitionKey": r["id"][:256] or "-",
                            }
                            for r in pending
                        ],
                    )
                    # Results come back in request order; failed ones carry an ErrorCode.
                    pending = [
                        r
                        for r, result in zip(pending, reply["Records"], strict=True)
                        if result.get("ErrorCode")
                    ]
                    if not pending:
                        break
                    self.sleep(0.05 * 2**attempt)
            except Exception as exc:  # botocore's ClientError/BotoCoreError: the chunk failed
                ids = [r["id"] for r in pending]
                _log_error(f"kinesis:{self.stream}", ids, exc)
                failed += ids
                continue
            failed += [r["id"] for r in pending]
        return failed


def make_sink(spec: str, model: dict[str, str], client: Any = None) -> Sink:
    """The sink ``MLAYER_SINK`` names; ``client`` replaces the boto3 client (tests)."""
    kind, _, name = spec.partition(":")
    if kind == "log" and not name:
        return LogSink(model)
    if kind in ("dynamodb", "kinesis") and name:
        if client is None:
            import boto3  # provided by the Lambda runtime; only needed for these sinks

            client = boto3.client(kind)  # type: ignore[call-overload]
        if kind == "dynamodb":
            return DynamoDBSink(name, client, model)
        return KinesisSink(name, client, model)
    raise ValueError(
        f"MLAYER_SINK={spec!r} is not a sink: use log, dynamodb:TABLE or kinesis:STREAM "
        "(mlayer deploy --sink sets it)"
    )
