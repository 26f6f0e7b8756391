"""Create what a real account already has before mlayer runs: the function's
execution role, the Kinesis stream and the S3 bucket for large layers.

Only for the demo's local endpoint; reads the names from mlayer.toml.
"""

from __future__ import annotations

import json
import tomllib

import boto3

ASSUME_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def main() -> None:
    with open("mlayer.toml", "rb") as handle:
        settings = tomllib.load(handle)
    region = settings["region"]
    boto3.client("iam", region_name=region).create_role(
        RoleName=settings["role"].rsplit("/", 1)[1],
        AssumeRolePolicyDocument=json.dumps(ASSUME_LAMBDA),
    )
    boto3.client("kinesis", region_name=region).create_stream(
        StreamName=settings["stream-arn"].rsplit("/", 1)[1], ShardCount=1
    )
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=settings["bucket"], CreateBucketConfiguration={"LocationConstraint": region}
    )
    print(f"created role, stream and bucket in {region}")


if __name__ == "__main__":
    main()
