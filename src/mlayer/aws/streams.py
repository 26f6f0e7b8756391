"""Kinesis streams and DynamoDB tables and streams: read-only checks that they
exist, and the newest records of a Kinesis stream (for ``mlayer compare``)."""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlayer.aws._client import AwsClient
from mlayer.errors import NotFound

# GetRecords' largest page.
RECORDS_PER_CALL = 10_000
# newest_records reads the last FIRST_WINDOW of each shard first, then WIDEN
# times as far back each time, until it has enough records or reads it all.
FIRST_WINDOW = timedelta(minutes=5)
WIDEN = 8


@dataclass(frozen=True)
class StreamRecord:
    """A Kinesis record as GetRecords returns it (``data`` already base64-decoded)."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrived: datetime

    @property
    def order(self) -> tuple[float, int]:
        # Sequence numbers grow within a shard only; across shards the arrival
        # time is the only order there is.
        return self.arrived.timestamp(), int(self.sequence_number)


class StreamCalls(AwsClient):
    def stream_exists(self, stream_arn: str) -> bool:
        """Whether the Kinesis stream ``stream_arn`` exists (read-only check)."""
        try:
            with self._translate(f"stream {stream_arn}"):
                self._kinesis.describe_stream_summary(StreamARN=stream_arn)
        except NotFound:
            return False
        return True

    def newest_records(
        self, stream_arn: str, count: int, *, now: datetime | None = None
    ) -> list[StreamRecord]:
        """The newest ``count`` records of the Kinesis stream, oldest first; read-only.

        Kinesis has no "last K" iterator. Every shard (closed ones too: they hold
        records until the retention ends) is read from a start time to its tip
        with GetShardIterator (AT_TIMESTAMP) and GetRecords, keeping its newest
        ``count``. When the shards hold ``count`` records since that time, the
        newest ``count`` of them are the stream's (every other record arrived
        earlier); else the window widens, up to the whole retention
        (TRIM_HORIZON). So a busy stream is not read back a whole day for a few
        records. Nothing is written and no consumer is registered: the function's
        trigger is untouched.
        """
        shards = self._shard_ids(stream_arn)
        retention = self._retention(stream_arn)
        now = now or datetime.now(UTC)
        window = FIRST_WINDOW
        while True:
            since = None if window >= retention else now - window
            newest: list[StreamRecord] = []
            for shard_id in shards:
                newest = heapq.nlargest(
                    count,
                    [*newest, *self._newest_of_shard(stream_arn, shard_id, count, since)],
                    key=lambda record: record.order,
                )
            if len(newest) >= count or since is None:
                return sorted(newest, key=lambda record: record.order)
            window *= WIDEN

    def _retention(self, stream_arn: str) -> timedelta:
        with self._translate(f"stream {stream_arn}"):
            summary = self._kinesis.describe_stream_summary(StreamARN=stream_arn)
        return timedelta(hours=summary["StreamDescriptionSummary"]["RetentionPeriodHours"])

    def _shard_ids(self, stream_arn: str) -> list[str]:
        shards: list[str] = []
        token: str | None = None
        with self._translate(f"stream {stream_arn}"):
            while True:
                reply = (
                    self._kinesis.list_shards(NextToken=token)
                    if token
                    else self._kinesis.list_shards(StreamARN=stream_arn)
                )
                shards += [shard["ShardId"] for shard in reply.get("Shards", [])]
                token = reply.get("NextToken")
                if not token:
                    return shards

    def _newest_of_shard(
        self, stream_arn: str, shard_id: str, count: int, since: datetime | None
    ) -> list[StreamRecord]:
        """The shard's newest ``count`` records since ``since`` (None: all it holds)."""
        kept: deque[StreamRecord] = deque(maxlen=count)
        start: dict[str, Any] = (
            {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": since}
            if since
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        with self._translate(f"shard {shard_id} of stream {stream_arn}"):
            iterator: str | None = self._kinesis.get_shard_iterator(
                StreamARN=stream_arn, ShardId=shard_id, **start
            )["ShardIterator"]
            while iterator:
                reply = self._kinesis.get_records(
                    StreamARN=stream_arn, ShardIterator=iterator, Limit=RECORDS_PER_CALL
                )
                kept.extend(_stream_record(shard_id, item) for item in reply.get("Records", []))
                # MillisBehindLatest 0: caught up with the tip, so a shard that is
                # written to all the while still ends. An empty page while behind
                # is normal (a sparse stretch of the shard) and is read on.
                caught_up = reply.get("MillisBehindLatest", 0) == 0
                iterator = None if caught_up else reply.get("NextShardIterator")  # None: closed
        return list(kept)

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


def _stream_record(shard_id: str, item: dict[str, Any]) -> StreamRecord:
    return StreamRecord(
        shard_id=shard_id,
        sequence_number=item["SequenceNumber"],
        partition_key=item.get("PartitionKey", ""),
        data=item["Data"],
        arrived=item["ApproximateArrivalTimestamp"],
    )
