"""Write a Kinesis event as Lambda delivers it, one record per line of text.

    python make_event.py texts.txt > event.json

Each record's data is base64 of ``{"textblob": "<text>"}``; ``--bad`` appends
one record that is not valid JSON, to show ``batchItemFailures``.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys


def kinesis_record(sequence: int, data: bytes) -> dict[str, object]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "reviews",
            "sequenceNumber": f"4959{sequence:052d}",
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:4959{sequence:052d}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/MyModelInference_role",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/reviews",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("texts", type=argparse.FileType())
    parser.add_argument("--bad", action="store_true", help="append one undecodable record")
    args = parser.parse_args()
    lines = [line.strip() for line in args.texts if line.strip()]
    records = [kinesis_record(i, json.dumps({"textblob": t}).encode()) for i, t in enumerate(lines)]
    if args.bad:
        records.append(kinesis_record(len(records), b"{not json"))
    json.dump({"Records": records}, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
