"""Kinesis streams and DynamoDB tables and streams: read-only checks that they exist."""

from __future__ import annotations

from mlayer.aws._client import AwsClient
from mlayer.errors import NotFound


class StreamCalls(AwsClient):
    def stream_exists(self, stream_arn: str) -> bool:
        """Whether the Kinesis stream ``stream_arn`` exists (read-only check)."""
        try:
            with self._translate(f"stream {stream_arn}"):
                self._kinesis.describe_stream_summary(StreamARN=stream_arn)
        except NotFound:
            return False
        return True

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
